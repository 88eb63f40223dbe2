/**
 * What the two dynamic providers do; `serialized.ts` loads this module inside each provider method, in the
 * dynamic provider host's process. Every method opens the connector, asks the engine, and closes the tunnels
 * before returning: nothing survives between calls.
 *
 * - PrimaryPlacement runs before the StatefulSet changes: it switches over when `primary` changed, or when a shrink
 *   would remove the primary's ordinal, while every current member still exists. Nothing to do on first create.
 * - ReplicationTopology runs after the StatefulSet: setup on create; on update attach new members, detach removed
 *   ones, fail over when the primary is unreachable (if allowed), switch over when `primary` changed and the
 *   placement could not (the new primary did not exist yet).
 * `check` writes what `up` will do, in words, into the `plan` input, which is what `pulumi preview` shows.
 */
import type * as pulumi from "@pulumi/pulumi";
import {
  ConnectorSpec,
  describeRoleLabels,
  lastPrimaryMove,
  openConnector,
  pointAtPrimary,
  PrimaryMove,
  PrimaryObjects,
  RoleLabel,
  staleRoleLabels,
} from "../connectors";
import * as engine from "../replication";
import {
  checkWith,
  diffWith,
  engineSettingsOf,
  MemberSummary,
  PROVIDER_VERSION,
  REPLICATION_INPUTS,
  ReplicationInputs,
  ReplicationOutputs,
} from "./inputs";
import { placementDecision } from "./placement";

type Props = Record<string, any>;
type Kind = "placement" | "topology";

function log(kind: Kind, line: string): void {
  // The dynamic provider host passes a provider's stderr on to the engine's log.
  process.stderr.write(`[mysql-ha ${kind === "placement" ? "PrimaryPlacement" : "ReplicationTopology"}] ${line}\n`);
}

function engineSettings(inputs: ReplicationInputs, kind: Kind, olds: Props): engine.EngineSettings {
  return engineSettingsOf(inputs, (line) => log(kind, line), olds);
}

function connectorSpec(inputs: ReplicationInputs): ConnectorSpec {
  return inputs.connector.kind === "kubernetes"
    ? { ...inputs.connector, kubeconfig: inputs.kubeconfig }
    : inputs.connector;
}

/** The objects that name the primary, with the cluster access the inputs give; undefined when the program gave none. */
function primaryObjectsOf(inputs: ReplicationInputs): PrimaryObjects | undefined {
  return inputs.primaryObjects && { ...inputs.primaryObjects, kubeconfig: inputs.kubeconfig };
}

/**
 * Points the topology ConfigMap and the members' role labels at the primary, right after the operation that moved
 * it (not at the end of the run: a pod restarting in between must not come back writable on the old primary's word).
 * Idempotent, so every run also repairs a pointer a failed run left behind. Returns the labels it set.
 */
async function pointObjects(
  inputs: ReplicationInputs,
  kind: Kind,
  primary: number | null,
  move?: Omit<PrimaryMove, "to" | "at">,
): Promise<RoleLabel[]> {
  const objects = primaryObjectsOf(inputs);
  if (!objects || primary === null || primary < 0) return [];
  const { labelled } = await pointAtPrimary(objects, primary, { move });
  log(
    kind,
    `topology ConfigMap names member ${primary}${labelled.length ? `; role labels set: ${describeRoleLabels(labelled)}` : ""}`,
  );
  return labelled;
}

/** Role labels the members lack for `primary` (a recreated pod comes without its label); none without objects. */
async function staleLabels(inputs: ReplicationInputs, primary: number | null): Promise<RoleLabel[]> {
  const objects = primaryObjectsOf(inputs);
  return objects && primary !== null ? staleRoleLabels(objects, primary) : [];
}

const labelWords = (labels: RoleLabel[], verb: string) =>
  labels.length ? [`${verb} ${describeRoleLabels(labels)}`] : [];

/**
 * When the primary is not where the last run left it (the agent failed over in between), says who moved it, from
 * the record the mover left in the topology ConfigMap; undefined when it has not moved.
 */
