/**
 * The oldest Node that runs mysql-ha: the providers `require()` the ES module @kubernetes/client-node (require(esm),
 * unflagged in 20.19) and call process.getBuiltinModule (20.16). Keep in step with package.json `engines`.
 * Pure, no imports: the CLI and the dynamic providers check before loading anything that would fail obscurely.
 */
export const REQUIRED_NODE = "20.19.0";

/** Why this Node version (e.g. process.versions.node, "v" prefix allowed) cannot run mysql-ha; undefined if it can. */
export function nodeVersionError(version: string): string | undefined {
  const parse = (v: string) =>
    v
      .replace(/^v/, "")
      .split(".")
      .map((part) => parseInt(part, 10) || 0);
  const running = parse(version);
  const required = parse(REQUIRED_NODE);
  for (let i = 0; i < required.length; i++) {
    if ((running[i] ?? 0) > required[i]) return undefined;
    if ((running[i] ?? 0) < required[i]) {
      return `mysql-ha needs Node.js >= ${REQUIRED_NODE}; this is Node.js ${version.replace(/^v/, "")}`;
    }
  }
  return undefined;
}

/** Throws {@link nodeVersionError} for the running Node, if any. */
export function assertSupportedNode(version: string = process.versions.node): void {
  const error = nodeVersionError(version);
  if (error) throw new Error(error);
}
