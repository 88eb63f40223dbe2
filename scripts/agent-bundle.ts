/**
 * The failover agent's code for the cluster: the CLI (cli/run.ts, what bin/mysql-ha.js runs, and everything it
 * reaches, node_modules included) compiled by esbuild into one minified CommonJS file for Node 20, so it runs in a public Node image
 * with nothing to build or install. The file is shipped brotli-compressed in the agent ConfigMap (binaryData):
 * about 4.7 MB of JavaScript, most of it @kubernetes/client-node's generated API models, would not fit the
 * ConfigMap limit of 1 MiB, compressed it does.
 *
 * The program calls {@link agentBundle} at evaluation time. The result is cached on disk under
 * node_modules/.cache (so a fresh clone builds it once after `npm ci`, and a checkout whose sources changed never
 * ships a stale agent) and in memory (so repeated evaluations in one process cost nothing).
 *
 * A packed mysql-ha carries the bundle built (dist/agent-bundle.json, written by `npm pack`'s prepack with
 * --prebuilt): a program that installs the package has no sources to build it from.
 *
 * Run it to see the sizes and what contributes most: npx ts-node -T scripts/agent-bundle.ts [--out FILE]
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import type * as esbuild from "esbuild";
import { PACKAGE_ROOT as ROOT } from "../components/package-root";

const ENTRY = "cli/run.ts";
const CACHE = path.join(ROOT, "node_modules", ".cache", "mysql-ha", "agent-bundle.json");
const PREBUILT = path.join(ROOT, "dist", "agent-bundle.json");
/** Kubernetes refuses a ConfigMap whose data exceeds 1 MiB; the bundle's base64 must leave room for the rest. */
export const CONFIGMAP_LIMIT_BYTES = 1024 * 1024;

/** The compiled agent as the ConfigMap carries it. */
export interface AgentBundle {
  /** The brotli-compressed bundle, base64 (the ConfigMap's binaryData value). */
  brotliBase64: string;
  /** sha256 (hex) of the uncompressed bundle: the init container checks it, and the pod template carries it. */
  sha256: string;
  /** Size of the uncompressed bundle in bytes. */
  bytes: number;
}

interface CacheFile extends AgentBundle {
  /** Every file the bundle was built from, with size and mtime: any change rebuilds it. */
  inputs: Array<[file: string, size: number, mtimeMs: number]>;
}

/**
 * esbuild plugin for the CLI sources:
 * - local/, offline/ and bench/ (the demo, the offline renderer and policy run, the benchmarks, with TypeScript and
 *   the Pulumi SDK behind them) are left out: their commands fail naming what is missing, the others work;
 * - `createRequire(__filename)("pkg")` (how kube-config.ts loads the ES module @kubernetes/client-node outside
 *   esbuild, see there) becomes `require("pkg")` so esbuild bundles the package; any other runtime require in the
 *   sources would look for node_modules next to the bundle, where there are none, so it fails the build.
 */
function cliSources(): esbuild.Plugin {
  const outside = (file: string) =>
    ["local", "offline", "bench"].some(
      (dir) => file === path.join(ROOT, dir) || file.startsWith(path.join(ROOT, dir) + path.sep),
    );
  return {
    name: "mysql-ha-cli-sources",
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        const file = path.resolve(args.resolveDir, args.path);
        return args.namespace === "file" && outside(file)
          ? { path: path.relative(ROOT, file), namespace: "stub" }
          : undefined;
      });
      build.onLoad({ filter: /.*/, namespace: "stub" }, (args) => ({
        loader: "js",
        contents: `throw new Error(${JSON.stringify(`${args.path} is not in the agent bundle (the in-cluster build of mysql-ha); run this command from a checkout of mysql-ha`)});`,
      }));
      build.onLoad({ filter: /\.ts$/ }, (args) => {
        if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
        const source = fs.readFileSync(args.path, "utf8");
        if (!source.includes("createRequire")) return undefined;
        const contents = source.replace(/createRequire\(__filename\)\(("[^"]+")\)/g, "require($1)");
        if (/\bcreateRequire\s*\(/.test(contents)) {
          throw new Error(
            `${path.relative(ROOT, args.path)}: a createRequire other than createRequire(__filename)("package") cannot be bundled`,
          );
        }
        return { contents, loader: "ts" };
      });
    },
  };
}

/** esbuild of `entry` (relative to the repository root) into one minified CommonJS file for Node 20. */
export async function buildBundle(entry = ENTRY): Promise<{ js: Buffer; metafile: esbuild.Metafile }> {
  const { build }: typeof esbuild = require("esbuild");
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: ROOT,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: true,
    write: false,
    outfile: "mysql-ha.js",
    metafile: true,
    logLevel: "silent",
    plugins: [cliSources()],
  });
  return { js: Buffer.from(result.outputFiles[0].contents), metafile: result.metafile };
}

