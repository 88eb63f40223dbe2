import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { Settings } from "../config";
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

export interface CredentialsSecretArgs {
  name: string;
  names: ObjectNames;
  settings: Pick<Settings, "namespace">;
  /** Generated passwords (secret outputs). */
  passwords: { root: pulumi.Input<string>; replication: pulumi.Input<string>; app: pulumi.Input<string> };
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
    },
  };
}
