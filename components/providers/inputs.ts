/**
 * The inputs of the three dynamic resources, declared once (types, validation, compared and secret fields), their
 * outputs, and the one check/diff path every provider uses. Pure: no database; of Pulumi only the SDK's unknown
 * sentinel. PrimaryPlacement and ReplicationTopology take the same inputs; they differ in what they do with them.
 */
import type * as pulumi from "@pulumi/pulumi";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { CONNECTOR_KINDS, ConnectorSpec, parseHostPort, PrimaryObjects } from "../connectors";
import { ACCOUNT_ROLES, FLAVORS, flavorNamed } from "../replication";
import type { Account, EngineSettings } from "../replication";
import type { ServerOptions } from "../server-options";

/** Bumped when the providers' behaviour changes, so existing stacks get an update that re-converges. */
export const PROVIDER_VERSION = "2";

type Props = Record<string, any>;

export interface CheckFailure {
  property: string;
  reason: string;
}

/** Checks one known, present input; a secret's value never appears in a reason. */
type Validate = (value: any, at: { property: string; news: Props; secret: boolean }) => CheckFailure[];

/** One input: how check validates it, whether its change alone is a reason to update, whether state keeps it secret. */
export interface InputField<T = unknown, Optional extends boolean = boolean> {
  validate: Validate;
  compared: boolean;
  secret?: boolean;
  /** Absent is allowed, and not validated. */
  optional: Optional;
  /** Carries the input's type for {@link InputsOf}; never set. */
  readonly type?: T;
}

export type InputFields = Record<string, InputField>;

type FieldSpec = Pick<InputField, "validate" | "compared" | "secret">;
const required = <T>(spec: FieldSpec): InputField<T, false> => ({ ...spec, optional: false });
const optional = <T>(spec: FieldSpec): InputField<T, true> => ({ ...spec, optional: true });

type OptionalKeys<F> = { [K in keyof F]: F[K] extends InputField<unknown, true> ? K : never }[keyof F];
type TypeOf<F> = F extends InputField<infer T, boolean> ? T : never;
/** The inputs' TypeScript type, from their table. */
export type InputsOf<F extends InputFields> = { [K in Exclude<keyof F, OptionalKeys<F>>]: TypeOf<F[K]> } & {
  [K in OptionalKeys<F>]?: TypeOf<F[K]>;
};

const integer =
  (min: number, max: number): Validate =>
  (v, { property }) =>
    Number.isInteger(v) && v >= min && v <= max
      ? []
      : [{ property, reason: `${JSON.stringify(v)} is not an integer in ${min}..${max}` }];
const boolean: Validate = (v, { property }) =>
  typeof v === "boolean" ? [] : [{ property, reason: `${JSON.stringify(v)} is not true or false` }];
const text: Validate = (v, { property, secret }) =>
  typeof v === "string" && v.length > 0
    ? []
    : [{ property, reason: secret ? "must be a non-empty string" : `${JSON.stringify(v)} must be a non-empty string` }];
const atLeastOne: Validate = (v, { property }) =>
  Number.isInteger(v) && v >= 1 ? [] : [{ property, reason: `${JSON.stringify(v)} is not an integer >= 1` }];

