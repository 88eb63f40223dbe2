import { Command } from "../command";
import {
  ENGINE_OPTIONS_HELP,
  EXIT_CODES_HELP,
  memberIndex,
  parseEngineArgs,
  runMove,
  withEngine,
} from "../engine-args";

export const command: Command = {
  name: "failover",
  usage: `Usage: mysql-ha failover --members H:P,H:P,... [--to N]

Only when the primary is unreachable. Every reachable replica stops receiving and applies its relay log; the one
that has every transaction any other received is promoted (or N, if it qualifies) and the others replicate from
it. Refused (nothing changed) when the primary is reachable (use switchover), when candidates diverge so that
promoting one would drop transactions, or when the candidate has errant transactions. Reports what may be lost:
nothing acknowledged with semi-sync; with --async, what the old primary committed that no replica received.

Options:
  --to N                         promote member N (refused unless it is the most advanced)
${ENGINE_OPTIONS_HELP}

${EXIT_CODES_HELP}

Example:
  mysql-ha failover --members db-0:3306,db-1:3306,db-2:3306`,

  async run(argv) {
    const args = parseEngineArgs(this, argv, { to: { type: "string" } });
    if (!args) return 0;
    const to = memberIndex(args.values.to as string | undefined, "--to", args.count);
    const { failover } = require("../../components/replication") as typeof import("../../components/replication");
    return withEngine(
      this.name,
      args,
      true,
      (l) => process.stdout.write(l + "\n"),
      (session) => runMove("failover", session, () => failover(session.members, to, session.settings)),
    );
  },
};
