import { Command, parseCommandArgs } from "../command";

const USAGE = `Usage: mysql-ha demo [--keep] [--verbose]

Runs the main job of mysql-ha on this machine: no cloud, no cluster. The real program (index.ts) is evaluated
with a local stack config (connector direct, one local mariadbd per member); Kubernetes and AWS resources are
rendered, not applied; the replication and rollout resources run for real, serialized, in a separate provider host, and keep
their state from one 'up' to the next. While an application writer keeps writing, it:
  1. creates 3 members
  2. grows to 4 (clone a peer)
  3. switches over to member 2
  4. rolls a restart-only server option through the members (replicas first, the primary behind a switchover)
  5. kills -9 the primary and runs up again (failover)
  6. backs up to a local S3 under load, restores, compares checksums
  7. verifies every acknowledged write is on the final primary
Each up prints the providers' plan (preview) and what they did; a timeline with durations and checks ends it.
Exit code 0 only if every check passed. Servers, files and the local S3 are always cleaned up, unless --keep.

Options:
  --keep       leave the members running and print how to connect (the password stays in a private file)
  --verbose    also print the providers' own log lines
  -h, --help   this text
`;

/** \`mysql-ha demo\` (\`npm run demo\`): see local/demo/scenario.ts. */
export const command: Command = {
  name: "demo",
  usage: USAGE,
  async run(argv) {
    const args = parseCommandArgs(command, argv, { keep: { type: "boolean" }, verbose: { type: "boolean" } });
    if (!args) return 0;
    const { keptHint, runDemo } = require("../../local/demo/scenario") as typeof import("../../local/demo/scenario");
    const { formatTimeline } = require("../../local/demo/timeline") as typeof import("../../local/demo/timeline");
    const out = (line: string) => process.stdout.write(line + "\n");
    out("mysql-ha demo: the real program and providers against local mariadbd members (under a minute)");
    const result = await runDemo({ keep: !!args.keep, verbose: !!args.verbose, print: out });
    out("\nTimeline");
    out(formatTimeline(result.steps));
    if (result.kept) {
      out("");
      for (const line of keptHint(result.kept)) out(line);
    }
    return result.ok ? 0 : 1;
  },
};