async function movedSince(olds: Props, inputs: ReplicationInputs, primary: number | null): Promise<string | undefined> {
  const last = olds.primaryOrdinal;
  if (!Number.isInteger(last) || last < 0 || primary === null || primary === last) return undefined;
  const objects = primaryObjectsOf(inputs);
  const move = objects ? await lastPrimaryMove(objects).catch(() => undefined) : undefined;
  return move && move.to === primary
    ? `primary moved ${move.from ?? last} -> ${primary} by ${move.by} at ${move.at} (${move.operation})`
    : `primary moved ${last} -> ${primary} since the last up`;
}

/** Members the connector can address: the direct connector knows only the addresses it was given. */
function reachableCount(inputs: ReplicationInputs, wanted: number): number {
  return inputs.connector.kind === "direct" ? Math.min(wanted, inputs.connector.members.length) : wanted;
}

interface Session {
  members: engine.MemberAddress[];
  settings: engine.EngineSettings;
  topology: engine.Topology;
}

/** Opens the connector for `count` members, inspects them, runs `fn`, always closes the tunnels. `olds`: the last state. */
async function withSession<T>(
  inputs: ReplicationInputs,
  kind: Kind,
  count: number,
  fn: (s: Session) => Promise<T>,
  olds: Props = inputs,
): Promise<T> {
  const open = await openConnector(connectorSpec(inputs), reachableCount(inputs, count));
  try {
    const settings = engineSettings(inputs, kind, olds);
    const topology = await engine.inspect(open.members, settings);
    // Tunnel failures explain unreachable members better than a closed connection does.
    for (const problem of open.problems()) {
      const ordinal = Number(/-(\d+): /.exec(problem)?.[1]);
      const member = topology.members[ordinal];
      if (member && !member.reachable) member.error = `${member.error ?? "unreachable"} (${problem})`;
    }
    return await fn({ members: open.members, settings, topology });
  } finally {
    await open.close();
  }
}

function summarize(
  topology: engine.Topology,
): Pick<ReplicationOutputs, "primaryOrdinal" | "members" | "gtidPositions" | "healthy"> {
  const members = topology.members.map((m): MemberSummary => {
    const summary: MemberSummary = {
      ordinal: m.index,
      role: m.role,
      reachable: m.reachable,
      gtid: m.gtidCurrent ?? "",
      lagSeconds: m.replica?.lagSeconds ?? null,
      errantGtids: m.errantGtids,
    };
    if (m.error) summary.error = m.error;
    return summary;
  });
  return {
    primaryOrdinal: topology.primary ?? -1,
    members,
    gtidPositions: members.map((m) => m.gtid),
    healthy: topology.healthy,
  };
}

/** The plan in words; `pending` are steps that wait for something outside the engine (a pod to start). */
export function planWords(plan: engine.Plan, pending: string[] = []): string {
  const parts = [
    ...plan.steps.map((s) => s.describe),
    ...pending,
    ...plan.refusals.map((r) => `refused: ${r.message}`),
  ];
  return parts.length ? parts.join("; ") : "no change: the topology is healthy and as configured";
}

function idFor(inputs: ReplicationInputs, kind: Kind): string {
  const c = inputs.connector;
  return `${kind}:${c.kind === "kubernetes" ? `${c.namespace}/${c.statefulSet}` : c.members.join(",")}`;
}

/** The shared check and diff, with this kind's log and its inspection of the members. */
const checkOf = (kind: Kind, preview: (olds: Props, news: ReplicationInputs) => Promise<string>) =>
  checkWith(REPLICATION_INPUTS, (line) => log(kind, line), preview);
const diffOf = (kind: Kind, liveWork: (olds: Props, news: ReplicationInputs) => Promise<boolean>) =>
  diffWith(REPLICATION_INPUTS, (line) => log(kind, line), liveWork);

// --- PrimaryPlacement ---------------------------------------------------------------------------------------------

/** Members that exist before the StatefulSet changes: the old replica count. */
function placementCount(olds: Props, news: ReplicationInputs): number {
  return Number.isInteger(olds.replicas) ? olds.replicas : news.replicas;
}

