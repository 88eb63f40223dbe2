/**
 * The replication engine: inspect (gather), plan (decide, pure), apply and the operations (do).
 * Plain TypeScript on mysql2; no Pulumi import. Engine-specific SQL lives in flavor/.
 */
export * from "./types";
export { ReplicationError } from "./errors";
export { resolveSettings, DEFAULTS } from "./settings";
export { inspect, analyze, topologyToJson } from "./status/inspect";
export { plan } from "./plan";
export { apply, reconcile, setup, attach, detach, switchover, failover, repair, fence, LOCK_NAME } from "./operations";
export { reloadCertificates, staleCertificates, validityOf } from "./certificates";
export type { CertificateState, Validity } from "./certificates";
export { mariadb } from "./flavor/mariadb";
export type { Flavor, AccountSpec } from "./flavor/flavor";
export { parseGtids, comparePositions, covers, errantAgainst } from "./gtid";
export { connect } from "./connection";
