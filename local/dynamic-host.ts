/**
 * Runs Pulumi dynamic providers the way `pulumi up/preview/refresh/destroy` does, without the Pulumi CLI: the
 * provider travels as the `__provider` string the SDK serializes, and a separate plain Node process
 * (dynamic-host-child.js, modelled on @pulumi/pulumi/cmd/dynamic-provider) deserializes it with require-from-string
 * and calls check/diff/create/update/read/delete. As under Pulumi, that process runs in the project directory and
 * every property bag crosses as a protobuf Struct. This side plays the engine: it keeps each resource's state,
 * decides create / update / same from check and diff, and stores secret properties encrypted, as a checkpoint does.
 * Used by the provider tests and by `npm run demo` (through the program's onResource hook).
 */
import { ChildProcess, fork } from "node:child_process";
import { createCipheriv, randomBytes } from "node:crypto";
import * as path from "node:path";
import { PACKAGE_ROOT } from "../components/package-root";
import type * as pulumi from "@pulumi/pulumi";
import { specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";
import type { Struct as StructType } from "google-protobuf/google/protobuf/struct_pb";

const PROVIDER_KEY = "__provider";
const PROJECT_ROOT = PACKAGE_ROOT;
// The SDK's own protobuf (not a dependency of this project), as the engine's gRPC messages to the real host use.
const Struct: typeof StructType = require(
  require.resolve("google-protobuf/google/protobuf/struct_pb", {
    paths: [path.dirname(require.resolve("@pulumi/pulumi/package.json"))],
  }),
).Struct;

type Props = Record<string, any>;

/** The provider as the SDK's dynamic.Resource serializes it into `__provider`. */
export async function serializeProvider(provider: pulumi.dynamic.ResourceProvider): Promise<string> {
  // Same call as @pulumi/pulumi/dynamic (serializeFunctionMaybeSecret); loaded lazily like there.
  const pulumiRuntime: typeof pulumi.runtime = require("@pulumi/pulumi").runtime;
  const serialized = await pulumiRuntime.serializeFunction(() => provider, { allowSecrets: true });
  return serialized.text;
}

export interface CheckFailure {
  property: string;
  reason: string;
}

export interface DiffResponse {
  changes?: boolean;
  replaces: string[];
  deleteBeforeReplace: boolean;
}

/** One resource as the checkpoint holds it; secrets are plaintext here, encrypted in checkpoint(). */
interface ResourceState {
  type: string;
  id: string;
  inputs: Props;
  outputs: Props;
  secrets: Set<string>;
}

export interface Declaration {
  /** Resource type, e.g. "pulumi-nodejs:dynamic:ReplicationTopology". */
  type: string;
  /** Serialized provider (the `__provider` input). */
  provider: string;
  /** Inputs without `__provider`; values may be `unknownValue` (@pulumi/pulumi/runtime/rpc) (or the SDK mocks' Unknown objects) in preview, or SDK secret wrappers. */
  inputs: Props;
  /** Properties to keep secret in state besides secret inputs (the resource's additionalSecretOutputs). */
  secretOutputs?: string[];
}

export interface StepResult {
  op: "create" | "update" | "same";
  /** Resource id (empty in a preview of a create). */
  id: string;
  /** The diff that led to the step (absent on create). */
  diff?: DiffResponse;
  /** Inputs after check (e.g. with the provider's computed `plan`). */
  inputs: Props;
  /** Outputs: real after up; in preview what the engine shows (inputs for a create or update). */
  outputs: Props;
}

export class DynamicProviderError extends Error {}

/** The engine side: one child host process, the states of the resources it manages. */
export class DynamicHost {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private readonly resources = new Map<string, ResourceState>();
  private readonly key = randomBytes(32);

  private constructor(private readonly child: ChildProcess) {
    child.on(
      "message",
      (msg: { seq: number; result?: Props; structs?: Record<string, string>; error?: { message: string } }) => {
        const waiter = this.pending.get(msg.seq);
        if (!waiter) return;
        this.pending.delete(msg.seq);
        if (msg.error) waiter.reject(new DynamicProviderError(msg.error.message));
        else waiter.resolve({ ...msg.result, ...mapValues(msg.structs ?? {}, fromStruct) });
      },
    );
    child.on("exit", (code, signal) => {
      for (const waiter of this.pending.values())
        waiter.reject(new Error(`dynamic provider host exited (${signal ?? code})`));
      this.pending.clear();
    });
  }

  /**
   * Starts the host process in the project directory, as the engine starts Pulumi's own host; `cwd` runs it
   * elsewhere (another copy of the project, or not a project at all).
   * `log` receives the host's stdout/stderr lines (what the Pulumi CLI shows as provider diagnostics); `fork`
   * starts it through another program (execPath, execArgv before Node's own path).
   */
  static async start(
    options: { cwd?: string; log?: (line: string) => void; fork?: { execPath: string; execArgv: string[] } } = {},
  ): Promise<DynamicHost> {
    const child = fork(path.join(PACKAGE_ROOT, "local", "dynamic-host-child.js"), [], {
      cwd: options.cwd ?? PROJECT_ROOT,
      execArgv: [],
      // e.g. in a pod network (local/pod-network.ts), so the providers reach members by name.
      ...options.fork,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    const log = options.log ?? (() => undefined);
    for (const stream of [child.stdout, child.stderr]) {
      let buffered = "";
      stream?.on("data", (chunk: Buffer) => {
        buffered += chunk.toString("utf8");
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        lines.forEach((line) => log(line));
      });
    }
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", () => resolve());
      child.once("error", reject);
    });
    return new DynamicHost(child);
  }

  private call<T>(method: string, id: string | undefined, structs: Record<string, Props>): Promise<T> {
    const seq = ++this.seq;
    // Encoded before the promise: a property bag protobuf cannot carry (e.g. with `undefined`) throws to the caller.
    const encoded = mapValues(structs, toStruct);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.child.send({ seq, method, id, structs: encoded });
    });
  }

  // The provider RPCs, one to one with the dynamic provider host's gRPC methods.
  check(olds: Props, news: Props): Promise<{ inputs: Props; failures: CheckFailure[] }> {
    return this.call("check", undefined, { olds, news });
  }
  diff(id: string, olds: Props, news: Props): Promise<DiffResponse> {
    return this.call("diff", id, { olds, news });
  }
  create(props: Props): Promise<{ id: string; outs: Props }> {
    return this.call("create", undefined, { props });
  }
  update(id: string, olds: Props, news: Props): Promise<{ outs: Props }> {
    return this.call("update", id, { olds, news });
  }
  read(id: string, props: Props): Promise<{ id: string; props: Props; inputs?: Props }> {
    return this.call("read", id, { props });
  }
  delete(id: string, props: Props): Promise<void> {
    return this.call("delete", id, { props });
  }

  /** `pulumi up` for one resource: check, then create, or diff and update (or nothing). */
  async up(name: string, decl: Declaration): Promise<StepResult> {
    return this.step(name, decl, false);
  }

  /** `pulumi preview` for one resource: check and diff only; outputs are what the engine would show. */
  async preview(name: string, decl: Declaration): Promise<StepResult> {
    return this.step(name, decl, true);
  }

  private async step(name: string, decl: Declaration, dryRun: boolean): Promise<StepResult> {
    const { values, secrets } = unwrapSecrets(decl.inputs);
    for (const key of decl.secretOutputs ?? []) secrets.add(key);
    const news = { ...values, [PROVIDER_KEY]: decl.provider };
    const old = this.resources.get(name);
    const checked = await this.check(old?.inputs ?? {}, news);
    if (checked.failures.length > 0) {
      throw new DynamicProviderError(
        `${name}: invalid inputs: ${checked.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`,
      );
    }
    const inputs = checked.inputs;
    if (!old) {
      if (dryRun) return { op: "create", id: "", inputs, outputs: inputs };
      const created = await this.create(inputs);
      this.resources.set(name, { type: decl.type, id: created.id, inputs, outputs: created.outs, secrets });
      return { op: "create", id: created.id, inputs, outputs: created.outs };
    }
    const diff = await this.diff(old.id, old.outputs, inputs);
    if (diff.replaces.length > 0)
      throw new DynamicProviderError(`${name}: the provider asked to replace ${diff.replaces.join(", ")}`);
    if (diff.changes === false) {
      if (!dryRun) this.resources.set(name, { ...old, inputs, secrets });
      return { op: "same", id: old.id, diff, inputs, outputs: old.outputs };
    }
    if (dryRun) return { op: "update", id: old.id, diff, inputs, outputs: inputs };
    const updated = await this.update(old.id, old.outputs, inputs);
    this.resources.set(name, { ...old, inputs, outputs: updated.outs, secrets });
    return { op: "update", id: old.id, diff, inputs, outputs: updated.outs };
  }

  /** `pulumi refresh` for one resource: read, and keep what the provider returns. */
  async refresh(name: string): Promise<Props> {
    const old = this.mustGet(name);
    const read = await this.read(old.id, old.outputs);
    this.resources.set(name, { ...old, id: read.id, outputs: read.props, inputs: read.inputs ?? old.inputs });
    return read.props;
  }

  /** `pulumi destroy` for one resource. */
  async destroy(name: string): Promise<void> {
    const old = this.mustGet(name);
    await this.delete(old.id, old.outputs);
    this.resources.delete(name);
  }

  /** Current outputs of a resource (plaintext, in memory only). */
  outputs(name: string): Props | undefined {
    return this.resources.get(name)?.outputs;
  }

  /**
   * The state as a checkpoint file would hold it: secret properties (secret inputs and secretOutputs) encrypted
   * with this host's key and wrapped in the SDK's secret signature.
   */
  checkpoint(): string {
    const resources = [...this.resources.entries()].map(([name, r]) => ({
      type: r.type,
      name,
      id: r.id,
      inputs: this.sealSecrets(r.inputs, r.secrets),
      outputs: this.sealSecrets(r.outputs, r.secrets),
    }));
    return JSON.stringify({ version: 3, resources }, null, 2);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      this.child.disconnect();
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
  }

  private mustGet(name: string): ResourceState {
    const state = this.resources.get(name);
    if (!state) throw new Error(`no resource named ${name} in this host's state`);
    return state;
  }

  private sealSecrets(props: Props, secrets: Set<string>): Props {
    const sealed: Props = {};
    for (const [key, value] of Object.entries(props)) {
      if (!secrets.has(key) || value === undefined) {
        sealed[key] = value;
        continue;
      }
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", this.key, iv);
      const body = Buffer.concat([cipher.update(JSON.stringify(value), "utf8"), cipher.final()]);
      sealed[key] = {
        [specialSigKey]: specialSecretSig,
        ciphertext: Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64"),
      };
    }
    return sealed;
  }
}

