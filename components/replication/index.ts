/**
 * The replication engine: inspect (gather), plan (decide, pure), apply and the operations (do).
 * Plain TypeScript on mysql2; no Pulumi import. Every statement and GTID calculation lives in flavor/.
 */
export * from "./types";
export { ReplicationError, SqlError } from "./errors";
export { resolveSettings, DEFAULTS } from "./settings";
export { inspect, analyze, topologyToJson, KeptConnections } from "./status/inspect";
export { plan } from "./plan";
export { apply, reconcile, setup, attach, detach, switchover, failover, repair, fence, LOCK_NAME } from "./operations";
export { reloadCertificates, staleCertificates, validityOf } from "./certificates";
export type { CertificateState, Validity } from "./certificates";
export { mariadb } from "./flavor/mariadb";
export { FLAVORS, flavorNamed } from "./flavor/flavors";
export type { Flavor, AccountSpec, RawStatus } from "./flavor/flavor";
export { connect } from "./connection";