/** Inputs of every mysql-ha dynamic resource. */
export const SHARED_INPUTS = {
  /** Version of the provider code that last ran (see PROVIDER_VERSION). */
  providerVersion: required<string>({ validate: text, compared: true }),
  /** Database flavor (config flavor): the engine's statements and GTID arithmetic. */
  flavor: required<string>({
    validate: (v, { property }) =>
      Object.hasOwn(FLAVORS, String(v))
        ? []
        : [{ property, reason: `${JSON.stringify(v)} is not one of ${Object.keys(FLAVORS).join(", ")}` }],
    compared: true,
  }),
  /** Number of members (StatefulSet replicas). */
  replicas: required<number>({ validate: integer(1, 9), compared: true }),
  /** Ordinal the config wants as primary. */
  primary: required<number>({
    validate: (v, at) => {
      const { replicas } = at.news;
      const notAMember =
        !isUnknown(replicas) && Number.isInteger(replicas) && replicas >= 1 && Number.isInteger(v) && v >= replicas;
      return [
        ...integer(0, 8)(v, at),
        ...(notAMember
          ? [
              {
                property: at.property,
                reason: `${v} is not a member: allowed 0..${replicas - 1} with replicas = ${replicas}`,
              },
            ]
          : []),
      ];
    },
    compared: true,
  }),
  semiSync: required<boolean>({ validate: boolean, compared: true }),
  semiSyncTimeoutMs: required<number>({ validate: integer(1, 3_600_000), compared: true }),
  /** Deadline of one operation (setup, switchover, failover). */
  operationTimeoutSeconds: required<number>({ validate: integer(1, 86_400), compared: true }),
  /** How to reach the members. The Kubernetes connector's kubeconfig travels separately, as a secret. */
  connector: required<ConnectorSpec>({
    validate: (v, { news }) => validateConnector(v, news.replicas),
    compared: true,
  }),
  /**
   * Kubeconfig for the Kubernetes connector and for pointing the primary objects; default: the usual lookup in the
   * provider's process. The program passes the Kubernetes provider's own (`kubernetes:kubeconfig`).
   */
  kubeconfig: optional<string>({
    validate: (v, { property }) => (typeof v === "string" ? [] : [{ property, reason: "must be a string" }]),
    compared: true,
    secret: true,
  }),
  /** The objects that name the primary, moved right after every switchover or failover (connectors/primary-objects). */
  primaryObjects: optional<Omit<PrimaryObjects, "kubeconfig">>({ validate: validatePrimaryObjects, compared: true }),
  adminUser: required<string>({ validate: text, compared: true }),
  adminPassword: required<string>({ validate: text, compared: true, secret: true }),
  replicationUser: required<string>({ validate: text, compared: true }),
  replicationPassword: required<string>({ validate: text, compared: true, secret: true }),
  /** Least-privilege accounts the engine keeps on every up (secret: they carry passwords). */
  accounts: optional<Account[]>({ validate: validateAccounts, compared: true, secret: true }),
  /**
   * TLS of the members (public: the CA certificate and where it is on the members): the engine verifies every member
   * as its DNS name (the connector's replicationHost) and replication verifies the source. Absent: plain text.
   */
  tls: optional<ProviderTls>({ validate: validateTls, compared: true }),
};

/** PrimaryPlacement's and ReplicationTopology's inputs. */
export const REPLICATION_INPUTS = {
  ...SHARED_INPUTS,
  /** Promote a replica when the primary is unreachable (ReplicationTopology's alone: the rollout never fails over). */
  autoFailover: required<boolean>({ validate: boolean, compared: true }),
};

/** The restarter of the rollout: pods of the StatefulSet deleted one at a time through the API server. */
export interface RestarterSpec {
  kind: "kubernetes";
  namespace: string;
  statefulSet: string;
  topologyConfigMap?: string;
  primaryService?: string;
}

/** RollingUpgrade's inputs: the shared ones and its own. */
export const ROLLING_UPGRADE_INPUTS = {
  ...SHARED_INPUTS,
  /** What the pods must run: image plus a hash of the restart-only server options. */
  revision: required<string>({ validate: text, compared: true }),
  serverConfig: required<ServerOptions>({
    validate: (v, { property }) =>
      typeof v !== "object" || v === null || Array.isArray(v)
        ? [{ property, reason: "must be an object of server options" }]
        : [],
    compared: true,
  }),
  // Deadlines of the rollout, not of what it brings the members to: changing one alone starts nothing.
  rolloutTimeoutSeconds: required<number>({ validate: atLeastOne, compared: false }),
  maxLagSeconds: required<number>({ validate: atLeastOne, compared: false }),
  restarter: optional<RestarterSpec>({
    validate: (r, { property }) =>
      r.kind !== "kubernetes" || typeof r.namespace !== "string" || typeof r.statefulSet !== "string"
        ? [{ property, reason: `${JSON.stringify(r)} must be {kind: "kubernetes", namespace, statefulSet}` }]
        : [],
    compared: true,
  }),
};

/** `plan` is set by check: what `up` will do, in words (shown by preview as a change of this property). */
export interface SharedInputs extends InputsOf<typeof SHARED_INPUTS> {
  plan?: string;
}
export interface ReplicationInputs extends InputsOf<typeof REPLICATION_INPUTS> {
  plan?: string;
}
export interface RollingUpgradeInputs extends InputsOf<typeof ROLLING_UPGRADE_INPUTS> {
  plan?: string;
}

/** Inputs whose change alone is a reason to update (the computed `plan` is not one). */
export const comparedInputs = (fields: InputFields): string[] =>
  Object.keys(fields).filter((key) => fields[key].compared);

/** Inputs kept secret in state: passed to additionalSecretOutputs and wrapped with pulumi.secret. */
export const secretInputs = (fields: InputFields): string[] => Object.keys(fields).filter((key) => fields[key].secret);

/** The secret inputs, all shared: what a stand-in of the engine keeps secret for any mysql-ha resource. */
export const SECRET_PROPERTIES = secretInputs(SHARED_INPUTS);

/** What the providers get of TLS: the CA's PEM, its path on the members, and each member's certificate (public). */
export interface ProviderTls {
  ca: string;
  caPath: string;
  /** The certificate member `ordinal` must serve (PEM): a renewed one is loaded with FLUSH SSL. */
  certificates?: string[];
}

