import * as fs from "node:fs";
import { asUsage, Command, keyValues, parseCommandArgs, UsageError } from "../command";
import type { PolicyPackConfig, Violation } from "../../offline/analyzer";

export const command: Command = {
  name: "policy",
  usage: `Usage: mysql-ha policy --stack <name> [--set key=value ...] [--config FILE] [--tag key=value ...] [--preview] [--json]

Renders the stack offline (the real program under Pulumi mocks, as 'mysql-ha render' does: no cluster, cloud,
Pulumi CLI, service or credentials), runs every policy of the pack in policies/ on the result with the same
functions 'pulumi preview --policy-pack policies' runs, and prints each violation: policy, resource, level,
message. Production-only policies treat a stack as production when its name matches /(^|[-_./])prod(uction)?($|[-_./])/
or its 'environment' tag is production/prod (both configurable). Stack policies see each resource's inputs here;
in the Pulumi CLI they see its outputs.

Options:
  --stack <name>       stack to check (a Pulumi.<name>.yaml must exist)
  --set key=value      override one config key, as 'pulumi config set' would (repeatable)
  --config <file>      policy config, the same JSON file 'pulumi preview --policy-pack-config' takes:
                       {"production-replicas": {"minReplicas": 5}, "k8s-image-digest": "disabled"}
                       checked as the engine checks it (levels advisory, mandatory, remediate, disabled; each
                       policy's JSON schema, its defaults filled in); what the engine would ignore (a name that
                       is no policy, a key no schema declares) is printed as a warning
  --tag key=value      a stack tag, as 'pulumi stack tag set' would (repeatable), e.g. environment=production
  --preview            evaluate as 'pulumi preview' does: values not known before deployment (a new bucket's ARN)
                       are unknown, and a policy that reads one is reported as advisory "can't run ... during
                       preview", as the Pulumi policy host does (default: as 'pulumi up' would, every value known)
  --json               print {stack, passed, policies, resources, warnings, violations} as JSON instead of a table
  -h, --help           this text

Exit status: 0 no mandatory violation (advisory ones are printed); 1 a mandatory violation, or the stack
cannot be rendered; 2 usage error or invalid policy config.

Examples:
  mysql-ha policy --stack prod
  mysql-ha policy --stack prod --set replicas=1          # fails: production-replicas
  mysql-ha policy --stack staging --tag environment=production --json`,

  async run(argv) {
    const opts = parseCommandArgs(this, argv, {
      stack: { type: "string" },
      set: { type: "string", multiple: true },
      config: { type: "string" },
      tag: { type: "string", multiple: true },
      preview: { type: "boolean" },
      json: { type: "boolean" },
    });
    if (!opts) return 0;
    if (!opts.stack) throw new UsageError("--stack <name> is required");
    const set = keyValues("--set", opts.set);
    const stackTags = keyValues("--tag", opts.tag);
    const config = opts.config ? readConfig(opts.config) : undefined;

    const { policies } = require("../../policies/policies") as typeof import("../../policies/policies");
    const { reconcileConfig, runPolicies, blocks } =
      require("../../offline/analyzer") as typeof import("../../offline/analyzer");
    const { warnings } = asUsage(() => reconcileConfig(policies, config)); // refuse a bad config before the (slower) render
    for (const w of warnings) process.stderr.write(`mysql-ha policy: warning: policy config ${w}\n`);

    const { renderStack } = require("../../offline/render") as typeof import("../../offline/render");
    const rendered = await renderStack({ stack: opts.stack, set, preview: opts.preview });
    if (rendered.errors.length > 0) {
      process.stderr.write(
        `mysql-ha policy: stack '${opts.stack}' cannot be rendered:\n` +
          rendered.errors.map((e) => `  - ${e}\n`).join(""),
      );
      return 1;
    }
    const violations = await runPolicies(rendered.resources, { config, stackTags });
    const passed = !blocks(violations);
    if (opts.json) {
      const summary = {
        stack: opts.stack,
        passed,
        policies: policies.length,
        resources: rendered.resources.length,
        warnings,
        violations,
      };
      process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
    } else {
      process.stdout.write(table(violations));
      const mandatory = violations.filter((v) => v.level === "mandatory").length;
      process.stdout.write(
        `stack '${opts.stack}': ${policies.length} policies, ${rendered.resources.length} resources: ` +
          `${mandatory} mandatory, ${violations.length - mandatory} advisory violation(s) -> ${passed ? "passed" : "FAILED"}\n`,
      );
    }
    return passed ? 0 : 1;
  },
};

function readConfig(file: string): PolicyPackConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`--config ${file}: ${(err as Error).message}`);
  }
  try {
    const value = JSON.parse(text);
    if (!value || typeof value !== "object" || Array.isArray(value))
      throw new Error("expected an object of policy name -> config");
    return value;
  } catch (err) {
    throw new UsageError(`--config ${file}: not a policy config: ${(err as Error).message}`);
  }
}

/** Violations as an aligned table (policy, resource, level, message); the message column is last and free. */
export function table(violations: Violation[]): string {
  if (violations.length === 0) return "no violations\n";
  const rows = violations.map((v) => [
    v.policy,
    v.resource ? `${v.resource.name} (${v.resource.type.split(":").pop()})` : "(stack)",
    v.level,
    v.message,
  ]);
  const header = ["POLICY", "RESOURCE", "LEVEL", "MESSAGE"];
  const widths = [0, 1, 2].map((i) => Math.max(header[i].length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c))
      .join("  ")
      .trimEnd() + "\n";
  return [header, ...rows].map(line).join("");
}
