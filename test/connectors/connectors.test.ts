import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { openConnector, parseHostPort } from "../../components/connectors";
import { destroyAll, LOCAL_ROOT_PASSWORD, LOCAL_ROOT_USER, LocalServer, sleep, startServers } from "../../local/mariadbd";
import { ApiServerStandin } from "./apiserver-standin";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "../..");

/** Runs query-members.ts in a plain Node process (ts-node), like the dynamic provider host would. */
async function queryMembers(spec: unknown, count: number) {
  const { stdout } = await run(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", path.join(__dirname, "query-members.ts"), JSON.stringify({ spec, count, user: LOCAL_ROOT_USER, password: LOCAL_ROOT_PASSWORD })],
    { cwd: ROOT, timeout: 60000 },
  );
  return JSON.parse(stdout) as { members: Array<{ host: string; replicationHost?: string; replicationPort?: number }>; problems: string[]; results: Array<{ ordinal: number; serverIds?: number[]; error?: string }> };
}

describe("connectors", () => {
  let servers: LocalServer[] = [];
  let standin: ApiServerStandin | undefined;
  afterEach(async () => {
    await standin?.stop();
    standin = undefined;
    await destroyAll(servers);
    servers = [];
  });

  test("direct connector parses host:port per member and names the bad member", async () => {
    expect(parseHostPort("[::1]:3307", "m")).toEqual({ host: "::1", port: 3307 });
    const open = await openConnector({ kind: "direct", members: ["127.0.0.1:3306", "db-1:3307"] }, 2);
    expect(open.members).toEqual([{ host: "127.0.0.1", port: 3306 }, { host: "db-1", port: 3307 }]);
    await open.close();
    await expect(openConnector({ kind: "direct", members: ["127.0.0.1:3306", "db-1"] }, 2)).rejects.toThrow(/connector.members\[1\]: "db-1" is not host:port/);
    await expect(openConnector({ kind: "direct", members: ["127.0.0.1:3306"] }, 3)).rejects.toThrow(/3 members needed, 1 given/);
  });

  test("kubernetes connector reaches every pod through the port-forward WebSocket protocol and closes its tunnels", async () => {
    servers = await startServers(2, {}, 700);
    standin = await ApiServerStandin.start("db", "t0ken");
    servers.forEach((s, i) => standin!.pods.set(`mysql-${i}`, { host: s.host, port: s.port }));
    const spec = { kind: "kubernetes", namespace: "db", statefulSet: "mysql", port: 3306, kubeconfig: standin.kubeconfig() };

    const out = await queryMembers(spec, 2);

    // The engine connects over loopback; the members replicate from each other by pod DNS name.
    expect(out.members.map((m) => m.host)).toEqual(["127.0.0.1", "127.0.0.1"]);
    expect(out.members.map((m) => `${m.replicationHost}:${m.replicationPort}`)).toEqual([
      "mysql-0.mysql.db.svc.cluster.local:3306",
      "mysql-1.mysql.db.svc.cluster.local:3306",
    ]);
    expect(out.results).toEqual([
      { ordinal: 0, serverIds: [700, 700] },
      { ordinal: 1, serverIds: [701, 701] },
    ]);
    // One WebSocket per TCP connection, to the pod's database port, negotiated as v4.channel.k8s.io.
    expect(standin.sessions).toEqual(["db/mysql-0:3306", "db/mysql-0:3306", "db/mysql-1:3306", "db/mysql-1:3306"]);
    expect(new Set(standin.protocols)).toEqual(new Set(["v4.channel.k8s.io"]));
    for (let i = 0; i < 50 && standin.openSessions > 0; i++) await sleep(20);
    expect(standin.openSessions).toBe(0);
  });

  test("kubernetes connector reports a missing pod or a dead database as an unreachable member", async () => {
    servers = await startServers(2, {}, 710);
    standin = await ApiServerStandin.start("db", "t0ken");
    servers.forEach((s, i) => standin!.pods.set(`mysql-${i}`, { host: s.host, port: s.port }));
    await servers[1].signal("SIGKILL");
    const spec = { kind: "kubernetes", namespace: "db", statefulSet: "mysql", kubeconfig: standin.kubeconfig() };

    const out = await queryMembers(spec, 3);

    expect(out.results[0]).toEqual({ ordinal: 0, serverIds: [710, 710] });
    expect(out.results[1].error).toBeDefined(); // pod exists, database refuses: error channel, then closed
    expect(out.results[2].error).toBeDefined(); // no pod mysql-2: the upgrade is refused with 404
    expect(standin.sessions.filter((s) => s.startsWith("db/mysql-2"))).toEqual([]);
    // The reasons are kept for the provider's error messages.
    expect(out.problems.some((p) => p.startsWith("mysql-1: error forwarding port 3306"))).toBe(true);
    expect(out.problems.some((p) => p.startsWith("mysql-2: "))).toBe(true);
  });
});
