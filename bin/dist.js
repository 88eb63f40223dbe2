// The compiled code in dist/ (tsc: `npm ci`, `npm run build`, `npm test`) and whether it is older than the
// TypeScript it comes from. Plain JavaScript with no dependency: bin/mysql-ha.js asks it at every start.
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.join(__dirname, "..");
/** The CLI's compiled entry point, relative to the root. */
const ENTRY = path.join("dist", "cli", "run.js");
/** What the compiled CLI is built from (test/ is not: the CLI never loads it). */
const SOURCES = ["index.ts", "components", "cli", "offline", "policies", "local", "bench"];

/** Newest modification time of the TypeScript at `file` (0 when there is none, as in an installed package). */
function newest(file) {
  let stat;
  try {
    stat = fs.statSync(file);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return file.endsWith(".ts") ? stat.mtimeMs : 0;
  let max = 0;
  for (const name of fs.readdirSync(file))
    if (name !== "node_modules") max = Math.max(max, newest(path.join(file, name)));
  return max;
}

/** The compiled entry point if it exists and no source changed after it was written (tsc rewrites every output). */
function freshEntry(root = ROOT) {
  const entry = path.join(root, ENTRY);
  let built;
  try {
    built = fs.statSync(entry).mtimeMs;
  } catch {
    return undefined;
  }
  return SOURCES.some((s) => newest(path.join(root, s)) > built) ? undefined : entry;
}

module.exports = { ROOT, freshEntry };

// `node bin/dist.js --build`: compile unless dist/ is fresh already (npm run demo does so before it starts).
if (require.main === module && process.argv[2] === "--build" && !freshEntry()) {
  const { status } = require("node:child_process").spawnSync(
    process.execPath,
    [require.resolve("typescript/bin/tsc"), "-p", path.join(ROOT, "tsconfig.json")],
    { stdio: "inherit" },
  );
  process.exit(status ?? 1);
}
