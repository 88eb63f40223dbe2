/**
 * inspect over connections kept from one inspection to the next (the failover agent's checks): reused while they
 * work, replaced when they broke while idle, never hiding a member that hangs, all closed when dropped.
 * Real MariaDB members.
 */
import { inspect, KeptConnections } from "../../components/replication";
import { LocalServer } from "../../local/mariadbd";
import { waitFor } from "../backup/support";
import { Lab, cleanup, startLab } from "./support";

/** Connections each server has accepted so far (the asking one included). */
async function accepted(servers: LocalServer[]): Promise<number[]> {
  return Promise.all(
    servers.map(async (s) => {
      const [row] = await s.query<{ Value: string }>("SHOW GLOBAL STATUS LIKE 'Connections'");
      return Number(row.Value);
    }),
  );
}

/** Sessions of the engine's admin account on a server, the asking one left out. */
async function adminSessions(server: LocalServer, user: string): Promise<number[]> {
  const rows = await server.query<{ id: number }>(
    "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()",
    [user],
  );
  return rows.map((r) => Number(r.id));
}

/**
 * The one admin session left on a server once the short-lived ones (the test's own queries, which quit without
 * waiting for the server) have ended: the kept connection's.
 */
async function keptSession(server: LocalServer, user: string): Promise<number> {
  let ids: number[] = [];
  await waitFor("one admin session", async () => (ids = await adminSessions(server, user)).length === 1, 5000, 50);
  return ids[0];
}

describe("inspect with connections kept between inspections", () => {
  let lab: Lab | undefined;
  let kept: KeptConnections | undefined;
  afterEach(async () => {
    await kept?.drop();
    await cleanup(lab);
  });

  it("reads every member over the connections of the inspection before: no new handshake", async () => {
    lab = await startLab(3, { setUp: true });
    kept = new KeptConnections();
    expect((await inspect(lab.members, lab.settings, kept)).healthy).toBe(true);
    const before = await accepted(lab.servers);
    const t = await inspect(lab.members, lab.settings, kept);
    const after = await accepted(lab.servers);
    expect(t.healthy).toBe(true);
    expect(t.primary).toBe(0);
    // Only the counting's own connection each; an inspection without kept connections opens one more.
    expect(after.map((n, i) => n - before[i])).toEqual([1, 1, 1]);
    await inspect(lab.members, lab.settings);
    const cold = await accepted(lab.servers);
    expect(cold.map((n, i) => n - after[i])).toEqual([2, 2, 2]);
  });

  it("a member restarted, or whose session was killed, since the last inspection is read over a new connection", async () => {
    lab = await startLab(3, { setUp: true });
    kept = new KeptConnections();
    await inspect(lab.members, lab.settings, kept);
    await lab.servers[1].stop();
    await lab.servers[1].start();
    const admin = lab.settings.admin.user;
    const killed = await keptSession(lab.servers[2], admin);
    await lab.servers[2].query("KILL CONNECTION ?", [killed]);
    const t = await inspect(lab.members, lab.settings, kept);
    expect(t.members.map((m) => [m.index, m.reachable, m.error])).toEqual([
      [0, true, undefined],
      [1, true, undefined],
      [2, true, undefined],
    ]);
    expect(await keptSession(lab.servers[2], admin)).not.toBe(killed);
  });

  it("a member that hangs is unreachable after the connect timeout, its connection cut, and read again once it answers", async () => {
    lab = await startLab(3, { setUp: true, settings: { connectTimeoutMs: 1000 } });
    kept = new KeptConnections();
    await inspect(lab.members, lab.settings, kept);
    await lab.servers[2].signal("SIGSTOP");
    try {
      const started = Date.now();
      const t = await inspect(lab.members, lab.settings, kept);
      const ms = Date.now() - started;
      expect(t.members[2].reachable).toBe(false);
      expect(t.members[2].error).toBe("no answer within 1000 ms");
      // One timeout, not a read's and then a new handshake's.
      expect(ms).toBeGreaterThanOrEqual(1000);
      expect(ms).toBeLessThan(1900);
      expect(t.members.slice(0, 2).every((m) => m.reachable)).toBe(true);
    } finally {
      await lab.servers[2].signal("SIGCONT");
    }
    const t = await inspect(lab.members, lab.settings, kept);
    expect(t.members[2].reachable).toBe(true);
    expect(t.healthy).toBe(true);
  });

  it("drop closes them, and an inspection still running when they are dropped closes its own when it ends", async () => {
    lab = await startLab(3, { setUp: true });
    kept = new KeptConnections();
    const admin = lab.settings.admin.user;
    await inspect(lab.members, lab.settings, kept);
    for (const s of lab.servers) await keptSession(s, admin);
    const running = inspect(lab.members, lab.settings, kept);
    await kept.drop();
    expect((await running).healthy).toBe(true);
    await waitFor(
      "every kept session to end",
      async () => (await Promise.all(lab!.servers.map((s) => adminSessions(s, admin)))).every((ids) => !ids.length),
      5000,
      50,
    );
    // The next inspection starts afresh and keeps its connections again.
    await inspect(lab.members, lab.settings, kept);
    for (const s of lab.servers) await keptSession(s, admin);
  });
});
