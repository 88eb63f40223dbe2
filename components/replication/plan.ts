/**
 * Decides what to do (like MOCO's process.go): topology + desired state -> ordered steps with reasons, or refusals.
 * Pure, so `pulumi preview` and the tests can show exactly what apply will do. A healthy topology that matches the
 * desired state gives an empty plan.
 */
import { DesiredTopology, MemberStatus, Plan, Refusal, RefusalKind, Step, Topology } from "./types";
import { replicationTlsDue } from "./settings";

const refusal = (kind: RefusalKind, message: string): Refusal => ({ kind, message });

export function plan(topology: Topology, desired: DesiredTopology): Plan {
  const steps: Step[] = [];
  const refusals: Refusal[] = [];
  const members = topology.members;
  const n = desired.members;

  if (!Number.isInteger(n) || n < 1 || n > members.length) {
    return {
      steps,
      refusals: [
        refusal(
          "invalid-request",
          `desired member count ${n} is invalid: allowed 1..${members.length} (the members given)`,
        ),
      ],
    };
  }
  if (
    desired.primary !== undefined &&
    (!Number.isInteger(desired.primary) || desired.primary < 0 || desired.primary >= n)
  ) {
    return {
      steps,
      refusals: [refusal("invalid-request", `desired primary ${desired.primary} is not a member: allowed 0..${n - 1}`)],
    };
  }
  if (topology.splitBrain) {
    const writable = members.filter((m) => m.reachable && m.readOnly === false).map((m) => m.index);
    const source = topology.sourceOfReplicas;
    const stray = writable.filter((i) => i !== source);
    // A writable member nobody replicates from, beside the writable member every replica follows, is a primary that
    // came back after a failover replaced it (a healed partition): fence it. Anything else is decided by a person.
    if (source !== null && writable.includes(source) && stray.every((i) => !members[i].replica)) {
      for (const i of stray) {
        steps.push({
          kind: "fence",
          members: [i],
          target: i,
          reason: `member ${i} is writable but the replicas follow member ${source}: it is a former primary that came back`,
          describe: `fence member ${i} (read-only, client sessions killed)`,
        });
      }
      return { steps, refusals };
    }
    return {
      steps,
      refusals: [
        refusal(
          "split-brain",
          `split brain: members ${writable.join(" and ")} are all writable; decide by hand which one keeps its data, make the others read-only (SET GLOBAL read_only=ON) and re-seed them`,
        ),
      ],
    };
  }

  const configured = members.some((m) => m.replica);
  if (!configured) {
    if (n === 1 && topology.primary === 0) return { steps, refusals };
    const target = desired.primary ?? 0;
    if (!members[target].reachable)
      return {
        steps,
        refusals: [
          refusal(
            "unreachable",
            `cannot set up: the intended primary, member ${target}, is unreachable: ${members[target].error}`,
          ),
        ],
      };
    const joining = range(n).filter((i) => i !== target);
    const down = joining.filter((i) => !members[i].reachable);
    steps.push({
      kind: "setup",
      members: [target, ...joining],
      target,
      reason: `replication is not set up${down.length ? `; members ${down.join(", ")} are unreachable and will be attached later` : ""}`,
      describe: `set up member ${target} as primary of ${joining.filter((i) => !down.includes(i)).join(", ") || "no replicas"}`,
    });
    return { steps, refusals };
  }

  let primary = topology.primary;
  if (primary === null) {
    const failed = topology.sourceOfReplicas;
    if (failed === null) {
      return {
        steps,
        refusals: [
          refusal(
            "no-agreed-source",
            "no writable primary and the replicas do not agree on a source; inspect with 'mysql-ha status' and switch over by hand",
          ),
        ],
      };
    }
    if (members[failed].reachable) {
      // The replicas' source is up but read-only (e.g. an operation died while writes were stopped): give it its
      // writes back rather than leave the database without a writable primary.
      steps.push({
        kind: "repair",
        members: [failed],
        target: failed,
        reason: `member ${failed} is the replicas' source but read-only`,
        describe: `make member ${failed} writable again`,
      });
      primary = failed;
    } else if (!desired.allowFailover) {
      return {
        steps,
        refusals: [
          refusal(
            "unreachable",
            `primary member ${failed} is unreachable and failover is not allowed (set allowFailover to promote the most advanced replica)`,
          ),
        ],
      };
    } else {
      const to = desired.primary !== undefined && desired.primary !== failed ? desired.primary : undefined;
      steps.push({
        kind: "failover",
        members: to === undefined ? [failed] : [failed, to],
        target: to,
        reason: `primary member ${failed} is unreachable`,
        describe:
          to === undefined
            ? `failover: promote the most advanced replica in place of member ${failed}`
            : `failover: promote member ${to} in place of member ${failed}`,
      });
      addAttaches(members, n, [failed, ...(to === undefined ? [] : [to])], null, desired, steps, refusals);
      addDetaches(members, n, null, steps);
      return { steps, refusals };
    }
  }

  let newPrimary = primary;
  const wanted = desired.primary ?? (primary >= n ? bestReplica(members, primary, n) : primary);
  if (wanted === undefined) {
    refusals.push(
      refusal(
        "no-candidate",
        `member ${primary} (the primary) is being removed but no member below ${n} is a healthy replica to switch over to`,
      ),
    );
  } else if (wanted !== primary) {
    const why = switchoverRefusal(members[wanted], primary);
    if (why) refusals.push(why);
    else {
      steps.push({
        kind: "switchover",
        members: [primary, wanted],
        target: wanted,
        reason:
          desired.primary !== undefined
            ? `desired primary is member ${wanted}`
            : `member ${primary} (the primary) is being removed`,
        describe: `switch over ${primary} -> ${wanted}`,
      });
      newPrimary = wanted;
    }
  }
  addAttaches(members, n, [primary, newPrimary], primary, desired, steps, refusals);
  addDetaches(members, n, newPrimary !== primary ? primary : null, steps);
  return { steps, refusals };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function replicatesFrom(m: MemberStatus, source: number): boolean {
  const r = m.replica;
  return !!r && r.sourceIndex === source && r.ioThread !== "stopped" && r.sqlThread === "running";
}

/** The reachable, caught-up replica below `n` with the least lag (ties: lowest index). */
function bestReplica(members: MemberStatus[], primary: number, n: number): number | undefined {
  const candidates = members.filter(
    (m) => m.index < n && m.reachable && m.errantGtids.length === 0 && replicatesFrom(m, primary),
  );
  candidates.sort(
    (a, b) => (a.replica!.lagSeconds ?? Infinity) - (b.replica!.lagSeconds ?? Infinity) || a.index - b.index,
  );
  return candidates[0]?.index;
}

export function switchoverRefusal(target: MemberStatus, primary: number): Refusal | undefined {
  const who = `member ${target.index} (${target.address})`;
  if (!target.reachable)
    return refusal("unreachable", `cannot switch over to ${who}: it is unreachable: ${target.error}`);
  if (target.errantGtids.length)
    return refusal(
      "errant-gtids",
      `cannot switch over to ${who}: it has errant GTIDs ${target.errantGtids.join(",")}; re-seed it first`,
    );
  if (!target.replica || target.replica.sourceIndex !== primary) {
    return refusal(
      "not-a-replica",
      `cannot switch over to ${who}: it does not replicate from the primary (member ${primary}); attach it first`,
    );
  }
  if (target.replica.sqlThread !== "running" || target.replica.ioThread === "stopped") {
    const error = target.replica.lastSqlError ? `: ${target.replica.lastSqlError}` : "";
    return refusal(
      "replication-stopped",
      `cannot switch over to ${who}: its replication is stopped (IO ${target.replica.ioThread}, SQL ${target.replica.sqlThread}${error})`,
    );
  }
  return undefined;
}

function addAttaches(
  members: MemberStatus[],
  n: number,
  skip: number[],
  primary: number | null,
  desired: DesiredTopology,
  steps: Step[],
  refusals: Refusal[],
) {
  for (const m of members.slice(0, n)) {
    if (skip.includes(m.index) || !m.reachable) continue;
    const plainText =
      !!m.replica && !m.replica.tls && primary !== null && replicationTlsDue(desired.tls, m, members[primary]);
    if (primary !== null && replicatesFrom(m, primary) && m.errantGtids.length === 0 && !plainText) continue;
    if (primary === null && m.replica) continue; // the failover repoints existing replicas
    if (m.errantGtids.length && !desired.canSeed) {
      refusals.push(
        refusal(
          "errant-gtids",
          `member ${m.index} (${m.address}) has errant GTIDs ${m.errantGtids.join(",")}: it cannot be attached without re-seeding it from the primary`,
        ),
      );
      continue;
    }
    steps.push({
      kind: "attach",
      members: [m.index],
      reason: m.errantGtids.length
        ? `it has errant GTIDs ${m.errantGtids.join(",")}; it will be re-seeded from the primary`
        : !m.replica
          ? "it does not replicate"
          : primary !== null && m.replica.sourceIndex !== primary
            ? `it replicates from ${m.replica.sourceHost}:${m.replica.sourcePort}, not from the primary`
            : plainText && replicatesFrom(m, primary!)
              ? "it replicates without TLS verifying the source's certificate"
              : `its replication is stopped (IO ${m.replica.ioThread}, SQL ${m.replica.sqlThread})`,
      describe: `attach member ${m.index}`,
    });
  }
}

function addDetaches(members: MemberStatus[], n: number, demoted: number | null, steps: Step[]) {
  for (const m of members.slice(n)) {
    if (!m.reachable || (!m.replica && m.index !== demoted)) continue;
    steps.push({
      kind: "detach",
      members: [m.index],
      reason: `member count is ${n}`,
      describe: `detach member ${m.index}`,
    });
  }
}
