/**
 * A stack's config as the Pulumi CLI hands it to the program, read from the project's files without an engine. The
 * offline renderer evaluates the program with it; `mysql-ha <command> --stack` finds the stack's cluster and
 * settings with it (the same validation as the program's, so a bad stack fails here as `pulumi preview` would).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { ConfigValidationError, PROJECT, rawStackConfig, Settings, validateConfig } from "../components/config";
import { backupNames } from "../components/backup/kubernetes";
import { agentNames } from "../components/kubernetes/agent";
import { DATABASE_NAME } from "../components/kubernetes/names";
import { kubeconfigContents } from "../components/kubernetes/provider-access";
import { PACKAGE_ROOT } from "../components/package-root";

export const DEFAULT_PROJECT_DIR = PACKAGE_ROOT;

/** Stack names that have a Pulumi.<stack>.yaml in projectDir. */
export function listStacks(projectDir = DEFAULT_PROJECT_DIR): string[] {
  return fs
    .readdirSync(projectDir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => !!s)
    .sort();
}

/** A value of a stack file: as the CLI hands it over (objects and arrays as JSON), or encrypted (`secure:`). */
type StackValue = string | { secure: string };

const asString = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value));

function readStackFile(stack: string, projectDir: string): { file: string; values: Record<string, StackValue> } {
  const file = path.join(projectDir, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) {
    throw new Error(
      `no stack '${stack}': ${file} does not exist (stacks here: ${listStacks(projectDir).join(", ") || "none"})`,
    );
  }
  const doc = (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const values: Record<string, StackValue> = {};
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    values[key] =
      value && typeof value === "object" && "secure" in (value as object)
        ? (value as { secure: string })
        : asString(value);
  }
  return { file, values };
}

/**
 * Raw config of a stack as the Pulumi CLI hands it to the program: `mysql-ha:<key>` -> string
 * (objects and arrays as JSON), from Pulumi.<stack>.yaml plus `set` overrides.
 */
export function stackConfig(
  stack: string,
  set: Record<string, string> = {},
  projectDir = DEFAULT_PROJECT_DIR,
): Record<string, string> {
  const { file, values } = readStackFile(stack, projectDir);
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (typeof value !== "string")
      throw new Error(`${file}: ${key} is an encrypted value; the offline renderer cannot decrypt it`);
    config[key] = value;
  }
  for (const [key, value] of Object.entries(set)) {
    const [name, ...fields] = key.split(".");
    const full = name.includes(":") ? name : `${PROJECT}:${name}`;
    if (fields.length === 0) config[full] = value;
    else config[full] = JSON.stringify(setPath(config[full], fields, value, key));
  }
  return config;
}

/**
 * `pulumi config set --path a.b.c value`: sets one field inside an object-valued key (kept as JSON), creating the
 * objects on the way; the value is a string, as the CLI stores it without --type.
 */
function setPath(current: string | undefined, fields: string[], value: string, key: string): Record<string, unknown> {
  let root: unknown;
  try {
    root = current === undefined ? {} : JSON.parse(current);
  } catch {
    root = undefined;
  }
  if (!root || typeof root !== "object" || Array.isArray(root))
    throw new Error(`--set ${key}: ${key.split(".")[0]} is not an object`);
  let node = root as Record<string, unknown>;
  for (const field of fields.slice(0, -1)) {
    if (!field) throw new Error(`--set ${key}: empty field name`);
    const next = node[field];
    node = (next && typeof next === "object" && !Array.isArray(next) ? next : (node[field] = {})) as Record<
      string,
      unknown
    >;
  }
  const last = fields[fields.length - 1];
  if (!last) throw new Error(`--set ${key}: empty field name`);
  node[last] = value;
  return root as Record<string, unknown>;
}

/**
 * The values Pulumi.yaml gives keys the stack file does not set (a declared `default`, or a plain value), keyed as
 * stack config is: the CLI hands them to the program the same way.
 */
function projectValues(projectDir: string): Record<string, string> {
  const file = path.join(projectDir, "Pulumi.yaml");
  if (!fs.existsSync(file)) return {};
  const doc = (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as { name?: string; config?: Record<string, unknown> };
  const out: Record<string, string> = {};
  for (const [key, spec] of Object.entries(doc.config ?? {})) {
    const full = key.includes(":") ? key : `${doc.name ?? PROJECT}:${key}`;
    const declared = spec && typeof spec === "object" && !Array.isArray(spec) && ("type" in spec || "default" in spec);
    const value = declared ? (spec as { default?: unknown }).default : spec;
    if (value !== undefined) out[full] = asString(value);
  }
  return out;
}

/** What `mysql-ha <command> --stack` needs of a stack: its validated settings and the cluster it deploys to. */
export interface ClusterStack {
  stack: string;
  /** The stack file. */
  file: string;
  settings: Settings;
  /** kubernetes:kubeconfig's contents (the file it names, read), when the stack sets it and it was asked for. */
  kubeconfig?: string;
  /** kubernetes:context, when the stack sets it. */
  context?: string;
  /** The Lease of the stack's failover agents. */
  agentLease: string;
  /** The backup CronJob (its BACKUP_URL is the stack's backup location) and the Secret of static S3 keys. */
  backup: { cronJob: string; credentialsSecret: string };
}

/**
 * The stack's settings (Pulumi.<stack>.yaml over Pulumi.yaml, validated as the program validates them) and its
 * cluster (kubernetes:kubeconfig, kubernetes:context, as the Kubernetes provider reads them). `readKubeconfig`
 * false: the caller has a kubeconfig of its own, so the stack's is neither read nor needed in clear.
 */
export function clusterStack(
  stack: string,
  options: { projectDir?: string; readKubeconfig?: boolean } = {},
): ClusterStack {
  const projectDir = options.projectDir ?? DEFAULT_PROJECT_DIR;
  const { file, values } = readStackFile(stack, projectDir);
  const all: Record<string, StackValue> = { ...projectValues(projectDir), ...values };
  const plain: Record<string, string> = {};
  for (const [key, value] of Object.entries(all)) {
    if (typeof value === "string") plain[key] = value;
    // The program's own keys are never secrets ("passwords are never config"); other providers' may be, unneeded.
    else if (key.startsWith(`${PROJECT}:`))
      throw new Error(`${file}: ${key} is encrypted (secure), which this command cannot decrypt`);
  }
  const { settings, errors } = validateConfig(rawStackConfig(plain));
  if (!settings) throw new ConfigValidationError(errors);
  const readKubeconfig = options.readKubeconfig ?? true;
  if (readKubeconfig && typeof all["kubernetes:kubeconfig"] === "object") {
    throw new Error(
      `${file}: kubernetes:kubeconfig is encrypted (secure), which this command cannot decrypt: give the kubeconfig with --kubeconfig FILE`,
    );
  }
  // A relative path is the project directory's, where `pulumi up` runs the program.
  const read = (file: string) => fs.readFileSync(path.resolve(projectDir, file), "utf8");
  const kubeconfig =
    readKubeconfig && plain["kubernetes:kubeconfig"]
      ? kubeconfigContents(plain["kubernetes:kubeconfig"], read)
      : undefined;
  const context = plain["kubernetes:context"] || undefined;
  return {
    stack,
    file,
    settings,
    ...(kubeconfig !== undefined ? { kubeconfig } : {}),
    ...(context ? { context } : {}),
    agentLease: agentNames(DATABASE_NAME).lease,
    backup: backupNames(DATABASE_NAME),
  };
}
