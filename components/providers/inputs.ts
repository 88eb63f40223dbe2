/**
 * Inputs and outputs of the two replication resources, and their validation (the providers' `check`). Pure: no
 * database; of Pulumi only the SDK's unknown sentinel. Both resources take the same inputs; they differ in what they do with them.
 */
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { CONNECTOR_KINDS, ConnectorSpec, parseHostPort, PrimaryObjects } from "../connectors";
import { ACCOUNT_ROLES, FLAVORS, flavorNamed } from "../replication";
import type { Account, EngineSettings } from "../replication";

/** Bumped when the providers' behaviour changes, so existing stacks get an update that re-converges. */
export const PROVIDER_VERSION = "2";

/** Properties kept secret in state: passed to additionalSecretOutputs and wrapped with pulumi.secret. */
export const SECRET_PROPERTIES = ["adminPassword", "replicationPassword", "kubeconfig", "accounts"];

export interface ReplicationInputs {
  /** Version of the provider code that last ran (see PROVIDER_VERSION). */
  providerVersion: string;
  /** Database flavor (config flavor): the engine's statements and GTID arithmetic. */
  flavor: string;
  /** Number of members (StatefulSet replicas). */
  replicas: number;
  /** Ordinal the config wants as primary. */
  primary: number;
  semiSync: boolean;
  semiSyncTimeoutMs: number;
  /** Promote a replica when the primary is unreachable. */
  autoFailover: boolean;
  /** Deadline of one operation (setup, switchover, failover). */
  operationTimeoutSeconds: number;
  /** How to reach the members. The Kubernetes connector's kubeconfig travels separately, as a secret. */
  connector: ConnectorSpec;
  /**
   * Kubeconfig (secret) for the Kubernetes connector and for pointing the primary objects; default: the usual lookup
   * in the provider's process. The program passes the Kubernetes provider's own (`kubernetes:kubeconfig`).
   */
  kubeconfig?: string;
  /** The objects that name the primary, moved right after every switchover or failover (connectors/primary-objects). */
  primaryObjects?: Omit<PrimaryObjects, "kubeconfig">;
  adminUser: string;
  adminPassword: string;
  replicationUser: string;
  replicationPassword: string;
  /** Least-privilege accounts the engine keeps on every up (secret: they carry passwords). */
  accounts?: Account[];
  /**
   * TLS of the members (public: the CA certificate and where it is on the members): the engine verifies every member
   * as its DNS name (the connector's replicationHost) and replication verifies the source. Absent: plain text.
   */
  tls?: ProviderTls;
  /** Set by check: what `up` will do, in words (shown by preview as a change of this property). */
  plan?: string;
}

/** What the providers get of TLS: the CA's PEM, its path on the members, and each member's certificate (public). */
export interface ProviderTls {
  ca: string;
  caPath: string;
  /** The certificate member `ordinal` must serve (PEM): a renewed one is loaded with FLUSH SSL. */
  certificates?: string[];
}

/** The engine settings every mysql-ha provider derives from its inputs; `log` goes to the provider's stderr. */
export function engineSettingsOf(
  inputs: Pick<ReplicationInputs, "flavor" | "adminUser" | "adminPassword" | "replicationUser" | "replicationPassword" | "accounts" | "semiSync" | "semiSyncTimeoutMs" | "operationTimeoutSeconds" | "tls">,
  log: (line: string) => void,
): EngineSettings {
  return {
    // State written before the flavor was an input lacks it: those stacks all ran mariadb, the only flavor then.
    flavor: flavorNamed(inputs.flavor ?? "mariadb"),
    admin: { user: inputs.adminUser, password: inputs.adminPassword },
    replication: { user: inputs.replicationUser, password: inputs.replicationPassword },
    accounts: inputs.accounts,
    semiSync: inputs.semiSync,
    semiSyncTimeoutMs: inputs.semiSyncTimeoutMs,
    deadlineMs: inputs.operationTimeoutSeconds * 1000,
    ...(inputs.tls ? { tls: { ca: inputs.tls.ca, caPath: inputs.tls.caPath } } : {}),
    log,
  };
}

/** One member as the outputs show it (no credentials, no connection details beyond the address). */
export interface MemberSummary {
  ordinal: number;
  role: "primary" | "replica" | "unknown";
  reachable: boolean;
  /** Executed GTID set (MariaDB gtid_current_pos). */
  gtid: string;
  lagSeconds: number | null;
  errantGtids: string[];
  /** Why the member is unreachable, when it is. */
  error?: string;
}

