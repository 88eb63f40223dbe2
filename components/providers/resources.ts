/**
 * The replication resources of a ReplicatedDatabase (README, "Replication during `pulumi up`"). Thin: inputs in, provider serialized by the
 * SDK, outputs declared. Order them around the StatefulSet: `PrimaryPlacement` before it (the StatefulSet
 * dependsOn the placement), `ReplicationTopology` after it (dependsOn the StatefulSet).
 */
import * as pulumi from "@pulumi/pulumi";
import { ConnectorSpec, PrimaryObjects } from "../connectors";
import type { Account } from "../replication";
import { InputFields, MemberSummary, PROVIDER_VERSION, REPLICATION_INPUTS, secretInputs } from "./inputs";
import { ProviderKind, serializableProvider } from "./serialized";

export interface ReplicationResourceArgs {
  /** Database flavor (config flavor). */
  flavor: pulumi.Input<string>;
  /** Number of members (StatefulSet replicas). */
  replicas: pulumi.Input<number>;
  /** Ordinal the config wants as primary. */
  primary: pulumi.Input<number>;
  /** Semi-synchronous replication (a commit waits for one replica's acknowledgement). */
  semiSync: pulumi.Input<boolean>;
  /** How long a semi-sync primary waits for an acknowledgement before falling back to async (ms). */
  semiSyncTimeoutMs: pulumi.Input<number>;
  /** Whether `pulumi up` may promote a replica when the primary is unreachable. */
  autoFailover: pulumi.Input<boolean>;
  /** Deadline of one operation (setup, switchover, failover), seconds. */
  operationTimeoutSeconds: pulumi.Input<number>;
  /** How the provider reaches the members: Kubernetes port-forward per pod, or direct host:port. */
  connector: pulumi.Input<ConnectorSpec>;
  /** Kubeconfig contents for the Kubernetes connector; default: the provider process's usual lookup. Secret. */
  kubeconfig?: pulumi.Input<string>;
  /** The Kubernetes objects that name the primary, pointed at it right after every move. */
  primaryObjects?: pulumi.Input<Omit<PrimaryObjects, "kubeconfig">>;
  /** Administrative account the engine uses. */
  adminUser: pulumi.Input<string>;
  /** Its password (kept secret in state). */
  adminPassword: pulumi.Input<string>;
  /** Account replicas stream binlogs with. */
  replicationUser: pulumi.Input<string>;
  /** Its password (kept secret in state). */
  replicationPassword: pulumi.Input<string>;
  /** Least-privilege accounts kept on every up (kept secret in state). */
  accounts?: pulumi.Input<Array<Omit<Account, "password"> & { password: pulumi.Input<string> }>>;
  /** TLS of the members: the CA certificate (public) and its path on the members; absent: plain text. */
  tls?: pulumi.Input<{ ca: pulumi.Input<string>; caPath: string; certificates?: pulumi.Input<string>[] }>;
}

/**
 * Inputs of every mysql-ha dynamic resource: the args, the provider version, the secret ones (of `fields`) wrapped as
 * secrets, and the outputs every one of them resolves (primaryOrdinal, plan).
 */
export function resourceInputs(args: object, fields: InputFields): pulumi.Inputs {
  const inputs: pulumi.Inputs = {
    ...args,
    providerVersion: PROVIDER_VERSION,
    primaryOrdinal: undefined,
    plan: undefined,
  };
  for (const key of secretInputs(fields))
    inputs[key] = inputs[key] === undefined ? undefined : pulumi.secret(inputs[key]);
  return inputs;
}

/** Resource options that keep the secret ones of `fields` secret in state. */
export function withSecretOutputs(
  opts: pulumi.CustomResourceOptions | undefined,
  fields: InputFields,
): pulumi.CustomResourceOptions {
  return { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), ...secretInputs(fields)] };
}

// One provider object per kind: the SDK serializes each object once and caches the text.
const providers = new Map<ProviderKind, pulumi.dynamic.ResourceProvider>();
export function providerFor(kind: ProviderKind): pulumi.dynamic.ResourceProvider {
  let provider = providers.get(kind);
  if (!provider) providers.set(kind, (provider = serializableProvider(kind)));
  return provider;
}

/** Moves the primary before the StatefulSet changes, when `primary` changes or a shrink would remove it. */
export class PrimaryPlacement extends pulumi.dynamic.Resource {
  /** Primary ordinal after this resource ran (-1: none reachable). */
  declare readonly primaryOrdinal: pulumi.Output<number>;
  /** What the last run did; in preview, what `up` will do. */
  declare readonly plan: pulumi.Output<string>;

  constructor(name: string, args: ReplicationResourceArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      providerFor("placement"),
      name,
      resourceInputs(args, REPLICATION_INPUTS),
      withSecretOutputs(opts, REPLICATION_INPUTS),
      "mysql-ha",
      "PrimaryPlacement",
    );
  }
}

/** Sets up and keeps replication as configured: attach, detach, failover; its outputs say where the primary is. */
export class ReplicationTopology extends pulumi.dynamic.Resource {
  /** Primary ordinal (-1: none); the primary Service selects this pod. */
  declare readonly primaryOrdinal: pulumi.Output<number>;
  /** Every member: role, reachability, executed GTIDs, lag, errant GTIDs. */
  declare readonly members: pulumi.Output<MemberSummary[]>;
  /** Executed GTID set by ordinal. */
  declare readonly gtidPositions: pulumi.Output<string[]>;
  declare readonly healthy: pulumi.Output<boolean>;
  /** What the last run did; in preview, what `up` will do; after refresh, what `up` would do now. */
  declare readonly plan: pulumi.Output<string>;

  constructor(name: string, args: ReplicationResourceArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      providerFor("topology"),
      name,
      { ...resourceInputs(args, REPLICATION_INPUTS), members: undefined, gtidPositions: undefined, healthy: undefined },
      withSecretOutputs(opts, REPLICATION_INPUTS),
      "mysql-ha",
      "ReplicationTopology",
    );
  }
}

/** Type tokens, e.g. for a program's onResource hook that runs these resources. */
export const PRIMARY_PLACEMENT_TYPE = "pulumi-nodejs:dynamic/mysql-ha:PrimaryPlacement";
export const REPLICATION_TOPOLOGY_TYPE = "pulumi-nodejs:dynamic/mysql-ha:ReplicationTopology";
