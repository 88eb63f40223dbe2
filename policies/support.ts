/**
 * Helpers shared by the policies: policy config with schema defaults, "is this production?", reading props that
 * may be unknown during preview, and finding pod specs and containers in any Kubernetes workload.
 *
 * Everything works on raw type tokens and plain props, so the same functions run inside `pulumi preview
 * --policy-pack` and in the offline analyzer (offline/analyzer.ts) on rendered resources. No Pulumi runtime import
 * here.
 */
import type { PolicyConfigSchema, StackValidationArgs } from "@pulumi/policy";

/** A policy's config: the schema defaults overlaid with what the user configured. */
export function policyConfig<T>(schema: PolicyConfigSchema | undefined, args: { getConfig<C extends object>(): C }): T {
  const defaults: Record<string, unknown> = {};
  for (const [key, prop] of Object.entries(schema?.properties ?? {})) {
    if (prop.default !== undefined) defaults[key] = prop.default;
  }
  return { ...defaults, ...args.getConfig<Record<string, unknown>>() } as T;
}

/** Config every production-aware policy accepts (spread into its configSchema). */
export interface ProductionConfig {
  productionStackPattern: string;
  productionTag: string;
  productionValues: string[];
}

export const PRODUCTION_SCHEMA: PolicyConfigSchema["properties"] = {
  productionStackPattern: {
    type: "string",
    default: "(^|[-_./])prod(uction)?($|[-_./])",
    description: "Regular expression (case-insensitive) on the stack name; a match makes the stack production.",
  },
  productionTag: {
    type: "string",
    default: "environment",
    description: "Stack tag (pulumi stack tag set) or Kubernetes label whose value can mark production.",
  },
  productionValues: {
    type: "array",
    items: { type: "string" },
    default: ["production", "prod"],
    description: "Values of productionTag that mean production.",
  },
};

/** Stack name from a URN (`urn:pulumi:<stack>::<project>::<type>::<name>`), or "" when it has none. */
export function stackOfUrn(urn: string): string {
  const m = /^urn:pulumi:([^:]+)::/.exec(urn ?? "");
  return m ? m[1] : "";
}

/**
 * Whether a stack counts as production: its name matches productionStackPattern, its stack tag productionTag
 * has one of productionValues, or (for a resource) the resource's label productionTag does.
 */
export function isProduction(
  cfg: ProductionConfig,
  stack: string,
  stackTags: ReadonlyMap<string, string> | undefined,
  labels?: Record<string, unknown>,
): boolean {
  if (stack && new RegExp(cfg.productionStackPattern, "i").test(stack)) return true;
  const values = cfg.productionValues.map((v) => v.toLowerCase());
  const tag = stackTags?.get(cfg.productionTag);
  if (tag !== undefined && values.includes(tag.toLowerCase())) return true;
  const label = labels?.[cfg.productionTag];
  return typeof label === "string" && values.includes(label.toLowerCase());
}

/** Stack name of the resources a stack policy sees (all share it). */
export function stackOfResources(args: StackValidationArgs): string {
  for (const r of args.resources) {
    const s = stackOfUrn(r.urn);
    if (s) return s;
  }
  return "";
}

/** Marker for a value that is not known yet (preview of a resource that does not exist). */
export const UNKNOWN: unique symbol = Symbol("unknown");

/** Reads obj[key]; during preview @pulumi/policy throws on unknown values, which this returns as UNKNOWN. */
export function get(obj: unknown, key: string | number): any {
  if (obj === null || obj === undefined || typeof obj !== "object") return undefined;
  try {
    return (obj as any)[key];
  } catch (err) {
    if (isUnknownValueError(err)) return UNKNOWN;
    throw err;
  }
}

/** Reads a path with {@link get}; UNKNOWN as soon as a step is unknown. */
export function path(obj: unknown, ...keys: (string | number)[]): any {
  let cur: any = obj;
  for (const k of keys) {
    if (cur === UNKNOWN) return UNKNOWN;
    cur = get(cur, k);
  }
  return cur;
}

function isUnknownValueError(err: unknown): boolean {
  return typeof err === "object" && err !== null && "unknownTypeSentinel" in err;
}

