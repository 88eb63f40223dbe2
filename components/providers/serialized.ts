/**
 * The provider objects Pulumi serializes into `__provider`. They must survive serialization and run in another
 * process (the dynamic provider host) that has neither ts-node nor this module loaded, in another working directory:
 * so they capture only absolute path strings, computed here at program time, and `require` the implementation
 * inside every method. Deliberately no imports in this file: anything imported would be captured by value.
 */
import type * as pulumi from "@pulumi/pulumi";

export type ProviderKind = "placement" | "topology" | "rollingUpgrade";

export function serializableProvider(kind: ProviderKind): pulumi.dynamic.ResourceProvider {
  // Absolute paths resolved now: `.ts` under ts-node or jest, `.js` when the program is compiled.
  const handlersPath = require.resolve(kind === "rollingUpgrade" ? "./rolling-upgrade-handlers" : "./handlers");
  const tsNodePath = handlersPath.endsWith(".ts") ? require.resolve("ts-node") : "";
  const tsconfigPath = tsNodePath ? require.resolve("../../tsconfig.json") : "";
  const load = () => {
    // The dynamic provider host runs plain Node: teach it TypeScript once, only if the sources are TypeScript.
    if (tsNodePath && !require.extensions[".ts"]) require(tsNodePath).register({ transpileOnly: true, project: tsconfigPath });
    return require(handlersPath).handlers[kind];
  };
  return {
    check: (olds, news) => load().check(olds, news),
    diff: (id, olds, news) => load().diff(id, olds, news),
    create: (inputs) => load().create(inputs),
    update: (id, olds, news) => load().update(id, olds, news),
    read: (id, props) => load().read(id, props),
    delete: (id, props) => load().delete(id, props),
  };
}
