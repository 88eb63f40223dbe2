import {
  destroyAll,
  LOCAL_ROOT_PASSWORD,
  LOCAL_ROOT_USER,
  LocalServer,
  REPLICATION_OPTIONS,
  sleep,
  startServers,
} from "../../local/mariadbd";
import { Donor, runScript, ScriptError, startDonor } from "../../cli/scripts";
import { seedFromPeer } from "../../local/backup";
import * as fs from "node:fs";
import * as path from "node:path";

jest.setTimeout(120000);

const TOKEN = "clone-token-for-tests";

async function attach(replica: LocalServer, source: LocalServer): Promise<void> {
  await replica.query(
    `CHANGE MASTER TO MASTER_HOST=?, MASTER_PORT=?, MASTER_USER=?, MASTER_PASSWORD=?, MASTER_USE_GTID=slave_pos`,
    [source.host, source.port, LOCAL_ROOT_USER, LOCAL_ROOT_PASSWORD],
  );
  await replica.query("START SLAVE");
}

async function waitForRows(server: LocalServer, expected: number, timeoutMs = 20000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await server.query<{ n: number }>("SELECT COUNT(*) AS n FROM app.t").then(
      ([row]) => Number(row.n),
      () => -1,
    ); // the table may not have arrived yet
    if (n === expected || Date.now() > deadline) return n;
    await sleep(100);
  }
}

