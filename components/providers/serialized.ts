/**
 * The provider objects Pulumi serializes into `__provider`. They must survive serialization and run in another
 * process (the dynamic provider host) that has neither ts-node nor this module loaded, and keep working for
 * `refresh` and `destroy` from any checkout of the project, since the state keeps the serialized text. So they
 * capture no path at all: every method finds the implementation from the host's working directory, which is the
 * Pulumi project directory (the engine starts plugins there; @pulumi/pulumi's pulumi-resource-pulumi-nodejs even
 * finds the host script with `node -e "require.resolve('@pulumi/pulumi/cmd/dynamic-provider')"`, i.e. from the
 * cwd): the project's own components/, or, for a program that uses mysql-ha as a package, the compiled one in its
 * node_modules. Deliberately no imports in this file: anything imported would be captured by value.
 */
import type * as pulumi from "@pulumi/pulumi";

export type ProviderKind = "placement" | "topology" | "rollingUpgrade";

export function serializableProvider(kind: ProviderKind): pulumi.dynamic.ResourceProvider {
  const handlersModule = kind === "rollingUpgrade" ? "rolling-upgrade-handlers" : "handlers";
  const load = () => {
    const path: typeof import("node:path") = require("node:path");
    const fs: typeof import("node:fs") = require("node:fs");
    const cwd = process.cwd();
    // `.js` when the program is compiled, else the TypeScript sources; then the package a program installed.
    const found = [cwd, path.join(cwd, "node_modules", "mysql-ha", "dist")]
      .flatMap((root) =>
        [".js", ".ts"].map((ext) => ({ root, file: path.join(root, "components", "providers", handlersModule + ext) })),
      )
      .find(({ file }) => fs.existsSync(file));
    if (!found) {
      throw new Error(
        `mysql-ha ${kind} provider: components/providers/${handlersModule}.ts not found in ${cwd}, nor node_modules/mysql-ha; ` +
          "the provider must run in the mysql-ha project directory or in that of a program using the mysql-ha package",
      );
    }
    const { root, file: handlersPath } = found;
    // The dynamic provider host runs plain Node: teach it TypeScript once, only if the sources are TypeScript.
    if (handlersPath.endsWith(".ts") && !require.extensions[".ts"]) {
      require(require.resolve("ts-node", { paths: [root] })).register({
        transpileOnly: true,
        project: path.join(root, "tsconfig.json"),
      });
    }
    require(path.join(root, "components", "node-version")).assertSupportedNode();
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
