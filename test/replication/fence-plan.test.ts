import { analyze, mariadb, MemberAddress, MemberStatus, plan } from "../../components/replication";

/** Pure: a topology after a healed partition, as inspect would report it. */
const members: MemberAddress[] = [0, 1, 2].map((i) => ({ host: "10.0.0.1", port: 3300 + i }));
function status(index: number, extra: Partial<MemberStatus>): MemberStatus {
  return {
    index,
    address: `10.0.0.1:${3300 + index}`,
    reachable: true,
    serverId: 100 + index,
    role: "unknown",
    errantGtids: [],
    gtidBinlogState: "0-100-10",
    gtidSlave: "",
    ...extra,
  };
}
const replicaOf = (source: number) => ({
  sourceHost: "10.0.0.1",
  sourcePort: 3300 + source,
  sourceIndex: null,
  ioThread: "running" as const,
  sqlThread: "running" as const,
  lastIoError: "",
  lastSqlError: "",
  lagSeconds: 0,
  gtidIo: "",
  tls: false,
});

describe("planner: a former primary that comes back writable", () => {
  it("fences the writable member nobody replicates from, beside the primary the replicas follow", () => {
    const t = analyze(
      members,
      [
        status(0, { readOnly: false }),
        status(1, { readOnly: false, gtidBinlogState: "0-100-10,0-101-20", gtidSlave: "0-100-10" }),
        status(2, { readOnly: true, replica: replicaOf(1), gtidSlave: "0-101-20" }),
      ],
      mariadb,
    );
    expect(t.splitBrain).toBe(true);
    const p = plan(t, { members: 3, allowFailover: true });
    expect(p.refusals).toEqual([]);
    expect(p.steps.map((s) => [s.kind, s.members])).toEqual([["fence", [0]]]);
  });

  it("still refuses when the replicas do not point at one of the writable members", () => {
    const t = analyze(
      members,
      [
        status(0, { readOnly: false }),
        status(1, { readOnly: false, replica: replicaOf(2) }),
        status(2, { readOnly: true, replica: replicaOf(0) }),
      ],
      mariadb,
    );
    const p = plan(t, { members: 3, allowFailover: true });
    expect(p.steps).toEqual([]);
    expect(p.refusals.map((r) => r.kind)).toEqual(["split-brain"]);
  });
});
