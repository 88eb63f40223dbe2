/**
 * RollingUpgrade (design: issue "safe rolling upgrades"): ordered after the StatefulSet and the replication topology,
 * it brings every member onto the StatefulSet's current pod template one at a time (replicas first, highest ordinal
 * first; the primary after a zero-loss switchover) and applies live server options with SET GLOBAL. Thin: the
 * rollout is components/upgrade/, the provider methods are rolling-upgrade-handlers.ts, loaded inside each method.
 */
import * as pulumi from "@pulumi/pulumi";
import { ConnectorSpec } from "../connectors";
import { ROLLING_UPGRADE_INPUTS } from "./inputs";
import { providerFor, resourceInputs, withSecretOutputs } from "./resources";

export interface RollingUpgradeArgs {
  /** Database flavor (config flavor). */
  flavor: pulumi.Input<string>;
  /** Number of members (StatefulSet replicas). */
  replicas: pulumi.Input<number>;
  /** Config `primary`: the primary role ends the rollout here. */
  primary: pulumi.Input<number>;
  /** What the pods must run: image plus a hash of the restart-only server options. A change starts a rollout. */
  revision: pulumi.Input<string>;
  /** Server options of the stack (serverConfig); the live ones are applied with SET GLOBAL on every member. */
  serverConfig: pulumi.Input<Record<string, string | number | boolean>>;
  semiSync: pulumi.Input<boolean>;
  semiSyncTimeoutMs: pulumi.Input<number>;
  /** Deadline of one engine operation (a switchover), seconds. */
  operationTimeoutSeconds: pulumi.Input<number>;
  /** Deadline of the whole rollout, seconds. Default 1800. */
  rolloutTimeoutSeconds?: pulumi.Input<number>;
  /** A restarted replica counts as caught up at this replication lag or less, seconds. Default 5. */
  maxLagSeconds?: pulumi.Input<number>;
  /** How the provider reaches the members (same as the replication resources). */
  connector: pulumi.Input<ConnectorSpec>;
  /** Kubeconfig contents for the connector and the restarter; default: the usual lookup. Secret. */
  kubeconfig?: pulumi.Input<string>;
  /**
   * How members restart: delete pod `<statefulSet>-N` and wait for its replacement on the update revision; after a
   * switchover or a restart the topology ConfigMap and the role labels are pointed at the primary. Without it, only
   * live options are applied.
   */
  restarter?: pulumi.Input<{
    kind: "kubernetes";
    namespace: string;
    statefulSet: string;
    topologyConfigMap?: string;
    primaryService?: string;
  }>;
  adminUser: pulumi.Input<string>;
  adminPassword: pulumi.Input<string>;
  replicationUser: pulumi.Input<string>;
  replicationPassword: pulumi.Input<string>;
  /** TLS of the members, as the replication resources get it; absent: plain text. */
  tls?: pulumi.Input<{ ca: pulumi.Input<string>; caPath: string; certificates?: pulumi.Input<string>[] }>;
}

export const ROLLING_UPGRADE_TYPE = "pulumi-nodejs:dynamic/mysql-ha:RollingUpgrade";

/** Restarts out-of-date members one at a time without losing writes; its `primaryOrdinal` is where the primary ended. */
export class RollingUpgrade extends pulumi.dynamic.Resource {
  /** Primary ordinal after the rollout (-1: none). */
  declare readonly primaryOrdinal: pulumi.Output<number>;
  /** What the last run did; in preview, what `up` will do ("restart 2, 1; switch over 0 -> 1; restart 0"). */
  declare readonly plan: pulumi.Output<string>;

  constructor(name: string, args: RollingUpgradeArgs, opts?: pulumi.CustomResourceOptions) {
    const inputs = resourceInputs({ rolloutTimeoutSeconds: 1800, maxLagSeconds: 5, ...args }, ROLLING_UPGRADE_INPUTS);
    super(
      providerFor("rollingUpgrade"),
      name,
      inputs,
      withSecretOutputs(opts, ROLLING_UPGRADE_INPUTS),
      "mysql-ha",
      "RollingUpgrade",
    );
  }
}
