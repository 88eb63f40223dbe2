/**
 * `npm run demo` end to end: the real program and providers against local members, with a writer, every step's check
 * passing, and nothing left behind. Plus the timeline table and the CLI's flags.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as mysql from "mysql2/promise";
import { execFileSync } from "node:child_process";
import { keptHint, runDemo } from "../../local/demo/scenario";
import { parseOptionFiles } from "../../local/mariadbd";
import { formatTimeline } from "../../local/demo/timeline";

describe("mysql-ha demo", () => {
  test("creates, grows, switches over, rolls a restart-only change, fails over, backs up and restores, and loses no acknowledged write", async () => {
    const lines: string[] = [];
    const t0 = Date.now();
    const result = await runDemo({ keep: true, print: (line) => lines.push(line) });
    const output = lines.join("\n");
    expect({ ok: result.ok, steps: result.steps.map((s) => `${s.step}: ${s.result} (${s.detail})`) }).toEqual({
      ok: true,
      steps: result.steps.map((s) => `${s.step}: ok (${s.detail})`),
    });
    expect(result.steps.map((s) => s.step)).toEqual([
      "create 3 members",
      "grow to 4",
      "switch over to member 2",
      "change a restart-only server option (rolling upgrade)",
      "kill -9 the primary while two failover agents run (no up)",
      "run up after the agents' failover",
      "kill -9 the primary, run up again (no agent)",
      "back up under load, restore, compare",
      "verify every acknowledged write",
    ]);
    // The first pod ran the rendered init-server (its env and the scripts ConfigMap, as the kubelet would) and started
    // writable: the placement had named it in the topology ConfigMap before any pod existed.
    expect(output).toMatch(/pod mysql-0: server_id=1000 read_only=OFF \(primary ordinal: 0\)/);
    expect(output).toMatch(/pod mysql-1: server_id=1001 read_only=ON \(primary ordinal: 0\)/);
    // Every up says what the providers planned and did, in words.
    expect(output).toContain("preview  ReplicationTopology: create - set up member 0 as primary of 1, 2");
    expect(output).toMatch(/up {7}ReplicationTopology: updated - attach member 3/);
    expect(output).toMatch(/preview {2}PrimaryPlacement: update - switch over 0 -> 2/);
    expect(output).toMatch(/preview {2}ReplicationTopology: update - failover: promote/);
    expect(result.steps[1].detail).toMatch(/member 3 cloned from member \d over TLS/);
    // The rollout: preview says the order, up restarts replicas highest first, the primary last behind a switchover.
    expect(output).toMatch(
      /preview {2}RollingUpgrade: update - revision \w+ -> \w+: restart 3, 1, 0; switch over 2 -> 0; restart 2; switch over 0 -> 2/,
    );
    expect(result.steps[3].detail).toMatch(/restarted in order 3, 1, 0, 2 \(the primary last\)/);
    // The agents fail over alone (exactly one of them), and the next up only records it.
    expect(result.steps[4].detail).toMatch(
      /^the Lease holder promoted member \d \(failover \d+ ms; lost: none acknowledged\); kill -9 to first acknowledged write on it: [\d.]+ m?s; the other agent stood by/,
    );
    expect(result.steps[5].detail).toMatch(/^primary moved 2 -> \d by the agent at \S+ \(failover\); no change/);
    expect(result.steps[8].detail).toMatch(/^\d+ writes acknowledged/);
    // No password on screen: the generated ones are never printed.
    expect(output).not.toMatch(/password[:=]\s*\S{16,}/i);
    expect(Date.now() - t0).toBeLessThan(150_000);

    // --keep: the topology still runs; the application user reaches the primary with the private client option file
    // (the password never printed, never on a command line); the stop script ends every member and removes all files.
    const kept = result.kept!;
    expect(kept.members).toHaveLength(4);
    expect(kept.members.filter((m) => m.endsWith("down"))).toHaveLength(2); // the members killed by the two failover steps
    expect(fs.statSync(kept.clientConfig).mode & 0o077).toBe(0);
    const password = /^password=(.+)$/m.exec(fs.readFileSync(kept.clientConfig, "utf8"))![1];
    const hint = keptHint(kept).join("\n");
    for (const text of [output, hint]) expect(text).not.toContain(password);
    const command = /^ {4}(mariadb .*)$/m.exec(hint)![1];
    expect(command).toBe(`mariadb --defaults-extra-file=${kept.clientConfig}`);
    // The hinted command itself, run by the real client: it reaches the primary's application database.
    const viaHint = execFileSync("sh", ["-c", `${command} -N -e 'SELECT COUNT(*) FROM items'`], { encoding: "utf8" });
    expect(viaHint.trim()).toBe("5000");
    const [host, port] = kept.primary.split(":");
    const app = await mysql.createConnection({
      host,
      port: Number(port),
      user: kept.user,
      password,
      database: kept.database,
    });
    try {
      const [rows] = await app.query("SELECT COUNT(*) AS n FROM items");
      expect(Number((rows as any)[0].n)).toBe(5000);
      await app.query("INSERT INTO items VALUES (5001, 'after the demo')");
    } finally {
      await app.end();
    }
    execFileSync("sh", [kept.stopScript]);
    await expect(
      mysql.createConnection({ host, port: Number(port), user: kept.user, password, connectTimeout: 2000 }),
    ).rejects.toThrow(/ECONNREFUSED/);
    expect(fs.readdirSync(os.tmpdir()).filter((f: string) => f.startsWith("mysql-ha-demo-"))).toEqual([]);
  }, 240_000);

  test("the timeline lists each step with its duration and check and says whether all passed", () => {
    const table = formatTimeline([
      { step: "create 3 members", ms: 12345, result: "ok", detail: "primary 0" },
      { step: "grow to 4", ms: 250, result: "FAIL", detail: "member 3 has 0 of 5000 rows" },
      { step: "switch over to member 2", ms: 0, result: "skipped", detail: "an earlier step failed" },
    ]);
    expect(table).toMatch(/1 {2}create 3 members +12\.3 s {2}ok +primary 0/);
    expect(table).toMatch(/2 {2}grow to 4 +250 ms {2}FAIL +member 3 has 0 of 5000 rows/);
    expect(table.trim().split("\n").pop()).toBe("1 of 3 checks FAILED (12.6 s)");
  });

  test("option files parse like mariadbd reads them: later files win, bare keys are on", () => {
    expect(
      parseOptionFiles([
        "[mariadb]\n# c\nlog_bin = mysql-bin\nread_only = ON\n",
        "[mariadb]\nread-only = OFF\nskip_name_resolve\n",
      ]),
    ).toEqual({ log_bin: "mysql-bin", read_only: "OFF", skip_name_resolve: true });
  });

  test("--help describes the steps; an unknown flag is a usage error naming the allowed ones", () => {
    const help = execFileSync("node", ["bin/mysql-ha.js", "demo", "--help"]).toString();
    expect(help).toContain("Usage: mysql-ha demo [--keep]");
    expect(help).toContain("--keep");
    let stderr = "";
    let status = 0;
    try {
      execFileSync("node", ["bin/mysql-ha.js", "demo", "--fast"], { stdio: "pipe" });
    } catch (err: any) {
      stderr = err.stderr.toString();
      status = err.status;
    }
    expect(status).toBe(2);
    expect(stderr).toMatch(/Unknown option '--fast'.*--keep, --verbose, --help/);
  }, 60_000);
});
