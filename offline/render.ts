/**
 * Offline evaluator: runs the real Pulumi program (index.ts) under `pulumi.runtime.setMocks` with a stack's
 * config and returns every registered resource (type, name, URN, parent, dependencies, inputs) and the stack
 * outputs, with every secret value replaced by "[secret]".
 *
 * In-process and repeatable: each call resets the mocks and config, evaluates a fresh copy of index.ts (its
 * source is transpiled and run again; the modules it imports stay loaded), and waits for every registration.
 * Calls are serialized (the Pulumi runtime is process-global), so concurrent callers simply queue.
 * Invalid config is reported (every message, in `errors`) without evaluating the program.
 *
 * dependsOn is not passed to Pulumi mocks, so the mock monitor's registerResource is wrapped to read the
 * request itself: parent URN, the dependency URNs the engine would order the resource after (explicit dependsOn
 * plus the resources its inputs came from), and which of those each input property came from.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import * as ts from "typescript";
import * as pulumi from "@pulumi/pulumi";
import type { MockResourceArgs } from "@pulumi/pulumi/runtime/mocks";
import { specialResourceSig, specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";
import type { ConfigValidationError } from "../components/config";
import { PROJECT, rawStackConfig, validateConfig } from "../components/config";
import { CODE_ROOT, PACKAGE_ROOT } from "../components/package-root";
import { DEFAULT_PROJECT_DIR, stackConfig } from "./stack";
import { asConfiguredOutputs } from "../components/providers/inputs";
import { PRIMARY_PLACEMENT_TYPE, REPLICATION_TOPOLOGY_TYPE } from "../components/providers/resources";

export type { MockResourceArgs };

/** What `onResource` may return for one resource: its id and output state (undefined: default mock). */
export type MockResult = { id: string; state: Record<string, any> } | undefined;

export interface RenderOptions {
  /** Stack name: config comes from `Pulumi.<stack>.yaml` in projectDir. */
  stack: string;
  /** Overrides, like `pulumi config set`: key (`replicas` or `mysql-ha:replicas`) -> value as typed. */
  set?: Record<string, string>;
  /** Directory with Pulumi.yaml, the stack files and the program (default: the repository root). */
  projectDir?: string;
  /**
   * Called for every resource before the default mock; return a result to supply its id and state
   * (e.g. run a dynamic provider for real), or undefined for the default (state = inputs, known passwords).
   */
  onResource?: (r: MockResourceArgs) => Promise<MockResult>;
  /** Evaluate as a preview (pulumi.runtime.isDryRun() is true). Default false. */
  preview?: boolean;
}

export interface RenderedResource {
  /** Type token, e.g. `kubernetes:apps/v1:StatefulSet`. */
  type: string;
  /** Pulumi resource name, e.g. `mysql-statefulset`. */
  name: string;
  urn: string;
  /** URN of the parent resource (the Stack for top-level resources). */
  parent?: string;
  /** URNs this resource is ordered after: explicit dependsOn and the resources its inputs depend on. */
  dependsOn: string[];
  /** Per input property, the URNs of the resources its value came from (as registered; may be empty). */
  propertyDependencies: Record<string, string[]>;
  /**
   * Inputs as sent to the engine, secrets redacted. In a preview, a value not known yet is the SDK's unknown
   * sentinel (`unknownValue` of @pulumi/pulumi/runtime/rpc), as the engine passes it on to policies.
   */
  inputs: Record<string, any>;
  /** True for custom (provider) resources, false for components and the stack. */
  custom: boolean;
  /** The customTimeouts resource option, when set (e.g. `{ create: "60m" }`). */
  customTimeouts?: { create?: string; update?: string; delete?: string };
}

export interface RenderedStack {
  stack: string;
  /** In registration order (the Stack resource first). */
  resources: RenderedResource[];
  /** Stack outputs, secrets redacted. */
  outputs: Record<string, any>;
  /** Config validation messages or evaluation errors; empty on success. */
  errors: string[];
  /** The program's warnings (pulumi.log.warn), each once. */
  warnings: string[];
}

/**
 * Warnings this process printed already: a program evaluated many times in one process (the bench, tests) prints
 * each warning once, not once per evaluation.
 */
const printedWarnings = new Set<string>();
/** Under mocks there is no engine, so the SDK prints pulumi.log.warn with console.warn and this prefix. */
const SDK_WARNING = "warning: [runtime] ";

/** Placeholder written wherever a secret value was. */
export const REDACTED = "[secret]";

// Reading a stack's config lives in stack.ts (no Pulumi SDK there): `mysql-ha <command> --stack` uses it too.
export { DEFAULT_PROJECT_DIR, listStacks, stackConfig } from "./stack";

