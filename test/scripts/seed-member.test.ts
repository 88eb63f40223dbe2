import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  destroyAll,
  freePort,
  LocalServer,
  readOptionDir,
  REPLICATION_OPTIONS,
  startServer,
} from "../../local/mariadbd";
import { Donor, runScript, startDonor } from "../../cli/scripts";

jest.setTimeout(120000);

const TOKEN = "seed-token-for-tests";
/** Member N answers at 127.0.0.1N: the peers share one database port and one donor port, as pods do. */
const PATTERN = "127.0.0.1%d";

/** An empty member 0 (its volume re-created): a server not started yet, on a datadir that exists and is empty. */
async function emptyMember0(): Promise<LocalServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-seed0-"));
  const member = new LocalServer(dir, await freePort(), { serverId: 310, options: REPLICATION_OPTIONS });
  fs.mkdirSync(member.datadir);
  fs.mkdirSync(confOut(member));
  return member;
}

/** The pod's conf volume (what init-server and the seed write, mariadbd reads). */
function confOut(member: LocalServer): string {
  return path.join(member.dir, "conf.d");
}

function seedEnv(member: LocalServer, mysqlPort: number, donorPort: number) {
  return {
    POD_NAME: "db-0",
    DATADIR: member.datadir,
    CLONE_DONOR_PATTERN: PATTERN,
    DONOR_PORT: String(donorPort),
    CLONE_TOKEN: TOKEN,
    PEER_MYSQL_PORT: String(mysqlPort),
    CONF_OUT: confOut(member),
  };
}

describe("seed-member.sh on member 0 without restoreFrom", () => {
  let servers: LocalServer[] = [];
  let donors: Donor[] = [];

  afterEach(async () => {
    await Promise.all(donors.map((d) => d.stop()));
    donors = [];
    await destroyAll(servers);
    servers = [];
  });

  test("clones the first peer whose database answers (not one whose donor port alone is open) and is positioned at its GTID", async () => {
    const [mysqlPort, donorPort] = [await freePort(), await freePort()];
    const peer1 = await startServer({
      serverId: 311,
      options: REPLICATION_OPTIONS,
      host: "127.0.0.11",
      port: mysqlPort,
    });
    servers.push(peer1);
    const peer2 = await startServer({
      serverId: 312,
      options: REPLICATION_OPTIONS,
      host: "127.0.0.12",
      port: mysqlPort,
    });
    servers.push(peer2);
    await peer2.query("CREATE DATABASE app");
    await peer2.query("CREATE TABLE app.t (id INT PRIMARY KEY)");
    await peer2.query("INSERT INTO app.t SELECT seq FROM app.seq_1_to_50");
    donors.push(await startDonor(peer1, TOKEN, donorPort), await startDonor(peer2, TOKEN, donorPort));
    // Member 1's database is down while its donor sidecar listens: a donor-port probe would pick it and fail.
    await peer1.stop();

    const member0 = await emptyMember0();
    servers.push(member0);
    const { stdout, stderr } = await runScript("seed-member.sh", {
      ...seedEnv(member0, mysqlPort, donorPort),
      MAX_MEMBERS: "3",
    });
    expect(stderr).toContain("member 0 has no data and member 2 (127.0.0.12) answers: cloning it");
    const gtid = (stdout.match(/^GTID=(.*)$/m) ?? [])[1];
    expect(gtid).toMatch(/^0-312-\d+$/);

    // The database container reads the conf volume: the seed's init_file positions the copy on this start.
    member0.spec.options = { ...member0.spec.options, ...readOptionDir(confOut(member0)) };
    await member0.start();
    const [{ n, pos }] = await member0.query<{ n: number; pos: string }>(
      "SELECT COUNT(*) AS n, @@gtid_slave_pos AS pos FROM app.t",
    );
    expect({ n: Number(n), pos }).toEqual({ n: 50, pos: gtid });
  });

  test("starts empty, within seconds, when no peer answers (the first start: peers wait in their init containers)", async () => {
    const [mysqlPort, donorPort] = [await freePort(), await freePort()];
    const member0 = await emptyMember0();
    servers.push(member0);
    const started = Date.now();
    const { stderr } = await runScript("seed-member.sh", {
      ...seedEnv(member0, mysqlPort, donorPort),
      MAX_MEMBERS: "9",
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(stderr).toMatch(/member 0 starts empty \(no restoreFrom; no peer answers on port \d+: first start\)/);
    expect(fs.readdirSync(member0.datadir)).toEqual([]);
  });

  test("a copy whose pod went before its first start gets its init_file again from the next pod's seed; other data gets none", async () => {
    const member0 = await emptyMember0();
    servers.push(member0);
    const env = { ...seedEnv(member0, 1, 1), POD_NAME: "db-1" };
    fs.writeFileSync(path.join(member0.datadir, "ibdata1"), "");
    await runScript("seed-member.sh", env);
    expect(fs.readdirSync(confOut(member0))).toEqual([]);
    fs.writeFileSync(path.join(member0.datadir, ".mysql-ha-position.sql"), "SELECT 1;\n");
    const { stderr } = await runScript("seed-member.sh", env);
    expect(stderr).toContain("member 1 has data: nothing to seed");
    expect(readOptionDir(confOut(member0))).toEqual({
      init_file: path.join(member0.datadir, ".mysql-ha-position.sql"),
    });
  });

  test("without MAX_MEMBERS it refuses to guess", async () => {
    const member0 = await emptyMember0();
    servers.push(member0);
    const err = await runScript("seed-member.sh", seedEnv(member0, 1, 1)).catch((e) => e);
    expect(err.message).toMatch(/MAX_MEMBERS '' must be how many members there may be/);
  });
});
