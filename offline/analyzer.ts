/**
 * The policy run without a Pulumi engine: feeds rendered resources to the very functions the pack registers, as
 * `pulumi preview --policy-pack policies` does. The engine's part and the policy host's part are done here too:
 *
 * - Config (the engine's ReconcilePolicyPackConfig, Go package pkg/resource/analyzer): the same file as
 *   `--policy-pack-config`; levels advisory, mandatory, remediate and disabled, anything else refused; each policy's
 *   config is its schema's defaults, then the file's keys, and is checked against its configSchema as JSON Schema
 *   (ajv here, gojsonschema there); "all" sets every level, a policy's own entry wins. What the engine accepts but
 *   nothing reads (a name that is no policy, a key no schema declares, settings under "all") is a warning here.
 * - Properties: top-level names starting with "__" (a dynamic resource's `__provider`) are not shown, as the engine
 *   marshals them with SkipInternalKeys (top level only). Props are wrapped in @pulumi/policy's own
 *   unknownCheckingProxy (proxy.js), so reading a value not known during preview throws its UnknownValueError; a
 *   policy that lets it escape is reported as the host does (server.js, makeAnalyzeRpcFun): advisory,
 *   "can't run policy '<name>' from policy pack '<pack>@v<version>' during preview: ...".
 * - Levels: "remediate" validates and reports as mandatory (server.js does so for validations; this pack has no
 *   remediations).
 * - Stack policies: parent, dependencies and propertyDependencies (properties with none left out) linked to the
 *   resource objects, as makeAnalyzeStackRpcFun does. One difference stays: in the CLI a stack policy sees each
 *   resource's outputs (its state after the step), here the inputs, as resource policies see them.
 */
import Ajv, { ValidateFunction } from "ajv";
import type {
  PolicyConfigSchema,
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidation,
  ResourceValidationArgs,
  StackValidationArgs,
} from "@pulumi/policy";
import { closest } from "../components/config";
import { AnyPolicy, PACK_NAME, policies as allPolicies } from "../policies/policies";
import { version as PACK_VERSION } from "../policies/package.json";

/** @pulumi/policy's proxy.js, the policy host's own unknown handling (internal to the package: no typings). */
const hostProxy = require("@pulumi/policy/proxy") as {
  unknownCheckingProxy<T extends object>(value: T): T;
  UnknownValueError: new (...args: never[]) => Error;
};

/** A resource as `renderStack` returns it (and as a hand-built test stack describes it). */
export interface RenderedResource {
  type: string;
  name: string;
  urn: string;
  parent?: string;
  dependsOn?: string[];
  /** URNs each input property depends on, as registered. */
  propertyDependencies?: Record<string, string[]>;
  /** Inputs; a value not known during preview is the SDK's unknown sentinel, as the engine passes it on. */
  inputs: Record<string, any>;
}

export type EnforcementLevel = "advisory" | "mandatory" | "remediate" | "disabled";
export const ENFORCEMENT_LEVELS: EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];

/** Same shape as Pulumi's policy pack config file: policy name -> level, or { enforcementLevel?, ...settings }. */
export type PolicyPackConfig = Record<
  string,
  EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>)
>;

export interface Violation {
  policy: string;
  level: "advisory" | "mandatory";
  /** The resource in violation; undefined when the stack as a whole is. */
  resource?: { type: string; name: string; urn: string };
  message: string;
}

export interface RunOptions {
  /** Policy config (levels and settings), reconciled as the engine does. */
  config?: PolicyPackConfig;
  /** Stack tags (`pulumi stack tag`), e.g. { environment: "production" }. */
  stackTags?: Record<string, string>;
  /** Policies to run; all of them by default. */
  policies?: AnyPolicy[];
}

/** The level the pack registers with (policies/index.ts). */
const PACK_DEFAULT_LEVEL: EnforcementLevel = "mandatory";

export interface PolicySettings {
  level: EnforcementLevel;
  /** What getConfig() returns: the schema's defaults, then the configured keys. */
  properties: Record<string, unknown>;
}

export interface ReconciledConfig {
  policies: Map<string, PolicySettings>;
  /** What the engine accepts without a word but nothing reads, each naming the entry. */
  warnings: string[];
}

