/**
 * The dependency rules of the README's Architecture, checked on every import of the product's TypeScript (static,
 * `export ... from`, `import()`, `require()` and `typeof import()`, as TypeScript's own pre-processor finds them):
 * the product never imports the local stand-ins, its folders import each other without cycles, and outside the
 * engine the engine is imported through its index.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

const ROOT = path.join(__dirname, "..");
const PRODUCT_DIRS = ["components", "cli", "policies", "offline"];
/** Not product: the stand-ins, the benchmarks, the tests. */
const NON_PRODUCT_DIRS = ["local", "bench", "test"];
/** The commands whose job is running the local stand-ins. */
const MAY_IMPORT_STAND_INS = new Set(["cli/commands/demo.ts", "cli/commands/bench.ts"]);
const ENGINE = "components/replication";

interface Edge {
  from: string;
  to: string;
}

function tsFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === "node_modules" ? [] : tsFiles(rel);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [rel] : [];
  });
}

/** A relative specifier as the repository path it names (a file, or a folder's index). */
function resolve(from: string, specifier: string): string {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  for (const candidate of [`${base}.ts`, `${base}/index.ts`, base]) {
    if (fs.existsSync(path.join(ROOT, candidate)) && fs.statSync(path.join(ROOT, candidate)).isFile()) return candidate;
  }
  return base;
}

/** Every relative import of the product's files (packages and node: modules are not the tree's business). */
function productImports(): Edge[] {
  const files = [...PRODUCT_DIRS.flatMap(tsFiles), "index.ts"];
  return files.flatMap((from) =>
    ts
      .preProcessFile(fs.readFileSync(path.join(ROOT, from), "utf8"), true, true)
      .importedFiles.filter((i) => i.fileName.startsWith("."))
      .map((i) => ({ from, to: resolve(from, i.fileName) })),
  );
}

/** The folder a file belongs to for the cycle rule: components/<folder>, else its top folder; top-level files stand alone. */
function unit(file: string): string {
  const parts = file.split("/");
  if (parts.length === 1) return file;
  if (parts[0] === "components") return parts.length > 2 ? parts.slice(0, 2).join("/") : file;
  return parts[0];
}

/** The first cycle among the units, as the imports that close it, or null. */
function findCycle(edges: Edge[]): Edge[] | null {
  const out = new Map<string, Map<string, Edge>>();
  for (const e of edges) {
    const [a, b] = [unit(e.from), unit(e.to)];
    if (a === b) continue;
    if (!out.has(a)) out.set(a, new Map());
    if (!out.get(a)!.has(b)) out.get(a)!.set(b, e);
  }
  const done = new Set<string>();
  const stack: string[] = [];
  const visit = (u: string): Edge[] | null => {
    const open = stack.indexOf(u);
    if (open >= 0) return [...stack.slice(open), u].slice(1).map((v, i) => out.get(stack[open + i])!.get(v)!);
    if (done.has(u)) return null;
    stack.push(u);
    for (const v of out.get(u)?.keys() ?? []) {
      const cycle = visit(v);
      if (cycle) return cycle;
    }
    stack.pop();
    done.add(u);
    return null;
  };
  for (const u of out.keys()) {
    const cycle = visit(u);
    if (cycle) return cycle;
  }
  return null;
}

const show = (edges: Edge[]) => edges.map((e) => `${e.from} -> ${e.to}`);

describe("dependencies point one way", () => {
  const edges = productImports();

  test("the scan sees imports of every kind (the demo command's require of local/)", () => {
    expect(edges).toContainEqual({ from: "cli/commands/demo.ts", to: "local/demo/scenario.ts" });
    expect(edges).toContainEqual({ from: "cli/commands/backup.ts", to: "cli/scripts.ts" });
  });

  test("the product imports no stand-in, benchmark or test, except the demo and bench commands", () => {
    const violations = edges.filter(
      (e) => NON_PRODUCT_DIRS.includes(e.to.split("/")[0]) && !MAY_IMPORT_STAND_INS.has(e.from),
    );
    expect(show(violations)).toEqual([]);
  });

  test("no cycle between the product's folders", () => {
    expect(show(findCycle(edges) ?? [])).toEqual([]);
  });

  test("the cycle finder finds one (kubernetes <-> upgrade, as it was)", () => {
    const cycle = findCycle([
      { from: "components/kubernetes/statefulset.ts", to: "components/upgrade/config-hash.ts" },
      { from: "components/upgrade/config-hash.ts", to: "components/kubernetes/server-config.ts" },
    ]);
    expect(cycle && show(cycle)).toEqual([
      "components/kubernetes/statefulset.ts -> components/upgrade/config-hash.ts",
      "components/upgrade/config-hash.ts -> components/kubernetes/server-config.ts",
    ]);
  });

  test("outside the engine, the engine is imported through its index only", () => {
    const violations = edges.filter(
      (e) => !e.from.startsWith(`${ENGINE}/`) && e.to.startsWith(`${ENGINE}/`) && e.to !== `${ENGINE}/index.ts`,
    );
    expect(show(violations)).toEqual([]);
  });
});
