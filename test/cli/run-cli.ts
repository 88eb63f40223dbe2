/** The command line as a user runs it: node bin/mysql-ha.js in a child process, with its exit code and output. */
import { execFile } from "node:child_process";
import { BIN } from "../../local/agent";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Added to the environment. */
  env?: Record<string, string>;
  /** The environment it starts from: this process's unless given. */
  baseEnv?: NodeJS.ProcessEnv;
  cwd?: string;
  /** The child is killed after this many milliseconds (a hung command fails its test instead of the suite's timeout). */
  timeout?: number;
}

export function runCli(
  args: string[],
  { env = {}, baseEnv = process.env, cwd, timeout = 60000 }: CliOptions = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...baseEnv, ...env }, cwd, timeout }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