export interface ReplicationOutputs extends ReplicationInputs {
  /** Ordinal of the current primary; -1 when there is none (all down, split brain). */
  primaryOrdinal: number;
  members: MemberSummary[];
  /** Executed GTID set by ordinal ("" when unknown). */
  gtidPositions: string[];
  healthy: boolean;
  /** What the last create/update did, in words; after refresh: what `up` would do now. */
  plan: string;
}

export interface CheckFailure {
  property: string;
  reason: string;
}

/** Inputs whose change alone is a reason to update (the computed `plan` is not one). */
export const COMPARED_INPUTS: Array<keyof ReplicationInputs> = [
  "providerVersion", "flavor", "replicas", "primary", "semiSync", "semiSyncTimeoutMs", "autoFailover",
  "operationTimeoutSeconds", "connector", "kubeconfig", "primaryObjects", "adminUser", "adminPassword", "replicationUser", "replicationPassword", "accounts", "tls",
];

export function isUnknown(value: unknown): boolean {
  // What the engine passes for an input it does not know yet (preview).
  if (value === unknownValue) return true;
  if (Array.isArray(value)) return value.some(isUnknown);
  if (value && typeof value === "object") return Object.values(value).some(isUnknown);
  return false;
}

/** Names of the inputs not known yet (preview before their producers ran). */
export function unknownInputs(news: Record<string, unknown>): string[] {
  return COMPARED_INPUTS.filter((key) => isUnknown(news[key]));
}

/** Validates known inputs; every failure names the property, the value (never a secret) and what is allowed. */
export function validateInputs(news: Record<string, any>): CheckFailure[] {
  const failures: CheckFailure[] = [];
  const fail = (property: string, reason: string) => failures.push({ property, reason });
  const known = (key: string) => !isUnknown(news[key]);
  const integer = (key: string, min: number, max: number) => {
    const v = news[key];
    if (known(key) && !(Number.isInteger(v) && v >= min && v <= max)) fail(key, `${JSON.stringify(v)} is not an integer in ${min}..${max}`);
  };
  const boolean = (key: string) => {
    if (known(key) && typeof news[key] !== "boolean") fail(key, `${JSON.stringify(news[key])} is not true or false`);
  };
  const text = (key: string, secret = false) => {
    const v = news[key];
    if (known(key) && (typeof v !== "string" || v.length === 0)) fail(key, secret ? "must be a non-empty string" : `${JSON.stringify(v)} must be a non-empty string`);
  };

  text("providerVersion");
  if (known("flavor") && !Object.hasOwn(FLAVORS, String(news.flavor))) fail("flavor", `${JSON.stringify(news.flavor)} is not one of ${Object.keys(FLAVORS).join(", ")}`);
  integer("replicas", 1, 9);
  integer("primary", 0, 8);
  const validReplicas = known("replicas") && Number.isInteger(news.replicas) && news.replicas >= 1;
  if (validReplicas && known("primary") && Number.isInteger(news.primary) && news.primary >= news.replicas) {
    fail("primary", `${news.primary} is not a member: allowed 0..${news.replicas - 1} with replicas = ${news.replicas}`);
  }
  boolean("semiSync");
  integer("semiSyncTimeoutMs", 1, 3_600_000);
  boolean("autoFailover");
  integer("operationTimeoutSeconds", 1, 86_400);
  text("adminUser");
  text("adminPassword", true);
  text("replicationUser");
  text("replicationPassword", true);
  if (news.kubeconfig !== undefined && known("kubeconfig") && typeof news.kubeconfig !== "string") fail("kubeconfig", "must be a string");
  if (news.accounts !== undefined && known("accounts")) failures.push(...validateAccounts(news.accounts));
  if (known("connector")) failures.push(...validateConnector(news.connector, news.replicas));
  if (news.primaryObjects !== undefined && known("primaryObjects")) failures.push(...validatePrimaryObjects(news.primaryObjects));
  if (news.tls !== undefined && known("tls")) failures.push(...validateTls(news.tls));
  return failures;
}

