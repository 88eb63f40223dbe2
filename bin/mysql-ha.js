#!/usr/bin/env node
// Runs the compiled CLI (dist/). In a checkout whose TypeScript changed after the last build, it runs the sources
// instead, transpiled at start (slower, never stale); `npm run build` makes it fast again.
const { ROOT, freshEntry } = require("./dist");

const entry = freshEntry();
if (entry) {
  require(entry);
} else {
  require("ts-node").register({ transpileOnly: true, project: require("node:path").join(ROOT, "tsconfig.json") });
  require("../cli/run");
}
