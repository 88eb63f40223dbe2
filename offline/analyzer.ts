/**
 * Offline runner: feeds rendered resources (no Pulumi engine, service or credentials) to the very same policy
 * functions the pack registers, with the same argument shapes (type, name, urn, props; the resource list for
 * stack policies), the same config file format as `pulumi preview --policy-pack-config`, and the same rules for
 * enforcement levels (config, else the policy's own, else the pack default "mandatory").
 */
import type {
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidation,
  ResourceValidationArgs,
  StackValidationArgs,
} from "@pulumi/policy";
import { AnyPolicy, policies as allPolicies } from "../policies/policies";

/** A resource as `renderStack` returns it (and as a hand-built test stack describes it). */
export interface RenderedResource {
  type: string;
  name: string;
  urn: string;
  parent?: string;
  dependsOn?: string[];
  /** URNs each input property depends on, when the renderer knows them. */
  propertyDependencies?: Record<string, string[]>;
  inputs: Record<string, any>;
}

export type EnforcementLevel = "advisory" | "mandatory" | "disabled";
export const ENFORCEMENT_LEVELS: EnforcementLevel[] = ["advisory", "mandatory", "disabled"];

/** Same shape as Pulumi's policy pack config file: policy name -> level, or { enforcementLevel?, ...settings }. */
export type PolicyPackConfig = Record<string, EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>)>;

export interface Violation {
  policy: string;
  level: Exclude<EnforcementLevel, "disabled">;
  /** The resource in violation; undefined when the stack as a whole is. */
  resource?: { type: string; name: string; urn: string };
  message: string;
}

export interface RunOptions {
  /** Policy config (levels and settings); validated against each policy's configSchema. */
  config?: PolicyPackConfig;
  /** Stack tags (`pulumi stack tag`), e.g. { environment: "production" }. */
  stackTags?: Record<string, string>;
  /** Policies to run; all of them by default. */
  policies?: AnyPolicy[];
}

const PACK_DEFAULT_LEVEL: EnforcementLevel = "mandatory";

interface Resolved {
  level: EnforcementLevel;
  settings: Record<string, unknown>;
}

/** Checks a policy config against the policies and their schemas; errors name the policy, key and allowed values. */
export function resolveConfig(policies: AnyPolicy[], config: PolicyPackConfig = {}): Map<string, Resolved> {
  const byName = new Map(policies.map((p) => [p.name, p]));
  for (const name of Object.keys(config)) {
    if (name !== "all" && !byName.has(name)) {
      throw new Error(`policy config names unknown policy "${name}"; policies: ${[...byName.keys()].join(", ")}`);
    }
  }
  const all = normalize("all", config["all"]);
  if (Object.keys(all.settings).length) throw new Error(`policy config "all" takes only an enforcement level`);
  const out = new Map<string, Resolved>();
  for (const p of policies) {
    const own = normalize(p.name, config[p.name]);
    const allowed = Object.keys(p.configSchema?.properties ?? {});
    for (const [key, value] of Object.entries(own.settings)) {
      const schema = p.configSchema?.properties[key];
      if (!schema) {
        throw new Error(`policy config "${p.name}.${key}" is not a setting of ${p.name}; settings: ${allowed.join(", ") || "(none)"}`);
      }
      const type = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
      if (type.length && !type.some((t) => matchesType(t, value))) {
        throw new Error(`policy config "${p.name}.${key}" is ${JSON.stringify(value)}; expected ${type.join(" or ")}`);
      }
      if (typeof value === "number" && schema.minimum !== undefined && value < schema.minimum) {
        throw new Error(`policy config "${p.name}.${key}" is ${value}; minimum is ${schema.minimum}`);
      }
    }
    out.set(p.name, { level: own.level ?? all.level ?? p.enforcementLevel as EnforcementLevel ?? PACK_DEFAULT_LEVEL, settings: own.settings });
  }
  return out;
}

function normalize(name: string, entry: PolicyPackConfig[string] | undefined): { level?: EnforcementLevel; settings: Record<string, unknown> } {
  if (entry === undefined) return { settings: {} };
  const { enforcementLevel, ...settings } = typeof entry === "string" ? { enforcementLevel: entry } : entry;
  if (enforcementLevel !== undefined && !ENFORCEMENT_LEVELS.includes(enforcementLevel)) {
    throw new Error(`policy config "${name}" has enforcement level "${enforcementLevel}"; allowed: ${ENFORCEMENT_LEVELS.join(", ")}`);
  }
  return { level: enforcementLevel, settings };
}

