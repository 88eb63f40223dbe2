/**
 * bin/mysql-ha.js runs the compiled CLI only while it is fresh (no TypeScript changed after the build), and the CLI
 * loads no command it does not run.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..", "..");
const { freshEntry } = require(path.join(ROOT, "bin", "dist.js")) as { freshEntry(root?: string): string | undefined };

describe("bin/dist.js freshEntry", () => {
  let root: string;
  const write = (file: string, mtime: number) => {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), "");
    fs.utimesSync(path.join(root, file), mtime, mtime);
  };
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-bin-"));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it("is the compiled entry when every source is older than it", () => {
    write("components/replication/plan.ts", 1000);
    write("index.ts", 1000);
    write("dist/cli/run.js", 2000);
    expect(freshEntry(root)).toBe(path.join(root, "dist", "cli", "run.js"));
  });

  it("is undefined when a source anywhere below changed after the build, or there is no build", () => {
    write("dist/cli/run.js", 2000);
    write("components/replication/plan.ts", 3000);
    expect(freshEntry(root)).toBeUndefined();
    fs.utimesSync(path.join(root, "components/replication/plan.ts"), 1000, 1000);
    write("index.ts", 3000);
    expect(freshEntry(root)).toBeUndefined();
    fs.rmSync(path.join(root, "index.ts"));
    expect(freshEntry(root)).toBeDefined();
    fs.rmSync(path.join(root, "dist"), { recursive: true });
    expect(freshEntry(root)).toBeUndefined();
  });

  it("ignores what the CLI is not built from (tests, node_modules, other files)", () => {
    write("dist/cli/run.js", 2000);
    write("test/cli/bin.test.ts", 3000);
    write("local/node_modules/x/index.ts", 3000);
    write("components/scripts/init-server.sh", 3000);
    expect(freshEntry(root)).toBeDefined();
  });
});

describe("mysql-ha loads only the command it runs", () => {
  /** Runs main(argv) from the sources in a fresh Node; its exit code, stdout and the command modules it loaded. */
  function run(argv: string[]): { code: number; out: string; loaded: string[] } {
    const script = `
      const { main } = require("./cli/main");
      const write = process.stdout.write.bind(process.stdout);
      let out = "";
      process.stdout.write = (s) => ((out += s), true);
      main(${JSON.stringify(argv)}).then((code) => {
        process.stdout.write = write;
        const loaded = Object.keys(require.cache).filter((f) => f.includes("/cli/commands/")).map((f) => f.replace(/^.*\\/cli\\/commands\\//, ""));
        write(JSON.stringify({ code, out, loaded }));
      });`;
    return JSON.parse(
      execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
        cwd: ROOT,
        encoding: "utf8",
      }),
    );
  }

  it("--help lists every command without loading any", () => {
    const result = run(["--help"]);
    expect(result.code).toBe(0);
    for (const name of [
      "render",
      "setup",
      "status",
      "switchover",
      "failover",
      "agent",
      "backup",
      "restore",
      "backups",
      "bench",
      "policy",
      "demo",
    ]) {
      expect(result.out).toMatch(new RegExp(`^  ${name} +\\S`, "m"));
    }
    expect(result.loaded).toEqual([]);
  });

  it("status loads status alone", () => {
    const result = run(["status", "--help"]);
    expect([result.code, result.out]).toEqual([0, expect.stringContaining("Usage: mysql-ha status")]);
    expect(result.loaded).toEqual(["status.ts"]);
  });
});
