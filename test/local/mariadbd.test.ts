import { REPLICATION_OPTIONS, destroyAll, startServers, LocalServer } from "../../local/mariadbd";

describe("local mariadbd harness", () => {
  let servers: LocalServer[] = [];
  afterEach(async () => destroyAll(servers));

  it("starts several servers with distinct server ids and an empty GTID history", async () => {
    servers = await startServers(3, REPLICATION_OPTIONS, 10);
    const ids = await Promise.all(
      servers.map(async (s) => (await s.query("SELECT @@server_id AS id, @@gtid_binlog_pos AS pos"))[0]),
    );
    expect(ids.map((r) => Number(r.id))).toEqual([10, 11, 12]);
    expect(ids.every((r) => r.pos === "")).toBe(true);
    expect(new Set(servers.map((s) => s.port)).size).toBe(3);
  });

  it("restarts a killed server on the same port with its data", async () => {
    servers = await startServers(1, REPLICATION_OPTIONS);
    const [s] = servers;
    await s.query("CREATE DATABASE t");
    await s.signal("SIGKILL");
    expect(s.running).toBe(false);
    await s.start();
    const rows = await s.query("SHOW DATABASES LIKE 't'");
    expect(rows.length).toBe(1);
  });
});