/**
 * TLS is being turned on for a stack whose last run had it off (its state has no tls): this run reaches a member
 * that does not offer TLS yet in plain text and moves replication to verified TLS once both ends serve it (the
 * engine's TlsSettings.enabling). A first create, and a stack whose last run had TLS, are strict.
 */
export function tlsEnabling(olds: Props, news: SharedInputs): boolean {
  return !!news.tls && olds.adminUser !== undefined && !olds.tls;
}

/**
 * The engine settings every mysql-ha provider derives from its inputs (and its last state, `olds`: see
 * tlsEnabling); `log` goes to the provider's stderr.
 */
export function engineSettingsOf(inputs: SharedInputs, log: (line: string) => void, olds: Props = {}): EngineSettings {
  return {
    // State written before the flavor was an input lacks it: those stacks all ran mariadb, the only flavor then.
    flavor: flavorNamed(inputs.flavor ?? "mariadb"),
    admin: { user: inputs.adminUser, password: inputs.adminPassword },
    replication: { user: inputs.replicationUser, password: inputs.replicationPassword },
    accounts: inputs.accounts,
    semiSync: inputs.semiSync,
    semiSyncTimeoutMs: inputs.semiSyncTimeoutMs,
    deadlineMs: inputs.operationTimeoutSeconds * 1000,
    ...(inputs.tls
      ? {
          tls: {
            ca: inputs.tls.ca,
            caPath: inputs.tls.caPath,
            ...(tlsEnabling(olds, inputs) ? { enabling: true } : {}),
          },
        }
      : {}),
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

export function isUnknown(value: unknown): boolean {
  // What the engine passes for an input it does not know yet (preview).
  if (value === unknownValue) return true;
  if (Array.isArray(value)) return value.some(isUnknown);
  if (value && typeof value === "object") return Object.values(value).some(isUnknown);
  return false;
}

/** Names of the compared inputs not known yet (preview before their producers ran). */
export function unknownInputs(fields: InputFields, news: Props): string[] {
  return comparedInputs(fields).filter((key) => isUnknown(news[key]));
}

/** Validates known inputs; every failure names the property, the value (never a secret) and what is allowed. */
export function validateInputs(fields: InputFields, news: Props): CheckFailure[] {
  return Object.entries(fields).flatMap(([property, field]) => {
    const value = news[property];
    if (isUnknown(value) || (field.optional && value === undefined)) return [];
    return field.validate(value, { property, news, secret: field.secret ?? false });
  });
}

function validateTls(tls: any): CheckFailure[] {
  const failures: CheckFailure[] = [];
  if (typeof tls?.ca !== "string" || !tls.ca.includes("-----BEGIN CERTIFICATE-----"))
    failures.push({ property: "tls.ca", reason: "must be a PEM certificate (-----BEGIN CERTIFICATE-----)" });
  if (typeof tls?.caPath !== "string" || !tls.caPath.startsWith("/"))
    failures.push({
      property: "tls.caPath",
      reason: `${JSON.stringify(tls?.caPath)} must be an absolute path on the members`,
    });
  if (
    tls?.certificates !== undefined &&
    (!Array.isArray(tls.certificates) ||
      tls.certificates.some((c: unknown) => typeof c !== "string" || !c.includes("-----BEGIN CERTIFICATE-----")))
  ) {
    failures.push({ property: "tls.certificates", reason: "must be a list of PEM certificates, one per member" });
  }
  return failures;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function validateAccounts(accounts: any): CheckFailure[] {
  if (!Array.isArray(accounts)) return [{ property: "accounts", reason: "must be a list of { role, user, password }" }];
  return accounts.flatMap((a: any, i: number) => [
    ...(ACCOUNT_ROLES.includes(a?.role)
      ? []
      : [
          {
            property: `accounts[${i}].role`,
            reason: `${JSON.stringify(a?.role)} is not one of ${ACCOUNT_ROLES.join(", ")}`,
          },
        ]),
    ...(typeof a?.user === "string" && /^[A-Za-z0-9_]+$/.test(a.user)
      ? []
      : [{ property: `accounts[${i}].user`, reason: `${JSON.stringify(a?.user)} must be letters, digits and _` }]),
    ...(typeof a?.password === "string" && a.password.length > 0
      ? []
      : [{ property: `accounts[${i}].password`, reason: "must be a non-empty string" }]),
  ]);
}

function validatePrimaryObjects(objects: any): CheckFailure[] {
  if (!objects || typeof objects !== "object") return [{ property: "primaryObjects", reason: "must be an object" }];
  const names = ["namespace", "statefulSet", "topologyConfigMap", "primaryService"].filter(
    (key) => typeof objects[key] !== "string" || !DNS_LABEL.test(objects[key]),
  );
  const failures = names.map((key) => ({
    property: `primaryObjects.${key}`,
    reason: `${JSON.stringify(objects[key])} is not a DNS-1123 label`,
  }));
  if (objects.context !== undefined && (typeof objects.context !== "string" || !objects.context))
    failures.push({ property: "primaryObjects.context", reason: "must be a non-empty string" });
  return failures;
}

function validateConnector(connector: any, replicas: unknown): CheckFailure[] {
  if (!connector || typeof connector !== "object" || !CONNECTOR_KINDS.includes(connector.kind)) {
    return [
      {
        property: "connector.kind",
        reason: `${JSON.stringify(connector?.kind)} is not one of ${CONNECTOR_KINDS.join(", ")}`,
      },
    ];
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
      failures.push({
        property: "connector.members",
        reason: `${members.length} addresses for replicas = ${replicas}: one host:port per member is needed`,
      });
    }
  } else {
    for (const key of ["namespace", "statefulSet"]) {
      if (typeof connector[key] !== "string" || !DNS_LABEL.test(connector[key])) {
        failures.push({
          property: `connector.${key}`,
          reason: `${JSON.stringify(connector[key])} is not a DNS-1123 label`,
        });
      }
    }
    if (
      connector.service !== undefined &&
      (typeof connector.service !== "string" || !DNS_LABEL.test(connector.service))
    ) {
      failures.push({
        property: "connector.service",
        reason: `${JSON.stringify(connector.service)} is not a DNS-1123 label`,
      });
    }
    if (
      connector.port !== undefined &&
      !(Number.isInteger(connector.port) && connector.port >= 1 && connector.port <= 65535)
    ) {
      failures.push({
        property: "connector.port",
        reason: `${JSON.stringify(connector.port)} is not a port (1..65535)`,
      });
    }
  }
  return failures;
}

/** Names of the compared inputs that differ between the old state and the new inputs. */
export function changedInputs(fields: InputFields, olds: Props, news: Props): string[] {
  return comparedInputs(fields).filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]));
}

