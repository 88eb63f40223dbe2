export { PrimaryPlacement, ReplicationTopology, PRIMARY_PLACEMENT_TYPE, REPLICATION_TOPOLOGY_TYPE } from "./resources";
export type { ReplicationResourceArgs } from "./resources";
export { asConfiguredOutputs, PROVIDER_VERSION, SECRET_PROPERTIES, validateInputs } from "./inputs";
export type { MemberSummary, ReplicationInputs, ReplicationOutputs } from "./inputs";
export { placementDecision } from "./placement";
export { serializableProvider } from "./serialized";
export type { ProviderKind } from "./serialized";
export { RollingUpgrade, ROLLING_UPGRADE_TYPE } from "./rolling-upgrade";
export type { RollingUpgradeArgs } from "./rolling-upgrade";