/** Replaces secret markers and known secret strings anywhere in a serialized value (unknowns stay as they are). */
function clean(value: any, secrets: Set<string>): any {
  if (typeof value === "string") {
    let out = value;
    for (const s of secrets) if (s && out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => clean(v, secrets));
  if (value && typeof value === "object") {
    if (value[specialSigKey] === specialSecretSig) return redactLeaves(value.value);
    if (value[specialSigKey] === specialResourceSig) return value.urn;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clean(v, secrets)]));
  }
  return value;
}

/** Keeps the shape of a secret value (so a Secret's stringData stays a map) and hides every known scalar. */
function redactLeaves(value: any): any {
  if (Array.isArray(value)) return value.map(redactLeaves);
  if (value && typeof value === "object" && value[specialSigKey] === undefined) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactLeaves(v)]));
  }
  return value === unknownValue ? value : REDACTED;
}

/**
 * A module of this package as the running code has it: its compiled twin in dist/ when the renderer runs compiled
 * (so the program and the renderer share one copy of each module, and nothing needs TypeScript), else the file.
 */
function asRunning(file: string): string {
  const relative = path.relative(PACKAGE_ROOT, file);
  return relative.startsWith("..") || path.isAbsolute(relative) ? file : path.join(CODE_ROOT, relative);
}

/** Transpiles and runs the program file once, with `require` resolving relative to its directory. */
function evaluateProgram(file: string): Record<string, unknown> {
  const source = fs.readFileSync(file, "utf8");
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: file,
  }).outputText;
  const dir = path.dirname(file);
  const localRequire = (id: string) => require(id.startsWith(".") ? asRunning(path.resolve(dir, id)) : id);
  const module = { exports: {} as Record<string, unknown> };
  new Function("exports", "require", "module", "__filename", "__dirname", js)(
    module.exports,
    localRequire,
    module,
    file,
    dir,
  );
  return module.exports;
}

let queue: Promise<unknown> = Promise.resolve();

/** Evaluates the program for one stack; see the module comment. Never throws for config or program errors. */
export function renderStack(opts: RenderOptions): Promise<RenderedStack> {
  const run = queue.then(() => renderNow(opts));
  queue = run.catch(() => undefined);
  return run;
}