/** An array value (empty for missing/unknown), elements read safely. */
export function list(value: unknown): any[] {
  if (!Array.isArray(value)) return [];
  const out: any[] = [];
  for (let i = 0; i < value.length; i++) out.push(get(value, i));
  return out;
}

// ---- Kubernetes workloads -------------------------------------------------------------------------------------

/** Kinds whose pods run until stopped (probes make sense); Jobs and CronJobs finish, so they are not here. */
const LONG_RUNNING = new Set(["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController"]);
const WORKLOADS = new Set([...LONG_RUNNING, "Job", "CronJob"]);

/** Kind of a Kubernetes resource type token (`kubernetes:apps/v1:StatefulSet` -> `StatefulSet`), else undefined. */
export function kubernetesKind(type: string): string | undefined {
  const m = /^kubernetes:[^:]+:([A-Za-z]+)$/.exec(type);
  return m ? m[1] : undefined;
}

export interface Workload {
  kind: string;
  /** Display name: `Kind/metadata.name` (or the Pulumi name when metadata.name is not set). */
  label: string;
  /** The pod spec (undefined when unknown or absent). */
  podSpec: any;
  /** Labels of the pods it creates. */
  podLabels: Record<string, unknown>;
  longRunning: boolean;
}

/** The pod template of any workload kind (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob). */
export function workloadOf(args: { type: string; name: string; props: Record<string, any> }): Workload | undefined {
  const kind = kubernetesKind(args.type);
  if (!kind || !WORKLOADS.has(kind)) return undefined;
  const props = args.props;
  let podSpec: any;
  let podMeta: any;
  if (kind === "Pod") {
    podSpec = get(props, "spec");
    podMeta = get(props, "metadata");
  } else if (kind === "CronJob") {
    const template = path(props, "spec", "jobTemplate", "spec", "template");
    podSpec = get(template, "spec");
    podMeta = get(template, "metadata");
  } else {
    const template = path(props, "spec", "template");
    podSpec = get(template, "spec");
    podMeta = get(template, "metadata");
  }
  const labels = get(podMeta, "labels");
  return {
    kind,
    label: `${kind}/${displayName(args)}`,
    podSpec: podSpec === UNKNOWN ? undefined : podSpec,
    podLabels: labels && labels !== UNKNOWN ? labels : {},
    longRunning: LONG_RUNNING.has(kind),
  };
}

/** metadata.name when known, else the Pulumi resource name. */
export function displayName(args: { name: string; props: Record<string, any> }): string {
  const n = path(args.props, "metadata", "name");
  return typeof n === "string" && n ? n : args.name;
}

export interface ContainerRef {
  /** `container "db"` or `init container "clone"`. */
  label: string;
  container: any;
  init: boolean;
}

/** Containers and init containers of a pod spec. */
export function containersOf(podSpec: any): ContainerRef[] {
  const out: ContainerRef[] = [];
  for (const c of list(get(podSpec, "initContainers"))) {
    out.push({ label: `init container "${get(c, "name")}"`, container: c, init: true });
  }
  for (const c of list(get(podSpec, "containers"))) {
    out.push({ label: `container "${get(c, "name")}"`, container: c, init: false });
  }
  return out;
}

/** Whether a label selector (matchLabels + matchExpressions) selects pods with these labels. */
export function selectorMatches(selector: any, labels: Record<string, unknown>): boolean {
  if (!selector || selector === UNKNOWN) return false;
  const matchLabels = get(selector, "matchLabels") ?? {};
  const expressions = list(get(selector, "matchExpressions"));
  const keys = matchLabels === UNKNOWN ? [] : Object.keys(matchLabels);
  if (keys.length === 0 && expressions.length === 0) return false; // an empty selector is almost always a mistake
  for (const k of keys) if (labels[k] !== get(matchLabels, k)) return false;
  for (const e of expressions) {
    const key = get(e, "key");
    const values = list(get(e, "values"));
    const has = Object.prototype.hasOwnProperty.call(labels, key);
    switch (get(e, "operator")) {
      case "In":
        if (!has || !values.includes(labels[key])) return false;
        break;
      case "NotIn":
        if (has && values.includes(labels[key])) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** Namespace of a Kubernetes object ("default" when unset, as the default provider does). */
export function namespaceOf(props: Record<string, any>): string {
  const ns = path(props, "metadata", "namespace");
  return typeof ns === "string" && ns ? ns : "default";
}
