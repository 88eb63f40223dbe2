import * as fs from "node:fs";
import * as path from "node:path";
import { Command, keyValues, parseCommandArgs, UsageError } from "../command";

/** Lists, in a directory render wrote, the files it wrote there: the only ones a later render replaces. */
const MARKER = ".mysql-ha-render";

export const command: Command = {
  name: "render",
  usage: `Usage: mysql-ha render --stack <name> [--out DIR] [--set key=value ...]

Evaluates the real Pulumi program (index.ts) under Pulumi mocks with the stack's config
(Pulumi.<name>.yaml plus --set overrides), without a cluster, cloud or Pulumi CLI. Writes one YAML file per
Kubernetes object (<kind>-<name>.yaml) and resources.json (the other resources, every resource's parent and
dependencies, and the stack outputs). Generated passwords appear as "[secret]".

Options:
  --stack <name>       stack to render (a Pulumi.<name>.yaml must exist)
  --out <dir>          output directory (default: render/<stack>): new, empty, or written by an earlier render,
                       whose files are then replaced; any other directory is refused
  --set key=value      override one config key, as 'pulumi config set' would (repeatable); a dotted key sets one
                       field of an object key, as 'pulumi config set --path' does: serverConfig.max_connections=500
  --project-dir <dir>  directory with Pulumi.yaml and the stack files (default: this repository)
  -h, --help           this text

Exit status: 0 rendered; 1 invalid config or program error (every message printed); 2 usage error.

Examples:
  mysql-ha render --stack dev
  mysql-ha render --stack prod --set replicas=5 --out /tmp/prod5`,

  async run(argv) {
    const opts = parseCommandArgs(this, argv, {
      stack: { type: "string" },
      out: { type: "string" },
      set: { type: "string", multiple: true },
      "project-dir": { type: "string" },
    });
    if (!opts) return 0;
    if (!opts.stack) throw new UsageError("--stack <name> is required");
    const set = keyValues("--set", opts.set);
    const out = path.resolve(opts.out ?? path.join("render", opts.stack));
    const earlier = ownedFiles(out);

    const { renderStack, kubernetesManifests } =
      require("../../offline/render") as typeof import("../../offline/render");
    const yaml = require("js-yaml") as typeof import("js-yaml");
    const rendered = await renderStack({ stack: opts.stack, set, projectDir: opts["project-dir"] });
    if (rendered.errors.length > 0) {
      process.stderr.write(
        `mysql-ha render: stack '${opts.stack}' cannot be rendered:\n` +
          rendered.errors.map((e) => `  - ${e}\n`).join(""),
      );
      return 1;
    }

    fs.mkdirSync(out, { recursive: true });
    for (const f of earlier) fs.rmSync(path.join(out, f), { force: true });

    const manifests = kubernetesManifests(rendered);
    const written: string[] = [];
    for (const { manifest } of manifests) {
      const file = `${String(manifest.kind).toLowerCase()}-${manifest.metadata?.name}.yaml`;
      fs.writeFileSync(path.join(out, file), yaml.dump(manifest, { lineWidth: -1, noRefs: true }));
      written.push(file);
    }
    const others = rendered.resources.filter((r) => !manifests.some((m) => m.resource === r));
    const summary = {
      stack: rendered.stack,
      outputs: rendered.outputs,
      kubernetesObjects: manifests.map(({ resource: r }) => ({
        type: r.type,
        name: r.name,
        urn: r.urn,
        parent: r.parent,
        dependsOn: r.dependsOn,
      })),
      resources: others,
    };
    fs.writeFileSync(path.join(out, "resources.json"), JSON.stringify(summary, null, 2) + "\n");
    fs.writeFileSync(path.join(out, MARKER), [...written, "resources.json"].join("\n") + "\n");
    process.stdout.write(
      `rendered stack '${opts.stack}': ${manifests.length} Kubernetes objects, ${others.length} other resources -> ${out}\n`,
    );
    return 0;
  },
};

/**
 * The files an earlier render wrote into `dir` (none for a new or empty directory). Any other non-empty directory
 * is refused: `--out .` must never delete Pulumi.yaml or anything else render did not write.
 */
function ownedFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  if (!fs.statSync(dir).isDirectory()) throw new UsageError(`--out ${dir} is not a directory`);
  const entries = fs.readdirSync(dir);
  if (entries.length === 0) return [];
  if (!entries.includes(MARKER)) {
    throw new UsageError(
      `--out ${dir} is not empty and was not written by 'mysql-ha render': choose a new or empty directory`,
    );
  }
  // Names only, never paths: a tampered marker cannot reach outside the directory.
  return fs
    .readFileSync(path.join(dir, MARKER), "utf8")
    .split("\n")
    .filter((f) => f && f === path.basename(f))
    .concat(MARKER);
}
