import { Command, UsageError } from "../command";
import {
  ENGINE_OPTIONS_HELP,
  EXIT_CODES_HELP,
  memberIndex,
  parseEngineArgs,
  runMove,
  withEngine,
} from "../engine-args";

export const command: Command = {
  name: "switchover",
  usage: `Usage: mysql-ha switchover --members H:P,H:P,... --to N

Lets member N catch up with writes still on and moves the other replicas under it, then stops writes on the
primary (read_only, client sessions killed, commit lock), waits until N has applied everything, makes N writable
and the old primary its replica. If N cannot catch up within --catch-up-timeout-ms, the old primary gets its
writes back and the command fails saying so. Refused (nothing changed) if N is down, not replicating, or has
errant transactions, or if another operation holds the topology lock.

Options:
  --to N                         index of the new primary
${ENGINE_OPTIONS_HELP}

${EXIT_CODES_HELP}

Example:
  mysql-ha switchover --members db-0:3306,db-1:3306,db-2:3306 --to 2`,

  async run(argv) {
    const args = parseEngineArgs(this, argv, { to: { type: "string" } });
    if (!args) return 0;
    const to = memberIndex(args.values.to as string | undefined, "--to", args.count);
    if (to === undefined) throw new UsageError("--to N is required: the index of the new primary");
    const { switchover } = require("../../components/replication") as typeof import("../../components/replication");
    return withEngine(
      this.name,
      args,
      true,
      (l) => process.stdout.write(l + "\n"),
      (session) => runMove("switchover", session, () => switchover(session.members, to, session.settings)),
    );
  },
};