function matchesType(type: string, value: unknown): boolean {
  switch (type) {
    case "integer": return Number.isInteger(value);
    case "array": return Array.isArray(value);
    case "null": return value === null;
    case "object": return typeof value === "object" && value !== null && !Array.isArray(value);
    default: return typeof value === type;
  }
}

class NotApplicable extends Error {}
const notApplicable = (reason?: string): never => {
  throw new NotApplicable(reason);
};

const NO_OPTIONS = (parent?: string): PolicyResourceOptions => ({
  protect: false,
  ignoreChanges: [],
  aliases: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  additionalSecretOutputs: [],
  parent,
});

/** The type token a resource class carries (`__pulumiType`), as @pulumi/policy's isType compares it. */
const typeOf = (cls: unknown): string | undefined => (cls as { __pulumiType?: string })?.__pulumiType;

/** Rendered resources as the engine hands them to stack policies: parent and dependencies linked. */
export function toPolicyResources(rendered: RenderedResource[]): PolicyResource[] {
  const out = rendered.map((r) => ({
    type: r.type,
    name: r.name,
    urn: r.urn,
    props: r.inputs,
    opts: NO_OPTIONS(r.parent),
    dependencies: [] as PolicyResource[],
    propertyDependencies: {} as Record<string, PolicyResource[]>,
    isType: (cls: unknown) => typeOf(cls) === r.type,
    asType: (cls: unknown) => (typeOf(cls) === r.type ? r.inputs : undefined),
  })) as unknown as PolicyResource[];
  const byUrn = new Map(out.map((r) => [r.urn, r]));
  rendered.forEach((r, i) => {
    const res = out[i];
    if (r.parent && byUrn.has(r.parent)) res.parent = byUrn.get(r.parent);
    res.dependencies = (r.dependsOn ?? []).map((u) => byUrn.get(u)).filter((d): d is PolicyResource => !!d);
    for (const [prop, urns] of Object.entries(r.propertyDependencies ?? {})) {
      res.propertyDependencies[prop] = urns.map((u) => byUrn.get(u)).filter((d): d is PolicyResource => !!d);
    }
  });
  return out;
}

/** Runs every enabled policy over the rendered stack and returns the violations, mandatory first. */
export async function runPolicies(rendered: RenderedResource[], options: RunOptions = {}): Promise<Violation[]> {
  const policies = options.policies ?? allPolicies;
  const resolved = resolveConfig(policies, options.config);
  const stackTags: ReadonlyMap<string, string> = new Map(Object.entries(options.stackTags ?? {}));
  const resources = toPolicyResources(rendered);
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const violations: Violation[] = [];

  for (const policy of policies) {
    const { level, settings } = resolved.get(policy.name)!;
    if (level === "disabled") continue;
    const report = (subject?: PolicyResource) => (message: string, urn?: string) => {
      const r = urn ? byUrn.get(urn) ?? subject : subject;
      violations.push({ policy: policy.name, level, resource: r && { type: r.type, name: r.name, urn: r.urn }, message });
    };
    const getConfig = <T extends object>() => ({ ...settings }) as T;
    try {
      if ("validateStack" in policy) {
        const args: StackValidationArgs = { resources, stackTags, getConfig, notApplicable };
        await policy.validateStack(args, report());
        continue;
      }
      const validations: ResourceValidation[] = [policy.validateResource ?? []].flat();
      for (const r of resources) {
        const args: ResourceValidationArgs = {
          type: r.type,
          name: r.name,
          urn: r.urn,
          props: r.props,
          opts: r.opts,
          stackTags,
          isType: r.isType,
          asType: r.asType as ResourceValidationArgs["asType"],
          getConfig,
          notApplicable,
        };
        for (const validate of validations) {
          try {
            await validate(args, report(r));
          } catch (err) {
            if (!(err instanceof NotApplicable)) throw err;
          }
        }
      }
    } catch (err) {
      if (!(err instanceof NotApplicable)) throw new Error(`policy ${policy.name} failed: ${(err as Error).message}`);
    }
  }
  const rank = (v: Violation) => (v.level === "mandatory" ? 0 : 1);
  return violations.sort((a, b) => rank(a) - rank(b) || a.policy.localeCompare(b.policy));
}

/** Whether any violation blocks (mandatory). */
export const blocks = (violations: Violation[]): boolean => violations.some((v) => v.level === "mandatory");
