/**
 * What the RollingUpgrade provider does; `serialized.ts` loads this module inside each provider method, in the
 * dynamic provider host's process. Every method opens the connector, runs the rollout (components/upgrade/) and closes
 * the tunnels before returning. The rollout's state lives in the members (their pod revision), so a failed `up`
 * leaves the old inputs in the state, the next `up` sees the revision change again and resumes with what is left.
 */
import type * as pulumi from "@pulumi/pulumi";
import { withMembers } from "../connectors";
import { planLive, RolloutArgs, runRollout } from "../upgrade/executor";
import { KubernetesRestarter } from "../upgrade/kubernetes-restarter";
import { describeRollout, planRollout } from "../upgrade/planner";
import { MemberRestarter } from "../upgrade/restarter";
import { sameValue, splitOptions } from "../server-options";
import { checkWith, diffWith, engineSettingsOf, ROLLING_UPGRADE_INPUTS, RollingUpgradeInputs } from "./inputs";

type Props = Record<string, any>;

function log(line: string): void {
  process.stderr.write(`[mysql-ha RollingUpgrade] ${line}\n`);
}

/** Members reached without a restarter (direct connector): only live options can be applied. */
const LIVE_ONLY: MemberRestarter = {
  description: "no restarter (live options only)",
  async revisions(ordinals) {
    return ordinals.map((ordinal) => ({ ordinal, current: true, ready: true }));
  },
  async restart(ordinal) {
    throw new Error(`member ${ordinal}: no restarter configured`);
  },
};

function restarterOf(inputs: RollingUpgradeInputs): MemberRestarter {
  if (!inputs.restarter) return LIVE_ONLY;
  return new KubernetesRestarter({ ...inputs.restarter, kubeconfig: inputs.kubeconfig });
}

/** `olds`: the last state (TLS being turned on, see tlsEnabling). */
async function withRollout<T>(
  inputs: RollingUpgradeInputs,
  fn: (args: RolloutArgs) => Promise<T>,
  olds: Props = inputs,
): Promise<T> {
  const connector =
    inputs.connector.kind === "kubernetes" ? { ...inputs.connector, kubeconfig: inputs.kubeconfig } : inputs.connector;
  return withMembers(connector, inputs.replicas, (members) =>
    fn({
      members,
      settings: engineSettingsOf(inputs, log, olds),
      restarter: restarterOf(inputs),
      serverOptions: inputs.serverConfig,
      desiredPrimary: inputs.primary,
      deadlineMs: inputs.rolloutTimeoutSeconds * 1000,
      maxLagSeconds: inputs.maxLagSeconds,
    }),
  );
}

const NO_CHANGE = "no change: every member runs the current revision and options";

/** What a rollout would do now (live inspection), in words. */
function liveWords(now: { steps: Parameters<typeof describeRollout>[0]; liveChanges: string[] }): string {
  const words = [
    ...now.liveChanges.map((c) => `set ${c} live`),
    ...(now.steps.length ? [describeRollout(now.steps)] : []),
  ];
  return words.length ? words.join("; ") : NO_CHANGE;
}

/** Live options whose configured value changed since the last run, in words. */
function liveOptionWords(olds: Props, news: RollingUpgradeInputs): string[] {
  const before = splitOptions(olds.serverConfig ?? {}).live;
  return Object.entries(splitOptions(news.serverConfig).live)
    .filter(([name, value]) => before[name] === undefined || !sameValue(before[name], value))
    .map(([name, value]) => `set ${name} = ${value} live (SET GLOBAL) on every member`);
}

/** What `up` will do, in words. A new revision means every member is out of date once the StatefulSet changed. */
async function previewWords(olds: Props, news: RollingUpgradeInputs): Promise<string> {
  if (olds.revision === undefined) return "none: first create, members start on the current revision";
  const live = liveOptionWords(olds, news);
  if (olds.revision !== news.revision) {
    const primary = await withRollout(
      news,
      async (args) => (await planLive({ ...args, restarter: LIVE_ONLY })).primary,
      olds,
    ).catch(() => olds.primaryOrdinal as number);
    const members = Array.from({ length: news.replicas }, (_, ordinal) => ({ ordinal, current: false }));
    const steps = news.restarter
      ? describeRollout(planRollout({ members, primary, desiredPrimary: news.primary }))
      : "restarts are not managed without a restarter";
    return [...live, `revision ${olds.revision} -> ${news.revision}: ${steps}`].join("; ");
  }
  return liveWords(await withRollout(news, planLive, olds));
}

async function rollOut(news: RollingUpgradeInputs, olds: Props = {}): Promise<Props> {
  const report = await withRollout(news, runRollout, olds);
  const words = [
    ...report.liveChanges.map((c) => `set ${c} live`),
    report.steps.length
      ? `${report.plan}${report.switchovers.length ? ` (writes paused ${report.switchovers.map((s) => `${s.writeGapMs ?? "?"} ms`).join(", ")})` : ""}`
      : "",
  ].filter(Boolean);
  const plan = words.length ? words.join("; ") : NO_CHANGE;
  log(plan);
  return { ...news, primaryOrdinal: report.primary, plan };
}

export const rollingUpgrade = {
  check: checkWith(ROLLING_UPGRADE_INPUTS, log, previewWords),

  /** Changes when an input changed, or members are still out of date (a stopped rollout); never a replacement. */
  diff: diffWith(ROLLING_UPGRADE_INPUTS, log, async (olds, news: RollingUpgradeInputs) => {
    const now = await withRollout(news, planLive, olds);
    return now.steps.length + now.liveChanges.length > 0;
  }),

  async create(inputs: Props): Promise<pulumi.dynamic.CreateResult> {
    const news = inputs as RollingUpgradeInputs;
    const id = news.restarter
      ? `rollout:${news.restarter.namespace}/${news.restarter.statefulSet}`
      : `rollout:${JSON.stringify(news.connector)}`;
    return { id, outs: await rollOut(news) };
  },

  async update(_id: string, olds: Props, inputs: Props): Promise<pulumi.dynamic.UpdateResult> {
    return { outs: await rollOut(inputs as RollingUpgradeInputs, olds) };
  },

  /** For `pulumi refresh`: the live primary, and in `plan` what `up` would still do. */
  async read(id: string, props: Props): Promise<pulumi.dynamic.ReadResult> {
    const state = props as RollingUpgradeInputs;
    const now = await withRollout(state, planLive);
    return { id, props: { ...state, primaryOrdinal: now.primary, plan: liveWords(now) } };
  },

  async delete(): Promise<void> {
    log("deleted from the stack; the members are left as they are");
  },
};

export const handlers = { rollingUpgrade };