describe("clone from a peer (clone-serve.sh + clone.sh)", () => {
  let servers: LocalServer[] = [];
  let donor: Donor | undefined;

  afterEach(async () => {
    await donor?.stop();
    donor = undefined;
    await destroyAll(servers);
    servers = [];
  });

  test("a new member gets all rows from a replica donor and replicates from the primary afterwards", async () => {
    servers = await startServers(3, REPLICATION_OPTIONS, 200);
    const [primary, replica, joiner] = servers;
    await primary.query("CREATE DATABASE app");
    await primary.query("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(100))");
    for (let i = 1; i <= 200; i++) await primary.query("INSERT INTO app.t VALUES (?, REPEAT('x', 50))", [i]);
    await attach(replica, primary);
    expect(await waitForRows(replica, 200)).toBe(200);

    donor = await startDonor(replica, TOKEN);
    // Writes continue while the copy is taken: the GTID position in the backup separates what it has from what it must replay.
    let writing = true;
    let next = 201;
    const writer = (async () => {
      while (writing) await primary.query("INSERT INTO app.t VALUES (?, 'during')", [next++]);
    })();
    const gtid = await seedFromPeer(joiner, donor, TOKEN);
    writing = false;
    await writer;
    expect(gtid).toMatch(/^0-200-\d+$/);
    const [{ pos }] = await joiner.query<{ pos: string }>("SELECT @@gtid_slave_pos AS pos");
    expect(pos).toBe(gtid);
    // The donor's replica configuration is not part of the copy: the member replicates once the engine attaches it.
    expect(await joiner.query("SHOW SLAVE STATUS")).toEqual([]);

    await attach(joiner, primary);
    for (let i = 0; i < 20; i++) await primary.query("INSERT INTO app.t VALUES (?, 'after')", [next++]);
    const total = next - 1;
    expect(await waitForRows(joiner, total)).toBe(total);
    const [status] = await joiner.query<{ Slave_SQL_Running: string; Last_SQL_Error: string }>("SHOW SLAVE STATUS");
    expect(status.Slave_SQL_Running).toBe("Yes");
    expect(status.Last_SQL_Error).toBe("");
    const [a] = await primary.query("CHECKSUM TABLE app.t");
    const [b] = await joiner.query("CHECKSUM TABLE app.t");
    expect(b.Checksum).toBe(a.Checksum);
  });

  test("a member cloned from the primary (no gtid_slave_pos of its own) is positioned by clone.sh and its first start alone and replicates without replaying the primary's history", async () => {
    servers = await startServers(2, REPLICATION_OPTIONS, 230);
    const [primary, joiner] = servers;
    // What the image's entrypoint leaves on the primary (binlog on), then user data.
    await primary.query("CREATE DATABASE app");
    await primary.query("CREATE USER 'app'@'%' IDENTIFIED BY 'x'");
    await primary.query("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(100))");
    await primary.query("INSERT INTO app.t VALUES (1, 'before')");
    expect((await primary.query<{ p: string }>("SELECT @@gtid_slave_pos AS p"))[0].p).toBe("");
    donor = await startDonor(primary, TOKEN);
    const gtid = await seedFromPeer(joiner, donor, TOKEN);
    expect(gtid).toMatch(/^0-230-\d+$/);
    // Nothing but clone.sh and a start with the options it wrote touched the joiner (as in a pod: seed init container, then mariadbd).
    const [{ slave, binlog }] = await joiner.query<{ slave: string; binlog: string }>(
      "SELECT @@gtid_slave_pos AS slave, @@gtid_binlog_pos AS binlog",
    );
    expect({ slave, binlog }).toEqual({ slave: gtid, binlog: "" });
    await attach(joiner, primary);
    await primary.query("INSERT INTO app.t VALUES (2, 'after')");
    expect(await waitForRows(joiner, 2)).toBe(2);
    const [status] = await joiner.query<{ Slave_SQL_Running: string; Last_SQL_Error: string }>("SHOW SLAVE STATUS");
    expect([status.Slave_SQL_Running, status.Last_SQL_Error]).toEqual(["Yes", ""]);
  });

  test("the copy takes its position on its first start only: later starts, with the init_file still set, neither rewind nor break replication", async () => {
    servers = await startServers(2, REPLICATION_OPTIONS, 240);
    const [primary, joiner] = servers;
    await primary.query("CREATE DATABASE app");
    await primary.query("CREATE TABLE app.t (id INT PRIMARY KEY)");
    await primary.query("INSERT INTO app.t VALUES (1), (2)");
    donor = await startDonor(primary, TOKEN);
    const gtid = await seedFromPeer(joiner, donor, TOKEN);
    // What the pod's database container reads: init_file points at the copy's position in its datadir.
    expect(joiner.spec.options?.init_file).toBe(path.join(joiner.datadir, ".mysql-ha-position.sql"));
    const position = async () =>
      (
        await joiner.query<{ slave: string; binlog: string }>(
          "SELECT @@gtid_slave_pos AS slave, @@gtid_binlog_pos AS binlog",
        )
      )[0];
    // A restart before the engine attached it (the container restarted): the same position again.
    await joiner.stop();
    await joiner.start();
    expect(await position()).toEqual({ slave: gtid, binlog: "" });
    await attach(joiner, primary);
    for (let i = 3; i <= 12; i++) await primary.query("INSERT INTO app.t VALUES (?)", [i]);
    expect(await waitForRows(joiner, 12)).toBe(12);
    const [{ head }] = await primary.query<{ head: string }>("SELECT @@gtid_binlog_pos AS head");
    expect((await position()).slave).toBe(head);
    // Restarted with replication configured and its own binlog history: the position is left where it is (a rewind
    // to the copy's GTID would replay rows it has, and stop replication on a duplicate key).
    await joiner.stop();
    await joiner.start();
    expect(await position()).toEqual({ slave: head, binlog: head });
    await primary.query("INSERT INTO app.t VALUES (13)");
    expect(await waitForRows(joiner, 13)).toBe(13);
    const [status] = await joiner.query<{ Slave_SQL_Running: string; Last_SQL_Error: string }>("SHOW SLAVE STATUS");
    expect([status.Slave_SQL_Running, status.Last_SQL_Error]).toEqual(["Yes", ""]);
    // Promoted (no replica threads any more), then restarted: its binlog history keeps the position too.
    await joiner.query("STOP SLAVE");
    await joiner.query("RESET SLAVE ALL");
    const [{ last }] = await joiner.query<{ last: string }>("SELECT @@gtid_slave_pos AS last");
    await joiner.stop();
    await joiner.start();
    expect((await position()).slave).toBe(last);
    expect(last).not.toBe(gtid);
    expect(fs.readFileSync(path.join(joiner.datadir, "error.log"), "utf8")).not.toMatch(/ERROR: \d+/);
  });

  test("a wrong token gets no data and leaves the joiner's datadir empty", async () => {
    servers = await startServers(1, REPLICATION_OPTIONS, 210);
    donor = await startDonor(servers[0], TOKEN);
    const datadir = `${servers[0].dir}/joiner-data`;
    const err = await runScript("clone.sh", {
      DONOR_HOST: donor.host,
      DONOR_PORT: String(donor.port),
      CLONE_TOKEN: "wrong",
      DATADIR: datadir,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ScriptError);
    expect(err.message).toMatch(/incomplete \(no completion marker\)/);
    expect(require("node:fs").readdirSync(datadir)).toEqual([]);
  });

  test("refuses to clone into a datadir that has data", async () => {
    servers = await startServers(1, REPLICATION_OPTIONS, 220);
    const err = await runScript("clone.sh", {
      DONOR_HOST: "127.0.0.1",
      DONOR_PORT: "1",
      CLONE_TOKEN: TOKEN,
      DATADIR: servers[0].datadir,
    }).catch((e) => e);
    expect(err.message).toMatch(/is not empty: refusing to overwrite/);
    expect(require("node:fs").existsSync(`${servers[0].datadir}/mysql`)).toBe(true);
  });
});

describe("the donor port's limit on concurrent streams", () => {
  let servers: LocalServer[] = [];
  let donor: Donor | undefined;
  afterEach(async () => {
    await donor?.stop();
    await destroyAll(servers);
  });

  test("with CLONE_MAX_CLIENTS=1 a second joiner waits, connected, until the first stream ends, then gets its copy", async () => {
    servers = await startServers(1, REPLICATION_OPTIONS, 240);
    donor = await startDonor(servers[0], TOKEN, undefined, { CLONE_MAX_CLIENTS: "1" });
    const fs = require("node:fs") as typeof import("node:fs");
    const clone = (dir: string) =>
      runScript("clone.sh", {
        DONOR_HOST: donor!.host,
        DONOR_PORT: String(donor!.port),
        CLONE_TOKEN: TOKEN,
        DATADIR: `${servers[0].dir}/${dir}`,
      });
    await Promise.all([clone("joiner-a"), clone("joiner-b")]);
    for (const dir of ["joiner-a", "joiner-b"]) expect(fs.existsSync(`${servers[0].dir}/${dir}/mysql`)).toBe(true);
    // The donor's log: the second stream starts only after the first completed.
    const events = donor
      .log()
      .split("\n")
      .filter((l) => /streaming a backup|stream to .* complete/.test(l))
      .map((l) => (l.includes("complete") ? "done" : "start"));
    expect(events).toEqual(["start", "done", "start", "done"]);
  });
});