/**
 * The inputs as the engine sends them to a provider that does not accept secrets: the SDK dropped keys whose value
 * is undefined, secrets are unwrapped (their top-level keys remembered), and the SDK mocks' Unknown objects become
 * the engine's unknown sentinel.
 */
function unwrapSecrets(inputs: Props): { values: Props; secrets: Set<string> } {
  const values: Props = {};
  const secrets = new Set<string>();
  for (const [key, value] of Object.entries(inputs)) {
    if (value === undefined) continue;
    let secret = false;
    values[key] = engineValue(value, () => (secret = true));
    if (secret) secrets.add(key);
  }
  return { values, secrets };
}

function engineValue(value: any, onSecret: () => void): any {
  if (!value || typeof value !== "object") return value;
  if (value[specialSigKey] === specialSecretSig) {
    onSecret();
    return engineValue(value.value, onSecret);
  }
  if (value.__pulumiUnknown === true) return unknownValue;
  if (Array.isArray(value)) return value.map((v) => engineValue(v, onSecret));
  return Object.fromEntries(
    Object.entries(value).flatMap(([k, v]) => (v === undefined ? [] : [[k, engineValue(v, onSecret)]])),
  );
}

/** A property bag as the gRPC messages between engine and host carry it (google.protobuf.Struct, base64 here). */
function toStruct(props: Props): string {
  return Buffer.from(Struct.fromJavaScript(props).serializeBinary()).toString("base64");
}

function fromStruct(base64: string): Props {
  return Struct.deserializeBinary(Buffer.from(base64, "base64")).toJavaScript();
}

function mapValues<A, B>(record: Record<string, A>, fn: (value: A) => B): Record<string, B> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, fn(value)]));
}
