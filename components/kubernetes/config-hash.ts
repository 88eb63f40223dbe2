/**
 * The pod template's server-config annotation: a hash of the image and of the restart-only options of the rendered
 * my.cnf. With `updateStrategy: OnDelete` a change of it moves the StatefulSet's update revision without restarting
 * anything; RollingUpgrade then restarts the members in a safe order. A change of live options only leaves it alone
 * (they are applied with SET GLOBAL), although the ConfigMap carries them for the next start.
 */
import type { Settings } from "../config";
import { restartConfigHash, ServerOptions } from "../server-options";
import { renderServerCnf } from "./server-config";

export const CONFIG_HASH_ANNOTATION = "mysql-ha/server-config-hash";

export function serverConfigRevision(
  settings: Pick<Settings, "image" | "semiSync" | "semiSyncTimeoutMs" | "serverConfig" | "tls" | "tlsRequired">,
): string {
  return restartConfigHash(parseCnf(renderServerCnf(settings)), settings.image);
}

/** `name = value` lines of an option file (sections, comments and blank lines skipped). */
export function parseCnf(text: string): ServerOptions {
  const options: ServerOptions = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith("[")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) options[line] = true;
    else options[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return options;
}