async function placementWork(
  olds: Props,
  news: ReplicationInputs,
): Promise<{ words: string; target?: number; primary: number }> {
  return withSession(
    news,
    "placement",
    placementCount(olds, news),
    async ({ topology }) => {
      const decision = placementDecision({
        oldPrimary: olds.primary,
        newPrimary: news.primary,
        newReplicas: news.replicas,
        existing: placementCount(olds, news),
        current: topology.primary,
      });
      if (decision.target === undefined) return { words: decision.words, primary: topology.primary ?? -1 };
      // The engine's planner has the safety rules (reachable, replicating, no errant GTIDs): let it word the step.
      const plan = engine.plan(topology, {
        members: placementCount(olds, news),
        primary: decision.target,
        allowFailover: false,
      });
      const step = plan.steps.find((s) => s.kind === "switchover");
      if (!step)
        return {
          words: `${decision.words}; refused: ${plan.refusals.map((r) => r.message).join("; ")}`,
          primary: topology.primary ?? -1,
        };
      return {
        words: `${step.describe} (${decision.words})`,
        target: decision.target,
        primary: topology.primary ?? -1,
      };
    },
    olds,
  );
}

const placement = {
  check: checkOf("placement", async (olds, news) =>
    olds.replicas === undefined
      ? "none: first create, there is nothing to move yet"
      : (await placementWork(olds, news)).words,
  ),

  diff: diffOf("placement", async (olds, news) => (await placementWork(olds, news)).target !== undefined),

  /** First create: nothing to move; names the configured primary in its objects before any pod starts. */
  async create(inputs: Props): Promise<pulumi.dynamic.CreateResult> {
    const news = inputs as ReplicationInputs;
    let plan = "none: first create";
    const objects = primaryObjectsOf(news);
    if (objects) {
      const { primary: named } = await pointAtPrimary(objects, news.primary, { initial: true });
      plan +=
        named === news.primary
          ? `; topology ConfigMap names member ${named}`
          : `; the topology ConfigMap already names member ${named} (left as it is)`;
    }
    log("placement", `created: ${plan}`);
    return { id: idFor(news, "placement"), outs: { ...news, primaryOrdinal: news.primary, plan } };
  },

  async update(_id: string, olds: Props, inputs: Props): Promise<pulumi.dynamic.UpdateResult> {
    const news = inputs as ReplicationInputs;
    const count = placementCount(olds, news);
    return withSession(
      news,
      "placement",
      count,
      async ({ members, settings, topology }) => {
        const decision = placementDecision({
          oldPrimary: olds.primary,
          newPrimary: news.primary,
          newReplicas: news.replicas,
          existing: count,
          current: topology.primary,
        });
        if (decision.target === undefined) {
          log("placement", decision.words);
          return { outs: { ...news, primaryOrdinal: topology.primary ?? -1, plan: decision.words } };
        }
        const result = await engine.switchover(members, decision.target, settings);
        const words = `switched over ${topology.primary} -> ${result.primary}${result.writeGapMs !== undefined ? ` (writes paused ${result.writeGapMs} ms)` : ""}`;
        log("placement", words);
        await pointObjects(news, "placement", result.primary, {
          from: topology.primary,
          by: "pulumi up",
          operation: "switchover",
        });
        return { outs: { ...news, primaryOrdinal: result.primary, plan: words } };
      },
      olds,
    );
  },

  async read(id: string, props: Props): Promise<pulumi.dynamic.ReadResult> {
    const state = props as ReplicationOutputs;
    return withSession(state, "placement", state.replicas, async ({ topology }) => ({
      id,
      props: { ...state, primaryOrdinal: topology.primary ?? -1 },
    }));
  },

  async delete(): Promise<void> {
    log("placement", "deleted from the stack; the databases are left as they are");
  },
};

// --- ReplicationTopology ------------------------------------------------------------------------------------------

/**
 * Desired state for the engine. `primary` only when set up is due or the config moved it; with TLS, replicas that
 * replicate in plain text (while TLS is being turned on: once both ends serve it) are attached again over TLS.
 */
