import type * as k8s from "@pulumi/kubernetes";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Settings } from "../config";
import { ACCOUNT_ROLES, mariadb } from "../replication";
import { commonLabels, ObjectNames } from "./names";
import { ACCOUNTS } from "./secret";
import { SCRIPTS_DIR } from "../package-root";

export { SCRIPTS_DIR };

/** Scripts the StatefulSet itself needs (others, e.g. backup scripts, are added by their own builders). */
export const MEMBER_SCRIPTS = ["init-server.sh", "probe-lib.sh", "probe-readiness.sh", "probe-liveness.sh"] as const;

/** Contents of the given scripts from components/scripts/, keyed by file name. */
export function readScripts(files: readonly string[]): Record<string, string> {
  return Object.fromEntries(files.map((f) => [f, fs.readFileSync(path.join(SCRIPTS_DIR, f), "utf8")]));
}

/** Key of the accounts script; the database container mounts it alone into the entrypoint's initdb directory. */
export const INIT_ACCOUNTS_SCRIPT = "init-accounts.sh";

/** The entrypoint's first-start script creating the least-privilege accounts (passwords from the container's env). */
export function renderInitAccountsScript(): string {
  return mariadb.accountsInitScript(
    ACCOUNT_ROLES.map((role) => ({ role, user: ACCOUNTS[role].user, passwordEnv: ACCOUNTS[role].passwordEnv })),
  );
}

export interface ScriptsConfigMapArgs {
  name: string;
  names: ObjectNames;
  settings: Pick<Settings, "namespace">;
  /** More scripts to ship in the same ConfigMap (file name -> content). */
  extraScripts?: Record<string, string>;
}

/** ConfigMap of the member scripts (mounted with mode 0555 at /etc/mysql-ha/scripts). */
export function buildScriptsConfigMap(args: ScriptsConfigMapArgs): k8s.core.v1.ConfigMapArgs {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: args.names.scripts, namespace: args.settings.namespace, labels: commonLabels(args.name) },
    data: { ...readScripts(MEMBER_SCRIPTS), [INIT_ACCOUNTS_SCRIPT]: renderInitAccountsScript(), ...args.extraScripts },
  };
}
