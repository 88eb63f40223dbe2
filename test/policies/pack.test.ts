/**
 * The policy pack run the way `pulumi preview --policy-pack policies` runs it: the Pulumi Node.js policy host
 * (`@pulumi/pulumi/cmd/run-policy-pack`, TypeScript type-checked by ts-node) in policies/, spoken to over the
 * analyzer gRPC protocol the CLI uses. Its verdicts must equal the offline runner's: one set of functions.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { RenderedResource, runPolicies } from "../../offline/analyzer";
import { policies, PACK_NAME } from "../../policies/policies";
import { analyzeRequest, analyzeStackRequest, configureRequest, LEVELS } from "./analyzer-requests";
import { T, bucketParts, pdb, resource, service, statefulSet } from "./fixtures";

const grpc = require("@grpc/grpc-js");
const { AnalyzerClient } = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const { Empty } = require("google-protobuf/google/protobuf/empty_pb");

const PACK_DIR = path.resolve(__dirname, "..", "..", "policies");

let host: ChildProcess;
let client: any;

const call = <T>(method: string, req: unknown): Promise<T> =>
  new Promise((resolve, reject) =>
    client[method](req, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))),
  );

beforeAll(async () => {
  host = spawn(process.execPath, [require.resolve("@pulumi/pulumi/cmd/run-policy-pack"), "127.0.0.1:0", "."], {
    cwd: PACK_DIR,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  host.stderr!.on("data", (d) => (stderr += d));
  const port = await new Promise<string>((resolve, reject) => {
    let out = "";
    host.stdout!.on("data", (d) => {
      out += d;
      const m = /^(\d+)\s*$/m.exec(out);
      if (m) resolve(m[1]);
    });
    host.on("exit", (code) => reject(new Error(`policy host exited ${code}: ${stderr}`)));
  });
  client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 90_000);

afterAll(() => {
  client?.close();
  if (host && host.exitCode === null) host.kill("SIGTERM");
});

function diagnostics(res: any) {
  return res.getDiagnosticsList().map((d: any) => ({
    policy: d.getPolicyname() as string,
    level: LEVELS[d.getEnforcementlevel()],
    // The host prefixes each message with the policy's description line.
    message: (d.getMessage() as string).split("\n").slice(1).join("\n"),
    urn: d.getUrn() as string,
  }));
}

async function analyze(r: RenderedResource) {
  return diagnostics(await call("analyze", analyzeRequest(r)));
}

async function analyzeStack(resources: RenderedResource[]) {
  return diagnostics(await call("analyzeStack", analyzeStackRequest(resources)));
}

const sorted = <X extends { policy: string; message: string }>(xs: X[]) =>
  xs.map((x) => `${x.policy}: ${x.message}`).sort();

describe("the policy pack under the Pulumi policy host", () => {
  test("announces the pack, every policy, its level and its config schema", async () => {
    const info = await call<any>("getAnalyzerInfo", new Empty());
    expect(info.getName()).toBe(PACK_NAME);
    const announced = info.getPoliciesList().map((p: any) => [p.getName(), LEVELS[p.getEnforcementlevel()]]);
    expect(announced).toEqual(policies.map((p) => [p.name, p.enforcementLevel]));
    const replicas = info.getPoliciesList().find((p: any) => p.getName() === "production-replicas");
    expect(replicas.getConfigschema().getProperties().toJavaScript().minReplicas).toMatchObject({
      type: "integer",
      default: 3,
    });
  });

  test("resource policies report what the offline runner reports for the same resource", async () => {
    const sts = statefulSet("prod", 1);
    sts.inputs.spec.template.spec.containers[0].image = "mariadb:latest";
    sts.inputs.spec.template.spec.containers[0].env.push({ name: "MARIADB_PASSWORD", value: "hunter2" });
    const viaPack = await analyze(sts);
    const offline = await runPolicies([sts], { policies: policies.filter((p) => "validateResource" in p) });
    expect(sorted(viaPack)).toEqual(sorted(offline));
    expect(viaPack.map((d: { policy: string }) => d.policy)).toEqual(
      expect.arrayContaining(["k8s-image-pinned", "k8s-no-literal-secrets-in-env", "production-replicas"]),
    );
    expect(JSON.stringify(viaPack)).not.toContain("hunter2");
  }, 30_000);

  test("stack policies report what the offline runner reports for the same stack", async () => {
    const stack = [
      statefulSet("prod"),
      service("prod", "LoadBalancer"),
      resource("prod", T.bucket, "dumps", { bucket: "dumps", acl: "public-read" }),
    ];
    const viaPack = await analyzeStack(stack);
    const offline = await runPolicies(stack, { policies: policies.filter((p) => "validateStack" in p) });
    expect(sorted(viaPack)).toEqual(sorted(offline));
    expect(new Set(viaPack.map((d: { policy: string }) => d.policy))).toEqual(
      new Set([
        "k8s-pdb-covers-statefulset",
        "production-backups",
        "production-network-policy",
        "s3-bucket-private",
        "s3-bucket-encrypted",
        "s3-bucket-versioned",
        "s3-bucket-lifecycle",
        "s3-bucket-tls-only",
      ]),
    );
  }, 30_000);

  test("a value unknown during preview is not judged a violation, there and offline", async () => {
    const parts = bucketParts("dev").map((r) =>
      r.type === T.bucketPolicy ? { ...r, inputs: { ...r.inputs, policy: unknownValue } } : r,
    );
    const stack = [...parts, statefulSet("dev"), pdb("dev")];
    expect(await analyzeStack(stack)).toEqual([]);
    expect(await runPolicies(stack, { policies: policies.filter((p) => "validateStack" in p) })).toEqual([]);
  }, 30_000);

  test("policy config sent by the CLI sets thresholds and levels", async () => {
    await call("configure", configureRequest("production-replicas", "ADVISORY", { minReplicas: 5 }));
    const viaPack = await analyze(statefulSet("prod", 3));
    expect(viaPack.filter((d: { policy: string }) => d.policy === "production-replicas")).toEqual([
      expect.objectContaining({
        level: "advisory",
        message: "StatefulSet/orders-db has 3 replica(s); production needs at least 5 (policy config minReplicas).",
      }),
    ]);
  }, 30_000);

  test("remediate, which this pack has no remediation for, reports as mandatory there and offline", async () => {
    await call("configure", configureRequest("production-replicas", "REMEDIATE", { minReplicas: 3 }));
    const sts = statefulSet("prod", 1);
    const replicas = (ds: Array<{ policy: string; level: string }>) =>
      ds.filter((d) => d.policy === "production-replicas").map((d) => d.level);
    expect(replicas(await analyze(sts))).toEqual(["mandatory"]);
    expect(replicas(await runPolicies([sts], { config: { "production-replicas": "remediate" } }))).toEqual([
      "mandatory",
    ]);
  }, 30_000);
});
