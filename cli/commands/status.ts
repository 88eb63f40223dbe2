import { Command } from "../command";
import { ENGINE_OPTIONS_HELP, parseEngineArgs, withEngine } from "../engine-args";
import type { Topology } from "../../components/replication";

export const command: Command = {
  name: "status",
  usage: `Usage: mysql-ha status --members H:P,H:P,... [--json]
       mysql-ha status --stack S [--kubeconfig FILE] [--context NAME] [--json]

Inspects every member (read only) and prints a table for people, or with --json:
  { "primary": <index|null>, "healthy": bool, "problems": [..], "members": [{ "index", "address", "reachable",
    "role": "primary"|"replica"|"unknown", "readOnly", "gtid", "sourceIndex", "lagSeconds", "errantGtids": [..],
    "tls", "replicationTls" }] }
where index is the position in --members (with --stack: the pod's ordinal); tls: this command's connection to the
member is encrypted and its certificate verified (--tls-ca, or the stack's CA); replicationTls: the member
replicates over TLS verifying its source (null: not a replica).

Options:
  --json                         machine-readable output
${ENGINE_OPTIONS_HELP}

Exit status: 0 healthy; 1 not healthy (problems listed); 2 usage error.

Examples:
  MYSQL_HA_PASSWORD=... mysql-ha status --members 10.0.0.1:3306,10.0.0.2:3306,10.0.0.3:3306
  mysql-ha status --members db-0:3306,db-1:3306 --password-file /run/secrets/admin --json
  mysql-ha status --stack prod --context prod-cluster`,

  async run(argv) {
    const args = parseEngineArgs(this, argv, { json: { type: "boolean" } });
    if (!args) return 0;
    return withEngine(
      this.name,
      args,
      false,
      () => {},
      async ({ members, settings }) => {
        const { inspect, topologyToJson } =
          require("../../components/replication") as typeof import("../../components/replication");
        const t = await inspect(members, settings);
        process.stdout.write(args.values.json ? JSON.stringify(topologyToJson(t), null, 2) + "\n" : table(t));
        return t.healthy ? 0 : 1;
      },
    );
  },
};

function table(t: Topology): string {
  const head = ["#", "address", "role", "read-only", "gtid", "source", "lag", "semi-sync", "errant"];
  const rows = t.members.map((m) => [
    String(m.index),
    m.address,
    m.reachable ? m.role : "unreachable",
    m.readOnly === undefined ? "-" : m.readOnly ? "yes" : "no",
    m.gtidCurrent || "-",
    m.replica
      ? (m.replica.sourceIndex !== null
          ? String(m.replica.sourceIndex)
          : `${m.replica.sourceHost}:${m.replica.sourcePort}`) +
        (m.replica.ioThread === "running" && m.replica.sqlThread === "running"
          ? ""
          : ` (io ${m.replica.ioThread}, sql ${m.replica.sqlThread})`)
      : "-",
    m.replica?.lagSeconds === null || m.replica?.lagSeconds === undefined ? "-" : `${m.replica.lagSeconds}s`,
    !m.semiSync
      ? "-"
      : m.role === "primary"
        ? m.semiSync.primaryActive
          ? `on (${m.semiSync.primaryClients})`
          : m.semiSync.primaryEnabled
            ? "waiting"
            : "off"
        : m.semiSync.replicaActive
          ? "on"
          : "off",
    m.errantGtids.join(",") || "-",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  const out = [line(head), ...rows.map(line), ""];
  out.push(
    t.healthy
      ? `healthy; primary is member ${t.primary}`
      : `NOT healthy${t.primary !== null ? `; primary is member ${t.primary}` : "; no primary"}:`,
  );
  for (const p of t.problems) out.push(`  - ${p.message}`);
  return out.join("\n") + "\n";
}