function desiredTopology(
  topology: engine.Topology,
  olds: Props,
  news: ReplicationInputs,
  settings: engine.EngineSettings,
): engine.DesiredTopology {
  const notSetUp = !topology.members.some((m) => m.replica);
  const moved = olds.primary !== undefined && olds.primary !== news.primary;
  return {
    members: news.replicas,
    primary: notSetUp || moved || olds.replicas === undefined ? news.primary : undefined,
    allowFailover: news.autoFailover,
    ...(settings.tls ? { tls: settings.tls } : {}),
  };
}

/** While TLS is being turned on: the members that do not serve it yet, in words (none: nothing to say). */
function enableTlsWords(topology: engine.Topology, settings: engine.EngineSettings): string[] {
  if (!settings.tls?.enabling) return [];
  const plain = topology.members.filter((m) => m.reachable && !m.tls).map((m) => m.index);
  return plain.length
    ? [
        `enable TLS: ${membersWord(plain)} do${plain.length > 1 ? "" : "es"} not serve TLS yet (reached in plain text until restarted with ${plain.length > 1 ? "their certificates" : "its certificate"})`,
      ]
    : [];
}

/** Existing members and wanted ones: removed members are inspected too, so they can be detached. */
function topologyCount(olds: Props, news: ReplicationInputs): number {
  return Math.max(news.replicas, Number.isInteger(olds.replicas) ? olds.replicas : 0);
}

async function topologyPlan(
  olds: Props,
  news: ReplicationInputs,
): Promise<{ plan: engine.Plan; topology: engine.Topology; renew: number[]; enabling: string[] }> {
  return withSession(
    news,
    "topology",
    topologyCount(olds, news),
    async ({ members, settings, topology }) => ({
      plan: engine.plan(topology, desiredTopology(topology, olds, news, settings)),
      enabling: enableTlsWords(topology, settings),
      topology,
      renew: (await engine.staleCertificates(members, expectedCertificates(news, topology), settings)).map(
        (c) => c.index,
      ),
    }),
    olds,
  );
}

/** Each reachable member's expected certificate (others are not checked: their pods load the files at start). */
function expectedCertificates(inputs: ReplicationInputs, topology: engine.Topology): Array<string | undefined> {
  return (inputs.tls?.certificates ?? []).map((pem, i) => (topology.members[i]?.reachable ? pem : undefined));
}

/** Members serving an older certificate than the stack's load the renewed files (FLUSH SSL, no restart). */
async function renewCertificates(inputs: ReplicationInputs, s: Session): Promise<string[]> {
  const renewed = await engine.reloadCertificates(s.members, expectedCertificates(inputs, s.topology), s.settings);
  return renewed.length ? [`renewed certificates loaded: FLUSH SSL on ${membersWord(renewed)}`] : [];
}

const membersWord = (list: number[]) => `member${list.length > 1 ? "s" : ""} ${list.join(", ")}`;

/** Preview words: members whose pods do not exist yet (first create, growth) are promised, not refused. */
async function topologyPreview(olds: Props, news: ReplicationInputs): Promise<string> {
  const { plan, topology, renew, enabling } = await topologyPlan(olds, news);
  if (olds.replicas === undefined && plan.refusals.some((r) => r.kind === "unreachable")) {
    const others = Array.from({ length: news.replicas }, (_, i) => i).filter((i) => i !== news.primary);
    return `set up member ${news.primary} as primary of ${others.join(", ") || "no replicas"} once the members run (not reachable yet)`;
  }
  const grown = Number.isInteger(olds.replicas)
    ? topology.members.slice(olds.replicas, news.replicas).filter((m) => !m.reachable)
    : [];
  const moved = await movedSince(olds, news, topology.primary);
  // Labels follow the primary after any move; only a healthy run's missing ones are worth saying.
  const labels = plan.steps.length === 0 ? await staleLabels(news, topology.primary) : [];
  const renewal = renew.length ? [`renew certificates: FLUSH SSL on ${membersWord(renew)} (no restart)`] : [];
  return [
    ...(moved ? [moved] : []),
    planWords(
      plan,
      grown.map((m) => `attach member ${m.index} once its pod runs`),
    ),
    ...renewal,
    ...enabling,
    ...labelWords(labels, "set role labels"),
  ].join("; ");
}

