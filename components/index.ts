/**
 * mysql-ha as a library for Pulumi programs (the package's main): `import { ReplicatedDatabase } from "mysql-ha"`
 * (README, "Use it in your own program").
 */
export { ReplicatedDatabase, REPLICATED_DATABASE_TYPE } from "./database";
export type { DatabaseConfigArgs, ReplicatedDatabaseArgs } from "./database";
export { CONFIG_KEYS, ConfigValidationError } from "./config";
export type { ConfigError, ConfigKey, Settings } from "./config";
