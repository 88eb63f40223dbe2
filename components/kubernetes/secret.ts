import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { Settings } from "../config";
import { ACCOUNT_ROLES, AccountRole } from "../replication";
import { commonLabels, ObjectNames } from "./names";

/** Keys of the credentials Secret; pods read them with secretKeyRef, never as literals. */
export const SECRET_KEYS = {
  root: "root-password",
  replication: "replication-password",
  app: "app-password",
  /** HMAC key of the backup manifests (backup.sh signs, restore.sh refuses what it did not sign). */
  backupSigning: "backup-signing-key",
  /** Token a client of the donor port shows before it gets a full copy of the data; no account's password. */
  cloneToken: "clone-token",
} as const;

/** Account name the engine uses for replication. */
export const REPLICATION_USER = "replication";

/**
 * The least-privilege accounts (grants: the engine's flavor), each with its generated password under its own key.
 * root is for the members' own loopback only (MARIADB_ROOT_HOST): the port-forward of the providers and the CLI
 * arrives there; nothing in another pod or in a sidecar uses it.
 */
export const ACCOUNTS: Record<AccountRole, { user: string; secretKey: string; passwordEnv: string }> =
  Object.fromEntries(
    ACCOUNT_ROLES.map((role) => [
      role,
      {
        user: `mysql_ha_${role}`,
        secretKey: `${role}-password`,
        passwordEnv: `MYSQL_HA_${role.toUpperCase()}_PASSWORD`,
      },
    ]),
  ) as Record<AccountRole, { user: string; secretKey: string; passwordEnv: string }>;

export interface CredentialsSecretArgs {
  name: string;
  names: ObjectNames;
  settings: Pick<Settings, "namespace">;
  /** Generated passwords (secret outputs). */
  passwords: { root: pulumi.Input<string>; replication: pulumi.Input<string>; app: pulumi.Input<string> };
  /** Generated passwords of the least-privilege accounts (secret outputs). */
  accountPasswords: Record<AccountRole, pulumi.Input<string>>;
  /** Generated backup signing key (secret output). */
  backupSigningKey: pulumi.Input<string>;
  /** Generated donor-port token (secret output). */
  cloneToken: pulumi.Input<string>;
}

/** Secret of the generated passwords and the backup signing key. */
export function buildCredentialsSecret(args: CredentialsSecretArgs): k8s.core.v1.SecretArgs {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: args.names.secret, namespace: args.settings.namespace, labels: commonLabels(args.name) },
    type: "Opaque",
    stringData: {
      [SECRET_KEYS.root]: args.passwords.root,
      [SECRET_KEYS.replication]: args.passwords.replication,
      [SECRET_KEYS.app]: args.passwords.app,
      [SECRET_KEYS.backupSigning]: args.backupSigningKey,
      [SECRET_KEYS.cloneToken]: args.cloneToken,
      ...Object.fromEntries(ACCOUNT_ROLES.map((role) => [ACCOUNTS[role].secretKey, args.accountPasswords[role]])),
    },
  };
}