/** Plans, refuses or applies, then inspects again for the outputs. */
async function converge(olds: Props, news: ReplicationInputs): Promise<ReplicationOutputs> {
  const count = topologyCount(olds, news);
  const { words, before, operation } = await withSession(
    news,
    "topology",
    count,
    async (session) => {
      const { members, settings, topology } = session;
      const plan = engine.plan(topology, desiredTopology(topology, olds, news, settings));
      if (plan.refusals.length > 0)
        throw new Error(
          `ReplicationTopology refused, nothing was changed: ${plan.refusals.map((r) => r.message).join("; ")}`,
        );
      const moved = await movedSince(olds, news, topology.primary);
      const prefix = moved ? [moved] : [];
      if (plan.steps.length === 0) {
        const renewal = await renewCertificates(news, session);
        return {
          words: [
            ...prefix,
            ...(renewal.length ? renewal : ["no change: the topology is healthy and as configured"]),
          ].join("; "),
          before: topology.primary,
        };
      }
      log("topology", `applying: ${planWords(plan)}`);
      const result = await engine.apply(members, plan, settings);
      const notes = result.results.flatMap((r: engine.OperationResult) => [
        ...(r.possiblyLost ? [r.possiblyLost] : []),
        ...r.warnings,
      ]);
      const mover = plan.steps.find((s) => s.kind === "failover" || s.kind === "switchover" || s.kind === "setup");
      const renewal = await renewCertificates(news, session);
      return {
        words: [...prefix, planWords(plan), ...notes, ...renewal].join("; "),
        before: topology.primary,
        operation: mover?.kind,
      };
    },
    olds,
  );
  return withSession(
    news,
    "topology",
    news.replicas,
    async ({ topology, settings }) => {
      const moved = topology.primary !== before && operation ? { from: before, by: "pulumi up", operation } : undefined;
      const labelled = await pointObjects(news, "topology", topology.primary, moved);
      return {
        ...news,
        ...summarize(topology),
        plan: [words, ...enableTlsWords(topology, settings), ...labelWords(labelled, "role labels set:")].join("; "),
      };
    },
    olds,
  );
}

const topology = {
  check: checkOf("topology", topologyPreview),

  // A primary moved since the last run (by the agent) is an update too: it records where the primary is now. So is a
  // member whose role label is wrong (its pod was recreated): every up relabels.
  diff: diffOf("topology", async (olds, news) => {
    const { plan, topology } = await topologyPlan(olds, news);
    const moved =
      Number.isInteger(olds.primaryOrdinal) && topology.primary !== null && topology.primary !== olds.primaryOrdinal;
    return (
      plan.steps.length + plan.refusals.length > 0 || moved || (await staleLabels(news, topology.primary)).length > 0
    );
  }),

  async create(inputs: Props): Promise<pulumi.dynamic.CreateResult> {
    const news = inputs as ReplicationInputs;
    return { id: idFor(news, "topology"), outs: await converge({}, news) };
  },

  async update(_id: string, olds: Props, inputs: Props): Promise<pulumi.dynamic.UpdateResult> {
    return { outs: await converge(olds, inputs as ReplicationInputs) };
  },

  /** Live topology for `pulumi refresh`; `plan` then says what `up` would do about it. */
  async read(id: string, props: Props): Promise<pulumi.dynamic.ReadResult> {
    const state = props as ReplicationOutputs;
    return withSession(state, "topology", state.replicas, async ({ topology }) => {
      const plan = engine.plan(topology, { members: state.replicas, allowFailover: state.autoFailover });
      return { id, props: { ...state, ...summarize(topology), plan: planWords(plan) } };
    });
  },

  async delete(): Promise<void> {
    log("topology", "deleted from the stack; replication and data are left as they are");
  },
};

export const handlers: Record<Kind, typeof placement | typeof topology> = { placement, topology };
export { PROVIDER_VERSION };
