import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { main } from "../../cli/main";
import { renderStack } from "../../offline/render";
import { runPolicies } from "../../offline/analyzer";

const ROOT = path.resolve(__dirname, "..", "..");

/** Runs the real CLI; resolves with exit code and output (never rejects on a non-zero exit). */
function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, "bin", "mysql-ha.js"), ...args],
      { cwd: ROOT },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** Runs the CLI in this process (the render stays warm), capturing what it writes. */
async function inProcess(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: "", stderr: "" };
  const write = { stdout: process.stdout.write, stderr: process.stderr.write };
  process.stdout.write = ((chunk: string) => ((out.stdout += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((out.stderr += chunk), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, ...out };
  } finally {
    process.stdout.write = write.stdout;
    process.stderr.write = write.stderr;
  }
}

describe("the shipped stacks against the policy pack", () => {
  test.each(["dev", "prod"])("stack %s renders and passes every mandatory policy", async (stack) => {
    const rendered = await renderStack({ stack });
    expect(rendered.errors).toEqual([]);
    const violations = await runPolicies(rendered.resources);
    expect(violations.filter((v) => v.level === "mandatory").map((v) => `${v.policy}: ${v.message}`)).toEqual([]);
  });
});

describe("the failover agent against the policy pack", () => {
  test("its Deployment is judged as a long-running workload, and passes every mandatory policy as shipped", async () => {
    const rendered = await renderStack({ stack: "prod" });
    const agentViolations = async (edit: (pod: any) => void = () => {}) => {
      const resources = structuredClone(rendered.resources);
      edit(resources.find((r) => r.name === "mysql-agent")!.inputs.spec.template.spec);
      const violations = await runPolicies(resources);
      return violations
        .filter((v) => v.level === "mandatory" && v.resource?.name === "mysql-agent")
        .map((v) => `${v.policy}: ${v.message}`);
    };
    expect(await agentViolations()).toEqual([]);
    // Probes apply to it (a Job's pods would be exempt), to the agent container and not to the init container.
    expect(await agentViolations((pod) => delete pod.containers[0].livenessProbe)).toEqual([
      'k8s-probes: Deployment/mysql-agent container "agent" has no livenessProbe.',
    ]);
    expect(await agentViolations((pod) => delete pod.containers[0].readinessProbe)).toEqual([
      "k8s-probes: Deployment/mysql-agent has no readinessProbe on any container: Services would route to it before it serves.",
    ]);
    expect(await agentViolations((pod) => delete pod.initContainers[0].resources.limits)).toEqual([
      'k8s-container-resources: Deployment/mysql-agent init container "unpack" has no resources.limits.cpu, resources.limits.memory.',
    ]);
  });
});

describe("mysql-ha policy", () => {
  test("prod with replicas=1 fails naming the replica-count policy (the real binary)", async () => {
    const r = await cli("policy", "--stack", "prod", "--set", "replicas=1");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^production-replicas\s+mysql-statefulset \(StatefulSet\)\s+mandatory\s+StatefulSet\/mysql has 1 replica\(s\); production needs at least 3/m,
    );
    expect(r.stdout).toMatch(/-> FAILED$/m);
  });

  test("a stack tag makes dev production; --json reports it; a policy config makes a policy advisory", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-cli-"));
    try {
      const file = path.join(dir, "policy-config.json");
      fs.writeFileSync(
        file,
        JSON.stringify({ "production-replicas": { enforcementLevel: "advisory", minReplicas: 2 } }),
      );
      const tagged = await inProcess("policy", "--stack", "dev", "--tag", "environment=production", "--json");
      const report = JSON.parse(tagged.stdout);
      expect(report).toMatchObject({ stack: "dev", passed: false });
      expect(report.violations).toContainEqual(
        expect.objectContaining({
          policy: "production-replicas",
          level: "mandatory",
          message: "StatefulSet/mysql has 2 replica(s); production needs at least 3 (policy config minReplicas).",
        }),
      );
      expect(tagged.code).toBe(1);
      const relaxed = JSON.parse(
        (await inProcess("policy", "--stack", "dev", "--tag", "environment=production", "--json", "--config", file))
          .stdout,
      );
      expect(relaxed.violations.filter((v: { policy: string }) => v.policy === "production-replicas")).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("usage errors and a config the engine refuses exit 2 naming the problem", async () => {
    const missing = await inProcess("policy");
    expect(missing).toMatchObject({ code: 2, stderr: "mysql-ha policy: --stack <name> is required\n" });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-cli-"));
    try {
      const file = path.join(dir, "bad.json");
      fs.writeFileSync(
        file,
        JSON.stringify({ "production-replicas": { enforcementLevel: "strict", minReplicas: "3" } }),
      );
      const bad = await inProcess("policy", "--stack", "dev", "--config", file);
      expect(bad).toMatchObject({ code: 2, stdout: "" });
      expect(bad.stderr).toBe(
        'mysql-ha policy: invalid policy config:\n  - "production-replicas.enforcementLevel": "strict" is not an enforcement level (advisory, mandatory, remediate, disabled)\n',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("what the engine would ignore in a policy config is a warning; the check runs", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-cli-"));
    try {
      const file = path.join(dir, "typo.json");
      fs.writeFileSync(file, JSON.stringify({ "production-replica": "advisory" }));
      const typo = await inProcess("policy", "--stack", "dev", "--config", file, "--json");
      expect(typo.code).toBe(0);
      const warning =
        '"production-replica" is not a policy of mysql-ha-guardrails (did you mean "production-replicas"?); ignored';
      expect(typo.stderr).toContain(`mysql-ha policy: warning: policy config ${warning}\n`);
      expect(JSON.parse(typo.stdout)).toMatchObject({ stack: "dev", passed: true, warnings: [warning] });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("another program, rendered offline", () => {
  test("its violations are named, and its well-built bucket (parts linked by bucket id) passes", async () => {
    const rendered = await renderStack({ stack: "production", projectDir: path.join(__dirname, "other-program") });
    expect(rendered.errors).toEqual([]);
    const v = await runPolicies(rendered.resources);
    const found = v
      .filter((x) => x.level === "mandatory")
      .map((x) => `${x.policy} ${x.resource?.name ?? "(stack)"}: ${x.message}`);
    expect(found).toEqual(
      expect.arrayContaining([
        'k8s-image-pinned web: Deployment/web container "web": image "nginx:latest" uses the floating tag "latest"; pin a version tag or digest.',
        'k8s-no-literal-secrets-in-env web: Deployment/web container "web" sets env DB_PASSWORD to a literal value; use valueFrom.secretKeyRef.',
        "k8s-no-public-load-balancer web: Service/web is a public LoadBalancer; use ClusterIP, an internal load balancer annotation, loadBalancerSourceRanges, or list it in allowedServices.",
        "production-replicas db: StatefulSet/db has 1 replica(s); production needs at least 3 (policy config minReplicas).",
        "production-backups (stack): Production stack has StatefulSets but no backup CronJob (a CronJob whose name or app.kubernetes.io/component matches /backup/).",
        "s3-bucket-private dumps: Bucket/dumps public access block leaves blockPublicAcls, blockPublicPolicy not true.",
      ]),
    );
    expect(v.filter((x) => x.resource?.name === "assets")).toEqual([]);
    expect(
      v
        .filter((x) => x.resource?.name === "dumps")
        .map((x) => x.policy)
        .sort(),
    ).toEqual([
      "s3-bucket-encrypted",
      "s3-bucket-lifecycle",
      "s3-bucket-private",
      "s3-bucket-tls-only",
      "s3-bucket-versioned",
    ]);
    expect(JSON.stringify(v)).not.toContain("literal-pw");
  });
});
