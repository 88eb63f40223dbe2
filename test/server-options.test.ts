import { destroyAll, LocalServer, startServers } from "../local/mariadbd";
import { LIVE_OPTIONS, restartConfigHash, sameValue, splitOptions, sqlValue } from "../components/server-options";

describe("server options: live vs restart", () => {
  it("splits options by whether SET GLOBAL can change them, either spelling", () => {
    expect(
      splitOptions({
        "max-connections": 300,
        long_query_time: 2,
        "innodb-log-file-size": "64M",
        performance_schema: "ON",
      }),
    ).toEqual({
      live: { "max-connections": 300, long_query_time: 2 },
      restart: { "innodb-log-file-size": "64M", performance_schema: "ON" },
    });
  });

  it("hashes only what needs a restart: a live change keeps the hash, a restart change or new image moves it", () => {
    const base = { "max-connections": 200, "table-open-cache-instances": 4 };
    const hash = restartConfigHash(base, "mariadb:10.11");
    expect(restartConfigHash({ ...base, "max-connections": 500 }, "mariadb:10.11")).toBe(hash);
    expect(restartConfigHash({ table_open_cache_instances: 4, max_connections: 1 }, "mariadb:10.11")).toBe(hash);
    expect(restartConfigHash({ ...base, "table-open-cache-instances": 8 }, "mariadb:10.11")).not.toBe(hash);
    expect(restartConfigHash(base, "mariadb:11.4")).not.toBe(hash);
    expect(hash).toMatch(/^[0-9a-f]{16}$/);
  });

  it("converts option-file values to SET GLOBAL values and compares with what the server reports", () => {
    expect(sqlValue("64M")).toBe(64 * 1024 * 1024);
    expect(sqlValue(true)).toBe("ON");
    expect(sqlValue("2.5")).toBe(2.5);
    expect(sqlValue("STRICT_TRANS_TABLES")).toBe("STRICT_TRANS_TABLES");
    expect(sameValue("67108864", "64M")).toBe(true);
    expect(sameValue("ON", 1)).toBe(true);
    expect(sameValue("OFF", true)).toBe(false);
    expect(sameValue("10.000000", 10)).toBe(true);
  });
});

describe("server options: the live table matches a real MariaDB", () => {
  let servers: LocalServer[] = [];
  afterAll(() => destroyAll(servers));

  it("every live option exists and is settable at runtime (information_schema READ_ONLY = NO)", async () => {
    servers = await startServers(1);
    const rows = await servers[0].query<{ name: string; readOnly: string; scope: string }>(
      "SELECT LOWER(VARIABLE_NAME) AS name, READ_ONLY AS readOnly, VARIABLE_SCOPE AS scope FROM information_schema.SYSTEM_VARIABLES",
    );
    const byName = new Map(rows.map((r) => [r.name, r]));
    const wrong = [...LIVE_OPTIONS].filter(
      (name) => byName.get(name)?.readOnly !== "NO" || byName.get(name)?.scope === "SESSION ONLY",
    );
    expect(wrong).toEqual([]);
  });
});