/** A policy config the engine refuses; `problems` lists every one. */
export class PolicyConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid policy config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "PolicyConfigError";
  }
}

const isLevel = (value: unknown): value is EnforcementLevel => ENFORCEMENT_LEVELS.includes(value as EnforcementLevel);

/** Reconciles a policy config with the policies as the engine does before configuring the pack (module comment). */
export function reconcileConfig(policies: AnyPolicy[], config: PolicyPackConfig = {}): ReconciledConfig {
  const problems: string[] = [];
  const levels = ENFORCEMENT_LEVELS.join(", ");
  const given = new Map<string, { level?: EnforcementLevel; properties: Record<string, unknown> }>();
  for (const [name, entry] of Object.entries(config as Record<string, unknown>)) {
    if (typeof entry === "string") {
      if (isLevel(entry)) given.set(name, { level: entry, properties: {} });
      else problems.push(`"${name}": "${entry}" is not an enforcement level (${levels})`);
    } else if (entry && typeof entry === "object" && !Array.isArray(entry)) {
      const { enforcementLevel, ...properties } = entry as Record<string, unknown>;
      if (enforcementLevel === undefined || isLevel(enforcementLevel))
        given.set(name, { level: enforcementLevel, properties });
      else
        problems.push(
          `"${name}.enforcementLevel": ${JSON.stringify(enforcementLevel)} is not an enforcement level (${levels})`,
        );
    } else {
      problems.push(`"${name}": ${JSON.stringify(entry)} is neither an enforcement level nor an object`);
    }
  }
  if (problems.length) throw new PolicyConfigError(problems);

  const warnings: string[] = [];
  const byName = new Map(policies.map((p) => [p.name, p]));
  for (const [name, { properties }] of given) {
    const keys = Object.keys(properties);
    if (name === "all") {
      if (keys.length) warnings.push(`"all" sets only the enforcement level; ${keys.join(", ")} ignored`);
      continue;
    }
    const policy = byName.get(name);
    if (!policy) {
      const guess = closest(name, [...byName.keys()]);
      warnings.push(`"${name}" is not a policy of ${PACK_NAME}${guess ? ` (did you mean "${guess}"?)` : ""}; ignored`);
      continue;
    }
    const declared = Object.keys(policy.configSchema?.properties ?? {});
    for (const key of keys.filter((k) => !declared.includes(k))) {
      const guess = closest(key, declared);
      const hint = guess ? `did you mean "${guess}"?` : `settings: ${declared.join(", ") || "none"}`;
      warnings.push(`"${name}.${key}" is not a setting of ${name} (${hint}); unused`);
    }
  }

  const all = given.get("all")?.level;
  const out = new Map<string, PolicySettings>();
  for (const p of policies) {
    const own = given.get(p.name);
    const defaults = Object.entries(p.configSchema?.properties ?? {}).filter(([, s]) => s.default !== undefined);
    const properties = { ...Object.fromEntries(defaults.map(([k, s]) => [k, s.default])), ...own?.properties };
    if (p.configSchema) problems.push(...schemaErrors(p.configSchema, properties).map((e) => `${p.name}: ${e}`));
    const level = own?.level ?? all ?? (p.enforcementLevel as EnforcementLevel | undefined) ?? PACK_DEFAULT_LEVEL;
    out.set(p.name, { level, properties });
  }
  if (problems.length) throw new PolicyConfigError(problems);
  return { policies: out, warnings };
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validators = new WeakMap<PolicyConfigSchema, ValidateFunction>();

/** A policy's config checked as the engine checks it: an object with the schema's properties and required keys. */
function schemaErrors(schema: PolicyConfigSchema, properties: Record<string, unknown>): string[] {
  let validate = validators.get(schema);
  if (!validate) {
    const required = schema.required?.length ? { required: schema.required } : {};
    validate = ajv.compile({ type: "object", properties: schema.properties, ...required });
    validators.set(schema, validate);
  }
  if (validate(properties)) return [];
  const where = (path: string) => (path ? `${path.slice(1).replace(/\//g, ".")} ` : "");
  return (validate.errors ?? []).map((e) => `${where(e.instancePath)}${e.message}`);
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

/** A fresh copy, as the host deserializes each request from JSON (and in this realm: the proxy tests instanceof). */
const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value));

