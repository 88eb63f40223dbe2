import { LOCAL_ROOT_PASSWORD } from "../../local/mariadbd";
import { attach, detach, inspect, plan, setup } from "../../components/replication";
import { localSeeder } from "../../local/backup";
import { Lab, cleanup, createAppSchema, ids, startLab, waitReplicated } from "./support";

describe("setup, attach and detach", () => {
  let lab: Lab | undefined;
  afterEach(async () => cleanup(lab));

  it("sets up 3 members so rows written on the primary reach both replicas, and is idempotent", async () => {
    lab = await startLab(3);
    const r = await setup(lab.members, 0, lab.settings);
    expect(r.primary).toBe(0);
    await createAppSchema(lab.servers[0]);
    await lab.servers[0].query("INSERT INTO app.w (id) VALUES (1), (2), (3)");
    await waitReplicated(lab);
    for (const s of lab.servers.slice(1)) expect([...(await ids(s))].sort()).toEqual([1, 2, 3]);

    const t = await inspect(lab.members, lab.settings);
    expect(t.healthy).toBe(true);
    expect(t.members.map((m) => m.role)).toEqual(["primary", "replica", "replica"]);
    expect(
      t.members.slice(1).every((m) => m.replica?.sourceIndex === 0 && m.readOnly === true && m.semiSync?.replicaActive),
    ).toBe(true);
    expect(t.members[0].semiSync?.primaryActive).toBe(true);
    // Least privilege: the replication account can stream binlogs and nothing else.
    const grants = await lab.servers[1].query<Record<string, string>>("SHOW GRANTS FOR 'repl'@'%'");
    expect(grants.map((g) => Object.values(g)[0]).join(" ")).toMatch(
      /^GRANT REPLICATION SLAVE ON \*\.\* TO `repl`@`%`/,
    );
    expect(plan(t, { members: 3, allowFailover: true })).toEqual({ steps: [], refusals: [] });
    const again = await setup(lab.members, 0, lab.settings);
    expect(again.noop).toBe(true);
    expect(JSON.stringify(lab.lines)).not.toContain(LOCAL_ROOT_PASSWORD);
  });

  it("discards local non-user history from a fresh member's own initialisation, but refuses a member holding user data", async () => {
    lab = await startLab(3);
    // Initialisation with the binlog on (an account created locally): errant, but not data.
    await lab.servers[1].query("CREATE USER 'monitor'@'%' IDENTIFIED BY 'x'");
    // A member that already holds a table: user data, never discarded silently.
    await lab.servers[2].query("CREATE DATABASE precious");
    await lab.servers[2].query("CREATE TABLE precious.orders (id INT PRIMARY KEY)");
    await expect(setup(lab.members, 0, lab.settings)).rejects.toThrow(
      /member 2: it holds user data \(tables in schema precious\).*nothing was changed/,
    );
    let t = await inspect(lab.members, lab.settings);
    expect(t.members.some((m) => m.replica)).toBe(false);

    await lab.servers[2].query("DROP DATABASE precious");
    await lab.servers[2].query("RESET MASTER");
    await setup(lab.members, 0, lab.settings);
    expect(lab.lines.some((l) => /member 1: discarded its local binlog history 0-101-1/.test(l))).toBe(true);
    t = await inspect(lab.members, lab.settings);
    expect(t.healthy).toBe(true);
    expect(t.members[1].errantGtids).toEqual([]);
  });

  it("sets up members that each have an empty app schema from initialisation (binlog off), and replicates tables created in it", async () => {
    lab = await startLab(3);
    // What the official image's entrypoint does with MARIADB_DATABASE on every pod: an empty schema, not data.
    for (const s of lab.servers) {
      const conn = await s.connect();
      try {
        await conn.query("SET SESSION sql_log_bin = 0");
        await conn.query("CREATE DATABASE app");
      } finally {
        await conn.end();
      }
    }
    await setup(lab.members, 0, lab.settings);
    let t = await inspect(lab.members, lab.settings);
    expect(t.healthy).toBe(true);
    expect(t.members.map((m) => m.role)).toEqual(["primary", "replica", "replica"]);
    expect(t.members.slice(1).every((m) => m.replica?.sourceIndex === 0)).toBe(true);

    await lab.servers[0].query("CREATE TABLE app.w (id INT PRIMARY KEY, at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))");
    await lab.servers[0].query("INSERT INTO app.w (id) VALUES (1), (2)");
    await waitReplicated(lab);
    for (const s of lab.servers.slice(1)) expect([...(await ids(s))].sort()).toEqual([1, 2]);
    t = await inspect(lab.members, lab.settings);
    expect(t.healthy).toBe(true);
    expect(t.members.every((m) => m.errantGtids.length === 0)).toBe(true);
    // A member that never replicated lists the schema now that it holds a table; replicas' are not read (they decide
    // nothing there).
    expect(t.members.map((m) => m.userSchemas)).toEqual([["app"], [], []]);
  });

  it("re-seeds a member with an errant transaction through the seed hook (a real clone of the primary) instead of attaching it as it is", async () => {
    lab = await startLab(3, { setUp: true });
    await lab.servers[0].query("INSERT INTO app.w (id) VALUES (1), (2)");
    await waitReplicated(lab);
    // Someone writes on a replica: a transaction the primary does not have.
    await lab.servers[2].query("STOP SLAVE");
    await lab.servers[2].query("SET GLOBAL read_only = OFF");
    await lab.servers[2].query("INSERT INTO app.w (id) VALUES (99)");
    await lab.servers[2].query("SET GLOBAL read_only = ON");
    expect((await inspect(lab.members, lab.settings)).members[2].errantGtids).toHaveLength(1);

    await expect(attach(lab.members, 2, lab.settings)).rejects.toThrow(
      /cannot attach member 2: it has errant GTIDs 0-102-\d+ .*re-seeded from the primary .*no seed hook is configured; nothing was changed/,
    );
    expect((await ids(lab.servers[2])).has(99)).toBe(true); // refused: nothing changed

    const seeder = localSeeder(lab.servers, "seed-token-for-tests");
    try {
      await attach(lab.members, 2, { ...lab.settings, seed: seeder.seed });
    } finally {
      await seeder.close();
    }
    expect(lab.lines.some((l) => /member 2: seeded from member 0/.test(l))).toBe(true);
    await lab.servers[0].query("INSERT INTO app.w (id) VALUES (3)");
    await waitReplicated(lab);
    expect([...(await ids(lab.servers[2]))].sort()).toEqual([1, 2, 3]);
    const t = await inspect(lab.members, lab.settings);
    expect(t.healthy).toBe(true);
    expect(t.members[2].errantGtids).toEqual([]);
    expect(t.members[2].replica?.sourceIndex).toBe(0);
    expect(t.members[2].readOnly).toBe(true);
  });

  it("attaches a 4th member that then has every row, and detaches it", async () => {
    lab = await startLab(4);
    const three = lab.members.slice(0, 3);
    await setup(three, 0, lab.settings);
    await createAppSchema(lab.servers[0]);
    await lab.servers[0].query("INSERT INTO app.w (id) VALUES (1), (2)");

    const before = await inspect(lab.members, lab.settings);
    expect(plan(before, { members: 4, allowFailover: false }).steps.map((s) => s.describe)).toEqual([
      "attach member 3",
    ]);
    await attach(lab.members, 3, lab.settings);
    await lab.servers[0].query("INSERT INTO app.w (id) VALUES (3)");
    await waitReplicated(lab);
    expect([...(await ids(lab.servers[3]))].sort()).toEqual([1, 2, 3]);
    let t = await inspect(lab.members, lab.settings);
    expect(t.healthy).toBe(true);
    expect(t.members[3].replica?.sourceIndex).toBe(0);
    expect((await attach(lab.members, 3, lab.settings)).noop).toBe(true);

    expect(plan(t, { members: 3, allowFailover: false }).steps.map((s) => s.describe)).toEqual(["detach member 3"]);
    await detach(lab.members, 3, lab.settings);
    t = await inspect(lab.members, lab.settings);
    expect(t.members[3].replica).toBeUndefined();
    expect(t.members[3].readOnly).toBe(true);
    expect(plan(t, { members: 3, allowFailover: false })).toEqual({ steps: [], refusals: [] });
    await lab.servers[0].query("INSERT INTO app.w (id) VALUES (4)");
    await waitReplicated(lab);
    expect((await ids(lab.servers[3])).has(4)).toBe(false);
  });
});
