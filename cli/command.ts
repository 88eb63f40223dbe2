import { parseArgs, ParseArgsConfig } from "node:util";

/** One `mysql-ha <name>` subcommand. `run` returns the process exit code. */
export interface Command {
  name: string;
  /** Full text for `mysql-ha <name> --help`: synopsis, options, examples. */
  usage: string;
  run(argv: string[]): Promise<number>;
}

/** A refusal or bad input the user can fix: printed as one line, exit code 2, no stack trace. */
export class UsageError extends Error {}

/** Runs a parser of user input; its error (which names the flag and the allowed form) becomes a usage error. */
export function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** `key=value` flags as a map; the error names the flag and the bad value. */
export function keyValues(flag: string, pairs: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`${flag} expects key=value, got '${pair}'`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses a subcommand's argv strictly (unknown flags are errors naming the allowed ones).
 * Returns undefined when --help was asked for, after printing the usage.
 */
export function parseCommandArgs<O extends Options>(command: Command, argv: string[], options: O) {
  const all = { ...options, help: { type: "boolean", short: "h" } } as O & { help: { type: "boolean"; short: "h" } };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: all, strict: true, allowPositionals: false });
  } catch (err) {
    const flags = Object.keys(all)
      .map((f) => `--${f}`)
      .join(", ");
    throw new UsageError(`${(err as Error).message}. Allowed options for '${command.name}': ${flags}`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(command.usage.trimEnd() + "\n");
    return undefined;
  }
  return parsed.values;
}
