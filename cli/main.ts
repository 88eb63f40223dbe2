import { Command, UsageError } from "./command";

/** Subcommands, loaded lazily so `--help` and small commands stay fast. */
const commands: Record<string, () => Command> = {
  render: () => require("./commands/render").command,
  setup: () => require("./commands/setup").command,
  status: () => require("./commands/status").command,
  switchover: () => require("./commands/switchover").command,
  failover: () => require("./commands/failover").command,
  agent: () => require("./commands/agent").command,
  backup: () => require("./commands/backup").command,
  restore: () => require("./commands/restore").command,
  backups: () => require("./commands/backups").command,
  bench: () => require("./commands/bench").command,
  policy: () => require("./commands/policy").command,
  demo: () => require("./commands/demo").command,
};

function overview(): string {
  const lines = Object.keys(commands).map((name) => `  ${name.padEnd(12)} ${commands[name]().summary}`);
  return [
    "mysql-ha: replicated MariaDB/MySQL on Kubernetes, deployed with Pulumi",
    "",
    "Usage: mysql-ha <command> [options]      (mysql-ha <command> --help for details)",
    "",
    "Commands:",
    ...lines,
    "",
    "Passwords are read from MYSQL_HA_PASSWORD or --password-file, never from the command line.",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(overview() + "\n");
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`mysql-ha: unknown command '${name}'. Commands: ${Object.keys(commands).join(", ")}\n`);
    return 2;
  }
  try {
    return await load().run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`mysql-ha ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
