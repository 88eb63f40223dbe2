#!/usr/bin/env node
// The CLI runs the TypeScript sources directly (transpile only) so it always matches the code the tests exercise.
require("ts-node").register({ transpileOnly: true, project: require("path").join(__dirname, "..", "tsconfig.json") });
// Before anything that needs a newer Node fails obscurely (require of an ES module, process.getBuiltinModule).
const nodeError = require("../components/node-version").nodeVersionError(process.versions.node);
if (nodeError) {
  console.error(nodeError);
  process.exit(1);
}
require("../cli/main").main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`mysql-ha: ${err && err.message ? err.message : err}`);
    process.exit(1);
  },
);
