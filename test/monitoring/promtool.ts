/** The real promtool (Debian package `prometheus`): metrics exposition, rule files and rule unit tests. */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface PromtoolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `promtool ...args` with `stdin` as its input. */
export function promtool(args: string[], stdin = ""): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("promtool", args, { stdio: ["pipe", "pipe", "pipe"] });
    let [stdout, stderr] = ["", ""];
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** `promtool check metrics`: exit 0 only when the exposition parses and passes the linter (names, units, HELP). */
export const checkMetrics = (exposition: string) => promtool(["check", "metrics"], exposition);

/** Writes `files` (name -> content) into a fresh directory, runs `fn` there, and removes it. */
export async function inTempDir<T>(files: Record<string, string>, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-promtool-"));
  try {
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
    return await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
