/**
 * The `mysql-ha` process: checks the Node version before loading anything that would fail obscurely on an older one
 * (require of an ES module, process.getBuiltinModule), runs the command and exits with its code. bin/mysql-ha.js
 * runs it (compiled, or from the sources); the agent bundle is built from it.
 */
import { nodeVersionError } from "../components/node-version";

const nodeError = nodeVersionError(process.versions.node);
if (nodeError) {
  console.error(nodeError);
  process.exit(1);
}
// Required after the check: an import would load it first.
const { main }: typeof import("./main") = require("./main");
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`mysql-ha: ${err && err.message ? err.message : err}`);
    process.exit(1);
  },
);
