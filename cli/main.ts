import { Command, UsageError } from "./command";

/**
 * Subcommands with their line for `mysql-ha --help`. Each is loaded only when it runs: the others' dependencies
 * (the Pulumi SDK, the Kubernetes client, the local stand-ins) would cost every start.
 */
const commands: Record<string, { summary: string; load: () => Command }> = {
  render: {
    summary: "Evaluate the program offline for a stack and write its Kubernetes manifests (secrets redacted)",
    load: () => require("./commands/render").command,
  },
  setup: {
    summary: "Set up GTID replication (semi-sync) on fresh members: one primary, the others its replicas",
    load: () => require("./commands/setup").command,
  },
  status: {
    summary: "Show the replication topology: roles, GTID positions, lag, errant GTIDs, problems",
    load: () => require("./commands/status").command,
  },
  switchover: {
    summary: "Planned switchover: move the primary to member N without losing an acknowledged write",
    load: () => require("./commands/switchover").command,
  },
  failover: {
    summary: "Promote the most advanced reachable replica when the primary is gone",
    load: () => require("./commands/failover").command,
  },
  agent: {
    summary: "Watch the members and fail over automatically between `pulumi up` runs",
    load: () => require("./commands/agent").command,
  },
  backup: {
    summary: "Take a compressed physical backup of a member and stream it to S3 (manifest written last)",
    load: () => require("./commands/backup").command,
  },
  restore: {
    summary: "Restore a datadir from an S3 base backup plus archived binlogs, optionally to a point in time",
    load: () => require("./commands/restore").command,
  },
  backups: {
    summary: "List the base backups in S3: time, size, GTID position, complete yes/no, signature",
    load: () => require("./commands/backups").command,
  },
  bench: {
    summary: "Measure switchover gap, failover, clone, backup, restore and evaluation time on local servers",
    load: () => require("./commands/bench").command,
  },
  policy: {
    summary: "Check a stack offline against the policy pack (policies/); exit 1 on a mandatory violation",
    load: () => require("./commands/policy").command,
  },
  demo: {
    summary: "Run the whole job locally: create, grow, switch over, fail over, back up and restore, verify writes",
    load: () => require("./commands/demo").command,
  },
};

function overview(): string {
  const lines = Object.keys(commands).map((name) => `  ${name.padEnd(12)} ${commands[name].summary}`);
  return [
    "mysql-ha: replicated MariaDB/MySQL on Kubernetes, deployed with Pulumi",
    "",
    "Usage: mysql-ha <command> [options]      (mysql-ha <command> --help for details)",
    "",
    "Commands:",
    ...lines,
    "",
    "Passwords are read from MYSQL_HA_PASSWORD or --password-file, or with --stack S from the stack's Secret through",
    "the Kubernetes API (in memory only); never from the command line.",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(overview() + "\n");
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`mysql-ha: unknown command '${name}'. Commands: ${Object.keys(commands).join(", ")}\n`);
    return 2;
  }
  try {
    return await command.load().run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`mysql-ha ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
