import * as fs from "node:fs";
import * as path from "node:path";
import { Command, parseCommandArgs, UsageError } from "../command";

export const command: Command = {
  name: "render",
  summary: "Evaluate the program offline for a stack and write its Kubernetes manifests (secrets redacted)",
  usage: `Usage: mysql-ha render --stack <name> [--out DIR] [--set key=value ...]

Evaluates the real Pulumi program (index.ts) under Pulumi mocks with the stack's config
(Pulumi.<name>.yaml plus --set overrides), without a cluster, cloud or Pulumi CLI. Writes one YAML file per
Kubernetes object (<kind>-<name>.yaml) and resources.json (the other resources, every resource's parent and
dependencies, and the stack outputs). Generated passwords appear as "[secret]".

Options:
  --stack <name>       stack to render (a Pulumi.<name>.yaml must exist)
  --out <dir>          output directory (default: render/<stack>); earlier *.yaml files there are replaced
  --set key=value      override one config key, as 'pulumi config set' would (repeatable)
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
    const set: Record<string, string> = {};
    for (const pair of opts.set ?? []) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new UsageError(`--set expects key=value, got '${pair}'`);
      set[pair.slice(0, eq)] = pair.slice(eq + 1);
    }

    const { renderStack, kubernetesManifests } = require("../../local/render") as typeof import("../../local/render");
    const yaml = require("js-yaml") as typeof import("js-yaml");
    const rendered = await renderStack({ stack: opts.stack, set, projectDir: opts["project-dir"] });
    if (rendered.errors.length > 0) {
      process.stderr.write(`mysql-ha render: stack '${opts.stack}' cannot be rendered:\n` + rendered.errors.map((e) => `  - ${e}\n`).join(""));
      return 1;
    }

    const out = path.resolve(opts.out ?? path.join("render", opts.stack));
    fs.mkdirSync(out, { recursive: true });
    for (const f of fs.readdirSync(out)) if (f.endsWith(".yaml")) fs.rmSync(path.join(out, f));

    const manifests = kubernetesManifests(rendered);
    for (const { manifest } of manifests) {
      const file = `${String(manifest.kind).toLowerCase()}-${manifest.metadata?.name}.yaml`;
      fs.writeFileSync(path.join(out, file), yaml.dump(manifest, { lineWidth: -1, noRefs: true }));
    }
    const others = rendered.resources.filter((r) => !manifests.some((m) => m.resource === r));
    const summary = {
      stack: rendered.stack,
      outputs: rendered.outputs,
      kubernetesObjects: manifests.map(({ resource: r }) => ({ type: r.type, name: r.name, urn: r.urn, parent: r.parent, dependsOn: r.dependsOn })),
      resources: others,
    };
    fs.writeFileSync(path.join(out, "resources.json"), JSON.stringify(summary, null, 2) + "\n");
    process.stdout.write(`rendered stack '${opts.stack}': ${manifests.length} Kubernetes objects, ${others.length} other resources -> ${out}\n`);
    return 0;
  },
};
