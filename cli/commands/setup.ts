import { Command } from "../command";
import {
  ENGINE_OPTIONS_HELP,
  EXIT_CODES_HELP,
  memberIndex,
  parseEngineArgs,
  runOperation,
  withEngine,
} from "../engine-args";

export const command: Command = {
  name: "setup",
  usage: `Usage: mysql-ha setup --members H:P,H:P,... [--primary N]

Makes member N (default 0) the writable primary, creates the replication account (REPLICATION SLAVE only) and
points every other reachable member at it with GTID auto-positioning and semi-synchronous replication. Local
binlog history of a fresh member without user tables (e.g. from its own initialisation; an empty schema is not
data) is discarded; a member that holds tables or errant transactions is refused (it must be seeded from the
primary). Idempotent.

Options:
  --primary N                    index of the primary (default 0)
${ENGINE_OPTIONS_HELP}

${EXIT_CODES_HELP}

Example:
  MYSQL_HA_PASSWORD=... MYSQL_HA_REPLICATION_PASSWORD=... mysql-ha setup --members db-0:3306,db-1:3306,db-2:3306`,

  async run(argv) {
    const args = parseEngineArgs(this, argv, { primary: { type: "string" } });
    if (!args) return 0;
    const primary = memberIndex(args.values.primary as string | undefined, "--primary", args.count) ?? 0;
    const { setup } = require("../../components/replication") as typeof import("../../components/replication");
    return withEngine(
      this.name,
      args,
      true,
      (l) => process.stdout.write(l + "\n"),
      ({ members, settings }) => runOperation("setup", () => setup(members, primary, settings)),
    );
  },
};