/**
 * Every provider's check: validates, then sets the `plan` input to what `up` will do, in words (what preview shows).
 * `preview` inspects the members; it runs only once every compared input is known.
 */
export function checkWith<I>(
  fields: InputFields,
  log: (line: string) => void,
  preview: (olds: Props, news: I) => Promise<string>,
) {
  return async (olds: Props, news: Props): Promise<pulumi.dynamic.CheckResult> => {
    const failures = validateInputs(fields, news);
    if (failures.length > 0) return { inputs: news, failures };
    const unknown = unknownInputs(fields, news);
    let plan: string;
    if (unknown.length > 0) {
      plan = `decided once ${unknown.join(", ")} ${unknown.length > 1 ? "are" : "is"} known: up inspects the members first`;
    } else {
      try {
        plan = await preview(olds, news as I);
      } catch (err) {
        plan = `cannot inspect the members now (${(err as Error).message}); up will inspect them again`;
      }
    }
    log(`${olds.replicas === undefined ? "create" : "update"}: ${plan}`);
    return { inputs: { ...news, plan } };
  };
}

/**
 * Every provider's diff: changes when a compared input changed or is not known yet, or when `liveWork` says the
 * members need work; never a replacement (that would hand the databases to delete + create). The words are in the
 * `plan` input that check computed: the dynamic provider protocol carries no text in a diff, and preview shows `plan`
 * changing from the last run's to this one's.
 */
export function diffWith<I>(
  fields: InputFields,
  log: (line: string) => void,
  liveWork: (olds: Props, news: I) => Promise<boolean>,
) {
  return async (_id: string, olds: Props, news: Props): Promise<pulumi.dynamic.DiffResult> => {
    let changes = changedInputs(fields, olds, news).length > 0 || unknownInputs(fields, news).length > 0;
    if (!changes) {
      try {
        changes = await liveWork(olds, news as I);
      } catch (err) {
        // Unknown (inspection failed) counts as work, and up reports why.
        log(`cannot inspect the members (${(err as Error).message}): reporting a change`);
        changes = true;
      }
    }
    return { changes, replaces: [], deleteBeforeReplace: false };
  };
}

/**
 * Outputs of either resource for a healthy topology exactly as configured, with no GTID history: what a mock of
 * the engine (program tests, `mysql-ha render`) reports when nothing runs the providers for real.
 */
export function asConfiguredOutputs(
  inputs: Record<string, any>,
): Pick<ReplicationOutputs, "primaryOrdinal" | "gtidPositions" | "plan"> {
  const replicas = Number.isInteger(inputs.replicas) ? inputs.replicas : 0;
  return {
    primaryOrdinal: inputs.primary,
    gtidPositions: Array.from({ length: replicas }, () => ""),
    plan: "no change: the topology is healthy and as configured",
  };
}
