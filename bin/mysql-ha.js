#!/usr/bin/env node
// The CLI runs the TypeScript sources directly (transpile only) so it always matches the code the tests exercise.
require("ts-node").register({ transpileOnly: true, project: require("path").join(__dirname, "..", "tsconfig.json") });
require("../cli/main").main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`mysql-ha: ${err && err.message ? err.message : err}`);
    process.exit(1);
  },
);
