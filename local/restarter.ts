/**
 * Local member restarts for the tests: the members are local mariadbd processes (local/mariadbd.ts), and
 * "the new revision" is a set of server options. Restarting member N stops its server cleanly and starts it again
 * with the desired options; a member is current when it runs with options whose restart-relevant part
 * (restartConfigHash) equals the desired one, so a change to live options alone restarts nobody.
 */
import { MemberRestarter, MemberRestartError, MemberRevision } from "../components/upgrade/restarter";
import { restartConfigHash } from "../components/server-options";
import type { LocalServer, ServerOptions } from "./mariadbd";

export class LocalRestarter implements MemberRestarter {
  readonly description = "local mariadbd members";

  /** `servers[ordinal]` is member `ordinal`; `desired` is the full option set every member should run with. */
  constructor(
    private readonly servers: LocalServer[],
    private readonly desired: ServerOptions,
  ) {}

  async revisions(ordinals: number[]): Promise<MemberRevision[]> {
    const target = restartConfigHash(this.desired);
    return ordinals.map((ordinal) => {
      const server = this.server(ordinal);
      const revision = restartConfigHash(server.spec.options ?? {});
      return { ordinal, revision, current: server.running && revision === target, ready: server.running };
    });
  }

  async restart(ordinal: number, deadline: number): Promise<void> {
    const server = this.server(ordinal);
    await server.stop();
    server.spec.options = { ...this.desired };
    try {
      await server.start(Math.max(1000, deadline - Date.now()));
    } catch (err) {
      throw new MemberRestartError(
        ordinal,
        `member ${ordinal} (${server.address}) did not start with the new settings: ${(err as Error).message}`,
      );
    }
  }

  private server(ordinal: number): LocalServer {
    const server = this.servers[ordinal];
    if (!server) throw new Error(`local restarter: no member ${ordinal} (members 0-${this.servers.length - 1})`);
    return server;
  }
}
