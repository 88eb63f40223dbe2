export { PrimaryPlacement, ReplicationTopology, PRIMARY_PLACEMENT_TYPE, REPLICATION_TOPOLOGY_TYPE } from "./resources";
export type { ReplicationResourceArgs } from "./resources";
export { PROVIDER_VERSION, SECRET_PROPERTIES, validateInputs } from "./inputs";
export type { MemberSummary, ReplicationInputs, ReplicationOutputs } from "./inputs";
export { placementDecision } from "./placement";
export { serializableProvider } from "./serialized";
export type { ProviderKind } from "./serialized";