function validateTls(tls: any): CheckFailure[] {
  const failures: CheckFailure[] = [];
  if (typeof tls?.ca !== "string" || !tls.ca.includes("-----BEGIN CERTIFICATE-----")) failures.push({ property: "tls.ca", reason: "must be a PEM certificate (-----BEGIN CERTIFICATE-----)" });
  if (typeof tls?.caPath !== "string" || !tls.caPath.startsWith("/")) failures.push({ property: "tls.caPath", reason: `${JSON.stringify(tls?.caPath)} must be an absolute path on the members` });
  if (tls?.certificates !== undefined && (!Array.isArray(tls.certificates) || tls.certificates.some((c: unknown) => typeof c !== "string" || !c.includes("-----BEGIN CERTIFICATE-----")))) {
    failures.push({ property: "tls.certificates", reason: "must be a list of PEM certificates, one per member" });
  }
  return failures;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function validateAccounts(accounts: any): CheckFailure[] {
  if (!Array.isArray(accounts)) return [{ property: "accounts", reason: "must be a list of { role, user, password }" }];
  return accounts.flatMap((a: any, i: number) => [
    ...(ACCOUNT_ROLES.includes(a?.role) ? [] : [{ property: `accounts[${i}].role`, reason: `${JSON.stringify(a?.role)} is not one of ${ACCOUNT_ROLES.join(", ")}` }]),
    ...(typeof a?.user === "string" && /^[A-Za-z0-9_]+$/.test(a.user) ? [] : [{ property: `accounts[${i}].user`, reason: `${JSON.stringify(a?.user)} must be letters, digits and _` }]),
    ...(typeof a?.password === "string" && a.password.length > 0 ? [] : [{ property: `accounts[${i}].password`, reason: "must be a non-empty string" }]),
  ]);
}

function validatePrimaryObjects(objects: any): CheckFailure[] {
  if (!objects || typeof objects !== "object") return [{ property: "primaryObjects", reason: "must be an object" }];
  const names = ["namespace", "statefulSet", "topologyConfigMap", "primaryService"].filter((key) => typeof objects[key] !== "string" || !DNS_LABEL.test(objects[key]));
  const failures = names.map((key) => ({ property: `primaryObjects.${key}`, reason: `${JSON.stringify(objects[key])} is not a DNS-1123 label` }));
  if (objects.context !== undefined && (typeof objects.context !== "string" || !objects.context)) failures.push({ property: "primaryObjects.context", reason: "must be a non-empty string" });
  return failures;
}

function validateConnector(connector: any, replicas: unknown): CheckFailure[] {
  if (!connector || typeof connector !== "object" || !CONNECTOR_KINDS.includes(connector.kind)) {
    return [{ property: "connector.kind", reason: `${JSON.stringify(connector?.kind)} is not one of ${CONNECTOR_KINDS.join(", ")}` }];
  }
  const failures: CheckFailure[] = [];
  if (connector.kind === "direct") {
    const members = connector.members;
    if (!Array.isArray(members)) return [{ property: "connector.members", reason: "must be a list of host:port" }];
    members.forEach((m: string, i: number) => {
      try {
        parseHostPort(m, "");
      } catch (err) {
        failures.push({ property: `connector.members[${i}]`, reason: (err as Error).message.replace(/^: /, "") });
      }
    });
    if (Number.isInteger(replicas) && members.length < (replicas as number)) {
      failures.push({ property: "connector.members", reason: `${members.length} addresses for replicas = ${replicas}: one host:port per member is needed` });
    }
  } else {
    for (const key of ["namespace", "statefulSet"]) {
      if (typeof connector[key] !== "string" || !DNS_LABEL.test(connector[key])) {
        failures.push({ property: `connector.${key}`, reason: `${JSON.stringify(connector[key])} is not a DNS-1123 label` });
      }
    }
    if (connector.service !== undefined && (typeof connector.service !== "string" || !DNS_LABEL.test(connector.service))) {
      failures.push({ property: "connector.service", reason: `${JSON.stringify(connector.service)} is not a DNS-1123 label` });
    }
    if (connector.port !== undefined && !(Number.isInteger(connector.port) && connector.port >= 1 && connector.port <= 65535)) {
      failures.push({ property: "connector.port", reason: `${JSON.stringify(connector.port)} is not a port (1..65535)` });
    }
  }
  return failures;
}

/** Names of the compared inputs that differ between the old state and the new inputs. */
export function changedInputs(olds: Record<string, unknown>, news: Record<string, unknown>): string[] {
  return COMPARED_INPUTS.filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]));
}

/**
 * Outputs of either resource for a healthy topology exactly as configured, with no GTID history: what a mock of
 * the engine (program tests, `mysql-ha render`) reports when nothing runs the providers for real.
 */
export function asConfiguredOutputs(inputs: Record<string, any>): Pick<ReplicationOutputs, "primaryOrdinal" | "gtidPositions" | "plan"> {
  const replicas = Number.isInteger(inputs.replicas) ? inputs.replicas : 0;
  return { primaryOrdinal: inputs.primary, gtidPositions: Array.from({ length: replicas }, () => ""), plan: "no change: the topology is healthy and as configured" };
}