/** Brotli at its best ratio: a few seconds, only when the sources change. */
export function compress(js: Buffer): Buffer {
  return zlib.brotliCompressSync(js, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: js.length },
  });
}

/** Bytes in the bundle per package (node_modules) or top-level folder, largest first: what to shrink. */
export function contributions(metafile: esbuild.Metafile): Array<[string, number]> {
  const totals = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const parts = input.split("/");
      const nm = parts.lastIndexOf("node_modules");
      const key =
        nm >= 0
          ? parts.slice(nm + 1, nm + (parts[nm + 1]?.startsWith("@") ? 3 : 2)).join("/")
          : parts.slice(0, Math.min(2, parts.length - 1) || 1).join("/");
      totals.set(key, (totals.get(key) ?? 0) + bytesInOutput);
    }
  }
  return [...totals].sort((a, b) => b[1] - a[1]);
}

const base64Length = (bytes: number) => Math.ceil(bytes / 3) * 4;

/** Builds the bundle and checks it fits a ConfigMap; the error names the sizes and the largest contributors. */
async function buildAgentBundle(): Promise<CacheFile> {
  const { js, metafile } = await buildBundle();
  const brotli = compress(js);
  if (base64Length(brotli.length) >= CONFIGMAP_LIMIT_BYTES) {
    const top = contributions(metafile)
      .slice(0, 8)
      .map(([k, v]) => `${k} ${(v / 1024).toFixed(0)} KiB`)
      .join(", ");
    throw new Error(
      `the agent bundle does not fit a ConfigMap: ${js.length} bytes, ${brotli.length} brotli, ${base64Length(brotli.length)} base64 ` +
        `(limit ${CONFIGMAP_LIMIT_BYTES}); largest parts: ${top}`,
    );
  }
  // This builder's own source (not the compiled copy in dist/, which every build rewrites).
  const files = [
    ...Object.keys(metafile.inputs).filter((f) => !f.includes(":")),
    "scripts/agent-bundle.ts",
    "node_modules/esbuild/package.json",
  ];
  return {
    brotliBase64: brotli.toString("base64"),
    sha256: createHash("sha256").update(js).digest("hex"),
    bytes: js.length,
    inputs: files.map((f) => stamp(f)),
  };
}

function stamp(file: string): [string, number, number] {
  const st = fs.statSync(path.join(ROOT, file));
  return [file, st.size, st.mtimeMs];
}

function fresh(cache: CacheFile): boolean {
  try {
    return cache.inputs.every(([file, size, mtimeMs]) => {
      const [, s, m] = stamp(file);
      return s === size && m === mtimeMs;
    });
  } catch {
    return false; // an input is gone
  }
}

let memo: Promise<AgentBundle> | undefined;

/** The agent bundle: from memory, from the disk cache while its inputs are unchanged, else built (and cached). */
export function agentBundle(): Promise<AgentBundle> {
  memo ??= loadOrBuild();
  return memo;
}

async function loadOrBuild(): Promise<AgentBundle> {
  if (!fs.existsSync(path.join(ROOT, ENTRY))) return JSON.parse(fs.readFileSync(PREBUILT, "utf8"));
  let cached: CacheFile | undefined;
  try {
    cached = JSON.parse(fs.readFileSync(CACHE, "utf8"));
  } catch {
    cached = undefined;
  }
  if (!cached || !fresh(cached)) {
    cached = await buildAgentBundle();
    try {
      // Written whole and renamed, so a concurrent evaluation reads the old or the new file, never half of one.
      fs.mkdirSync(path.dirname(CACHE), { recursive: true });
      const tmp = `${CACHE}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(cached));
      fs.renameSync(tmp, CACHE);
    } catch {
      // A read-only checkout still works; it builds on every run.
    }
  }
  return { brotliBase64: cached.brotliBase64, sha256: cached.sha256, bytes: cached.bytes };
}

async function report(argv: string[]): Promise<void> {
  if (argv[0] === "--prebuilt") {
    const { brotliBase64, sha256, bytes } = await buildAgentBundle();
    fs.mkdirSync(path.dirname(PREBUILT), { recursive: true });
    fs.writeFileSync(PREBUILT, JSON.stringify({ brotliBase64, sha256, bytes }));
    return;
  }
  const out = argv.indexOf("--out");
  const { js, metafile } = await buildBundle();
  const brotli = compress(js);
  if (out >= 0) fs.writeFileSync(argv[out + 1], js);
  const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  console.log(
    `bundle ${kib(js.length)} (${js.length} bytes), brotli ${kib(brotli.length)}, base64 ${kib(base64Length(brotli.length))} of the ${kib(CONFIGMAP_LIMIT_BYTES)} ConfigMap limit`,
  );
  for (const [key, bytes] of contributions(metafile).slice(0, 15)) console.log(`  ${kib(bytes).padStart(9)}  ${key}`);
}

if (require.main === module) {
  report(process.argv.slice(2)).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