/** Props as the host hands them to a policy: a fresh copy without top-level `__*` names, behind the unknown proxy. */
function hostProps(inputs: Record<string, any>): Record<string, any> {
  return hostProxy.unknownCheckingProxy(
    copy(Object.fromEntries(Object.entries(inputs).filter(([key]) => !key.startsWith("__")))),
  );
}

/** Rendered resources as engine and host hand them to a policy: parent, dependencies, property dependencies linked. */
export function toPolicyResources(rendered: RenderedResource[]): PolicyResource[] {
  const out = rendered.map((r) => {
    const props = hostProps(r.inputs);
    return {
      type: r.type,
      name: r.name,
      urn: r.urn,
      props,
      opts: NO_OPTIONS(r.parent),
      dependencies: [] as PolicyResource[],
      propertyDependencies: {} as Record<string, PolicyResource[]>,
      isType: (cls: unknown) => typeOf(cls) === r.type,
      asType: (cls: unknown) => (typeOf(cls) === r.type ? props : undefined),
    };
  }) as unknown as PolicyResource[];
  const byUrn = new Map(out.map((r) => [r.urn, r]));
  const resolve = (urns: string[]) => urns.map((u) => byUrn.get(u)).filter((d): d is PolicyResource => !!d);
  rendered.forEach((r, i) => {
    const res = out[i];
    if (r.parent && byUrn.has(r.parent)) res.parent = byUrn.get(r.parent);
    res.dependencies = resolve(r.dependsOn ?? []);
    for (const [prop, urns] of Object.entries(r.propertyDependencies ?? {})) {
      if (urns.length) res.propertyDependencies[prop] = resolve(urns);
    }
  });
  return out;
}

/** Runs every enabled policy over the rendered stack and returns the violations, mandatory first. */
export async function runPolicies(rendered: RenderedResource[], options: RunOptions = {}): Promise<Violation[]> {
  const policies = options.policies ?? allPolicies;
  const reconciled = reconcileConfig(policies, options.config).policies;
  const stackTags: ReadonlyMap<string, string> = new Map(Object.entries(options.stackTags ?? {}));
  const violations: Violation[] = [];

  for (const policy of policies) {
    const { level: configured, properties } = reconciled.get(policy.name)!;
    if (configured === "disabled") continue;
    const level = configured === "remediate" ? "mandatory" : configured;
    // Each policy gets its own copy of the stack, as the host deserializes the request for each.
    const resources = toPolicyResources(rendered);
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const describe = (r?: PolicyResource) => r && { type: r.type, name: r.name, urn: r.urn };
    const report = (subject?: PolicyResource) => (message: string, urn?: string) => {
      const r = urn ? (byUrn.get(urn) ?? subject) : subject;
      violations.push({ policy: policy.name, level, resource: describe(r), message });
    };
    /** Runs one validation; what it throws is handled as the host does (server.js): unknowns reported, others fail. */
    const run = async (validate: () => void | Promise<void>, subject?: PolicyResource) => {
      try {
        await validate();
      } catch (err) {
        if (err instanceof NotApplicable) return;
        if (!(err instanceof hostProxy.UnknownValueError))
          throw new Error(`policy ${policy.name} failed: ${(err as Error).message}`);
        const from = `policy '${policy.name}' from policy pack '${PACK_NAME}@v${PACK_VERSION}'`;
        violations.push({
          policy: policy.name,
          level: "advisory",
          resource: describe(subject),
          message: `can't run ${from} during preview: ${err.message}`,
        });
      }
    };
    const getConfig = <T extends object>() => copy(properties) as T;
    if ("validateStack" in policy) {
      const args: StackValidationArgs = { resources, stackTags, getConfig, notApplicable };
      await run(() => policy.validateStack(args, report()));
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
      for (const validate of validations) await run(() => validate(args, report(r)), r);
    }
  }
  const rank = (v: Violation) => (v.level === "mandatory" ? 0 : 1);
  return violations.sort((a, b) => rank(a) - rank(b) || a.policy.localeCompare(b.policy));
}

/** Whether any violation blocks (mandatory). */
export const blocks = (violations: Violation[]): boolean => violations.some((v) => v.level === "mandatory");
