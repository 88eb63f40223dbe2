import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The package's directory (package.json, Pulumi.yaml, the shell scripts in components/scripts/): the parent of
 * components/ when running from the TypeScript sources, the parent of dist/ when running compiled (dist/components/).
 */
export const PACKAGE_ROOT = ((up: string) => (fs.existsSync(path.join(up, "package.json")) ? up : path.dirname(up)))(
  path.resolve(__dirname, ".."),
);

/** Where the running code is: PACKAGE_ROOT itself (TypeScript sources) or its dist/ (compiled). */
export const CODE_ROOT = path.resolve(__dirname, "..");

/** The shell scripts shipped to the pods (in ConfigMaps) and run on this machine by the CLI's backup commands. */
export const SCRIPTS_DIR = path.join(PACKAGE_ROOT, "components", "scripts");