async function renderNow(opts: RenderOptions): Promise<RenderedStack> {
  const projectDir = path.resolve(opts.projectDir ?? DEFAULT_PROJECT_DIR);
  const result: RenderedStack = { stack: opts.stack, resources: [], outputs: {}, errors: [], warnings: [] };
  let config: Record<string, string>;
  try {
    config = stackConfig(opts.stack, opts.set, projectDir);
  } catch (err) {
    result.errors.push((err as Error).message);
    return result;
  }

  // Invalid config: report every problem without evaluating (the program would throw the same list).
  const { errors: configErrors } = validateConfig(rawStackConfig(config));
  if (configErrors.length > 0) {
    result.errors = configErrors.map((e) => e.message);
    return result;
  }

  // Known stand-ins for generated secrets, so every copy of them can be found and redacted.
  const secrets = new Set<string>();
  let counter = 0;
  const mocks: pulumi.runtime.Mocks = {
    async newResource(args) {
      const state: Record<string, any> = { ...args.inputs };
      try {
        const supplied = opts.onResource ? await opts.onResource(args) : undefined;
        if (supplied) return supplied;
      } catch (err) {
        // A rejected registration leaves the SDK waiting forever; record the failure and carry on with the inputs
        // alone so the evaluation ends and reports it.
        result.errors.push(`${args.type} ${args.name}: ${describe(err)}`);
        return { id: `${args.name}-failed`, state };
      }
      // Replication resources: a healthy topology as configured, the primary where the config puts it.
      if (args.type === PRIMARY_PLACEMENT_TYPE || args.type === REPLICATION_TOPOLOGY_TYPE)
        Object.assign(state, asConfiguredOutputs(args.inputs));
      if (args.type === "random:index/randomPassword:RandomPassword") {
        const value = `mockSecret${++counter}x${Math.random().toString(36).slice(2, 10)}`;
        secrets.add(value);
        state.result = value;
      }
      // The stack's certificates (@pulumi/tls): PEM-shaped stand-ins; keys are secrets like the passwords.
      if (args.type === "tls:index/privateKey:PrivateKey") {
        const value = `-----BEGIN PRIVATE KEY-----\nmockKey${++counter}x${Math.random().toString(36).slice(2, 10)}\n-----END PRIVATE KEY-----\n`;
        secrets.add(value);
        state.privateKeyPem = value;
      }
      if (
        args.type === "tls:index/selfSignedCert:SelfSignedCert" ||
        args.type === "tls:index/locallySignedCert:LocallySignedCert"
      ) {
        state.certPem = `-----BEGIN CERTIFICATE-----\nmock certificate of ${args.name}\n-----END CERTIFICATE-----\n`;
      }
      if (args.type === "tls:index/certRequest:CertRequest") {
        state.certRequestPem = `-----BEGIN CERTIFICATE REQUEST-----\nmock request of ${args.name}\n-----END CERTIFICATE REQUEST-----\n`;
      }
      return { id: `${args.name}-id`, state };
    },
    call: (args) => args.inputs,
  };

  await pulumi.runtime.setMocks(mocks, PROJECT, opts.stack, opts.preview ?? false);
  pulumi.runtime.setAllConfig(config, []);

  const settings = require("@pulumi/pulumi/runtime/settings");
  const monitor = settings.getMonitor() as any;
  const raw: Array<{
    urn?: string;
    type: string;
    name: string;
    parent: string;
    deps: string[];
    propertyDeps: Record<string, string[]>;
    object: any;
    custom: boolean;
    timeouts?: any;
  }> = [];
  let stackOutputs: any = {};
  const registerResource = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: (err: any, res: any) => void) => {
    const entry = {
      type: req.getType(),
      name: req.getName(),
      parent: req.getParent(),
      deps: req.getDependenciesList() as string[],
      propertyDeps: Object.fromEntries(
        [...req.getPropertydependenciesMap().entries()].map(([k, v]: [string, any]) => [k, v.getUrnsList()]),
      ),
      object: req.getObject()?.toJavaScript() ?? {},
      custom: req.getCustom(),
      urn: undefined as string | undefined,
      timeouts: req.getCustomtimeouts()?.toObject(),
    };
    raw.push(entry);
    return registerResource(req, (err: any, res: any) => {
      if (err) result.errors.push(`${entry.type} ${entry.name}: ${err.message ?? err}`);
      else entry.urn = res.getUrn();
      callback(err, res);
    });
  };
  const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
  monitor.registerResourceOutputs = (req: any, callback: (err: any, res: any) => void) => {
    if (req.getUrn().includes("::pulumi:pulumi:Stack::")) stackOutputs = req.getOutputs()?.toJavaScript() ?? {};
    return registerOutputs(req, callback);
  };

  // A program error also rejects promises the SDK derives from the stack (its outputs); those surface as
  // unhandled rejections a moment later. Collect them (once per error) instead of crashing the process.
  const seen = new Set<unknown>();
  const report = (err: unknown) => {
    if (seen.has(err)) return;
    seen.add(err);
    result.errors.push(
      ...((err as Error)?.name === "ConfigValidationError"
        ? (err as ConfigValidationError).errors.map((e) => e.message)
        : [describe(err)]),
    );
  };
  process.on("unhandledRejection", report);
  const consoleWarn = console.warn;
  console.warn = (...args: unknown[]) => {
    const text = args.map(String).join(" ");
    if (!text.startsWith(SDK_WARNING)) return consoleWarn(...args);
    const message = text.slice(SDK_WARNING.length);
    if (!result.warnings.includes(message)) result.warnings.push(message);
    if (printedWarnings.has(message)) return;
    printedWarnings.add(message);
    consoleWarn(...args);
  };
  try {
    const main = programFile(projectDir);
    await pulumi.runtime.runInPulumiStack(async () => evaluateProgram(main));
    await settings.waitForRPCs();
  } catch (err) {
    report(err);
    await settings.waitForRPCs().catch(() => undefined);
  } finally {
    await new Promise((resolve) => setImmediate(resolve));
    process.off("unhandledRejection", report);
    console.warn = consoleWarn;
  }

  result.resources = raw.map((r) => ({
    type: r.type,
    name: r.name,
    urn: r.urn ?? "",
    ...(r.parent ? { parent: r.parent } : {}),
    dependsOn: r.deps,
    propertyDependencies: r.propertyDeps,
    inputs: clean(r.object, secrets),
    custom: r.custom,
    ...(r.timeouts && (r.timeouts.create || r.timeouts.update || r.timeouts.pb_delete)
      ? {
          customTimeouts: {
            create: r.timeouts.create || undefined,
            update: r.timeouts.update || undefined,
            delete: r.timeouts.pb_delete || undefined,
          },
        }
      : {}),
  }));
  result.outputs = clean(stackOutputs, secrets);
  result.errors = result.errors.map((e) => clean(e, secrets));
  return result;
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The program named by Pulumi.yaml `main` (default index.ts). */
function programFile(projectDir: string): string {
  const project = yaml.load(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8")) as { main?: string };
  const main = path.resolve(projectDir, project.main ?? "index.ts");
  return fs.statSync(main).isDirectory() ? path.join(main, "index.ts") : main;
}

/** Kubernetes objects among the rendered resources: full manifests (apiVersion, kind, metadata, ...). */
export function kubernetesManifests(
  rendered: RenderedStack,
): Array<{ resource: RenderedResource; manifest: Record<string, any> }> {
  return rendered.resources
    .filter((r) => r.type.startsWith("kubernetes:") && r.inputs.kind)
    .map((r) => ({ resource: r, manifest: r.inputs }));
}
