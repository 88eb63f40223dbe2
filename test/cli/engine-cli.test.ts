import * as path from "node:path";
import { LOCAL_ROOT_PASSWORD } from "../../local/mariadbd";
import { Lab, REPL_PASSWORD, cleanup, startLab } from "../replication/support";
import { runCli } from "./run-cli";

const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { env });

const ENV = {
  MYSQL_HA_PASSWORD: LOCAL_ROOT_PASSWORD,
  MYSQL_HA_REPLICATION_USER: "repl",
  MYSQL_HA_REPLICATION_PASSWORD: REPL_PASSWORD,
};

describe("mysql-ha setup / status / switchover / failover", () => {
  let lab: Lab | undefined;
  afterEach(async () => cleanup(lab));

  it("sets up replication and prints status --json in the documented shape", async () => {
    lab = await startLab(3);
    const members = lab.members.map((m) => `${m.host}:${m.port}`).join(",");
    const setup = await cli(["setup", "--members", members, "--primary", "1"], ENV);
    expect(setup.stderr).toBe("");
    expect(setup.code).toBe(0);
    expect(setup.stdout).toMatch(/setup: done; primary is member 1/);

    const status = await cli(["status", "--members", members, "--json"], ENV);
    expect(status.code).toBe(0);
    const json = JSON.parse(status.stdout);
    expect(json).toMatchObject({ primary: 1, healthy: true, problems: [] });
    expect(json.members).toHaveLength(3);
    expect(Object.keys(json.members[0]).sort()).toEqual([
      "address",
      "errantGtids",
      "gtid",
      "index",
      "lagSeconds",
      "reachable",
      "readOnly",
      "replicationTls",
      "role",
      "sourceIndex",
      "tls",
    ]);
    expect(
      json.members.map((m: { tls: boolean; replicationTls: boolean | null }) => [m.tls, m.replicationTls]),
    ).toEqual([
      [false, false],
      [false, null],
      [false, false],
    ]);
    expect(json.members.map((m: { role: string }) => m.role)).toEqual(["replica", "primary", "replica"]);
    expect(json.members[0]).toMatchObject({
      index: 0,
      address: members.split(",")[0],
      reachable: true,
      readOnly: true,
      sourceIndex: 1,
      errantGtids: [],
    });
    expect(json.members[1].gtid).toMatch(/^0-101-\d+$/);

    const table = await cli(["status", "--members", members], ENV);
    expect(table.stdout).toMatch(/healthy; primary is member 1/);
    for (const out of [setup, status, table]) expect(out.stdout + out.stderr).not.toContain(LOCAL_ROOT_PASSWORD);
  });

  it("exits non-zero with a one-line reason on a refusal, a bad index and a wrong password", async () => {
    lab = await startLab(3, { setUp: true });
    const members = lab.members.map((m) => `${m.host}:${m.port}`).join(",");
    await lab.servers[2].signal("SIGKILL");
    const refused = await cli(["switchover", "--members", members, "--to", "2"], ENV);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(
      /^mysql-ha switchover: refused: cannot switch over to member 2 .* it is unreachable.*\n$/,
    );
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);

    const bad = await cli(["failover", "--members", members, "--to", "7"], ENV);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("mysql-ha failover: --to '7' is not a member index: allowed 0..2\n");

    const wrong = await cli(["status", "--members", members, "--json"], { ...ENV, MYSQL_HA_PASSWORD: "N0t-the-Pw-42" });
    expect(wrong.code).toBe(1);
    expect(JSON.parse(wrong.stdout).problems[0]).toMatch(/Access denied/);
    expect(wrong.stdout + wrong.stderr).not.toContain("N0t-the-Pw-42");

    const noPassword = await cli(["status", "--members", members], { MYSQL_HA_PASSWORD: "" });
    expect(noPassword.code).toBe(2);
    expect(noPassword.stderr).toMatch(/set MYSQL_HA_PASSWORD or pass --password-file/);
  });
});

describe("mysql-ha engine commands refuse hostile or mistaken input", () => {
  it("refuses a member listed twice, naming both entries", async () => {
    const run = await cli(["status", "--members", "127.0.0.1:3306,db-1:3306,127.0.0.1:3306"], ENV);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--members entry 2 '127.0.0.1:3306' repeats entry 0");
  });

  it("refuses a password file larger than any password and warns about one others can read", async () => {
    const fs = require("node:fs") as typeof import("node:fs");
    const os = require("node:os") as typeof import("node:os");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-pw-"));
    try {
      const big = path.join(dir, "big");
      fs.writeFileSync(big, "x".repeat(5000), { mode: 0o600 });
      const tooBig = await cli(["status", "--members", "127.0.0.1:1", "--password-file", big]);
      expect(tooBig.code).toBe(2);
      expect(tooBig.stderr).toContain(`--password-file ${big}: 5000 bytes is not a password file (at most 4096)`);

      const open = path.join(dir, "open");
      fs.writeFileSync(open, "secret-pw\n");
      fs.chmodSync(open, 0o644);
      const warned = await cli([
        "status",
        "--members",
        "127.0.0.1:1",
        "--password-file",
        open,
        "--connect-timeout-ms",
        "500",
      ]);
      expect(warned.stderr).toContain(
        `warning: --password-file ${open} can be read or written by others (mode 644): chmod 600 ${open}`,
      );
      expect(warned.stdout + warned.stderr).not.toContain("secret-pw");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
