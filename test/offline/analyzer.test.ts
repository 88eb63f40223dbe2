/**
 * The offline policy run against what the Pulumi CLI's analyzer does. The policy host's part is compared with the
 * real thing: @pulumi/policy's own analyze functions (server.js), called in-process with the requests the engine
 * sends. The engine's part (config reconciliation, hidden `__*` properties) has no JavaScript to call, so its rules
 * are checked one by one.
 */
import * as path from "node:path";
import type {
  PolicyConfigSchema,
  PolicyResource,
  ResourceValidationPolicy,
  StackValidationPolicy,
} from "@pulumi/policy";
import { PolicyConfigError, RenderedResource, reconcileConfig, runPolicies } from "../../offline/analyzer";
import { renderStack } from "../../offline/render";
import { PACK_NAME, policies } from "../../policies/policies";
import { get } from "../../policies/support";
import { version as PACK_VERSION } from "../../policies/package.json";
import { analyzeRequest, analyzeStackRequest, LEVELS } from "../policies/analyzer-requests";
import { T, resource, statefulSet } from "../policies/fixtures";

const host = require("@pulumi/policy/server");
const { unknownValue } = require("@pulumi/pulumi/runtime/rpc");

/** What the real policy host reports, called as the engine calls it. */
async function viaHost(rpc: (call: unknown, cb: (err: Error | null, res: any) => void) => void, request: unknown) {
  const res = await new Promise<any>((resolve, reject) =>
    rpc({ request }, (err, r) => (err ? reject(err) : resolve(r))),
  );
  return res
    .getDiagnosticsList()
    .map((d: any) => ({ policy: d.getPolicyname(), level: LEVELS[d.getEnforcementlevel()], message: d.getMessage() }));
}

function hostAnalyze(policy: ResourceValidationPolicy, r: RenderedResource) {
  return viaHost(host.makeAnalyzeRpcFun(PACK_NAME, PACK_VERSION, "mandatory", [policy]), analyzeRequest(r));
}

function hostAnalyzeStack(policy: StackValidationPolicy, resources: RenderedResource[]) {
  return viaHost(
    host.makeAnalyzeStackRpcFun(PACK_NAME, PACK_VERSION, "mandatory", [policy]),
    analyzeStackRequest(resources),
  );
}

/** Offline violations in the host's terms (the host prefixes a reported message with the description). */
async function offline(policy: ResourceValidationPolicy | StackValidationPolicy, resources: RenderedResource[]) {
  const v = await runPolicies(resources, { policies: [policy] });
  return v.map((x) => ({
    policy: x.policy,
    level: x.level,
    message: x.message.startsWith("can't run ") ? x.message : `${policy.description}\n${x.message}`,
  }));
}

const sts = () => {
  const r = statefulSet("dev");
  r.inputs.spec.replicas = unknownValue;
  return r;
};

describe("values not known during preview", () => {
  test("a policy that reads one directly cannot run, reported advisory as the policy host reports it", async () => {
    const policy: ResourceValidationPolicy = {
      name: "replicas-read",
      description: "Reads spec.replicas.",
      enforcementLevel: "mandatory",
      validateResource: (args, report) => {
        if (args.props.spec.replicas < 3) report("too few");
      },
    };
    const expected = [
      {
        policy: "replicas-read",
        level: "advisory",
        message:
          `can't run policy 'replicas-read' from policy pack '${PACK_NAME}@v${PACK_VERSION}' during preview: ` +
          "string value at .spec.replicas can't be known during preview",
      },
    ];
    expect(await hostAnalyze(policy, sts())).toEqual(expected);
    expect(await offline(policy, [sts()])).toEqual(expected);
  });

  test("a policy that reads it through support.get gets UNKNOWN, there and here", async () => {
    const policy: ResourceValidationPolicy = {
      name: "replicas-get",
      description: "Reads spec.replicas safely.",
      validateResource: (args, report) => {
        const n = get(get(args.props, "spec"), "replicas");
        if (typeof n !== "number" || n < 3) report(`replicas ${String(n)}`);
      },
    };
    const expected = [
      { policy: "replicas-get", level: "mandatory", message: "Reads spec.replicas safely.\nreplicas Symbol(unknown)" },
    ];
    expect(await hostAnalyze(policy, sts())).toEqual(expected);
    expect(await offline(policy, [sts()])).toEqual(expected);
  });

  test("in a stack policy too", async () => {
    const policy: StackValidationPolicy = {
      name: "stack-read",
      description: "Reads every replica count.",
      validateStack: (args, report) => {
        for (const r of args.resources) if (r.props.spec?.replicas === undefined) report("none");
      },
    };
    const expected = [
      {
        policy: "stack-read",
        level: "advisory",
        message:
          `can't run policy 'stack-read' from policy pack '${PACK_NAME}@v${PACK_VERSION}' during preview: ` +
          "string value at .spec.replicas can't be known during preview",
      },
    ];
    expect(await hostAnalyzeStack(policy, [sts()])).toEqual(expected);
    expect(await offline(policy, [sts()])).toEqual(expected);
  });

  test("a previewed render carries the unknowns (a new bucket's ARN), and the pack still judges the rest", async () => {
    const projectDir = path.join(__dirname, "..", "policies", "other-program");
    const previewed = await renderStack({ stack: "production", projectDir, preview: true });
    expect(previewed.errors).toEqual([]);
    expect(previewed.resources.find((r) => r.type === T.bucketPolicy)!.inputs.policy).toBe(unknownValue);
    const readsPolicy: ResourceValidationPolicy = {
      name: "reads-bucket-policy",
      description: "Reads a bucket policy.",
      validateResource: (args) => void (args.type === T.bucketPolicy && JSON.parse(args.props.policy)),
    };
    const v = await runPolicies(previewed.resources, { policies: [...policies, readsPolicy] });
    expect(v.filter((x) => x.policy === "reads-bucket-policy")).toEqual([
      expect.objectContaining({
        level: "advisory",
        resource: expect.objectContaining({ name: "assets" }),
        message: expect.stringMatching(
          /^can't run policy 'reads-bucket-policy' .* during preview: string value at \.policy can't/,
        ),
      }),
    ]);
    // The well-built bucket is not judged on its unknown policy; the public one fails as without a preview.
    expect(v.filter((x) => x.resource?.name === "assets" && x.policy !== "reads-bucket-policy")).toEqual([]);
    const known = await runPolicies((await renderStack({ stack: "production", projectDir })).resources);
    const names = (xs: typeof v) =>
      xs
        .filter((x) => x.level === "mandatory")
        .map((x) => `${x.policy} ${x.resource?.name}`)
        .sort();
    expect(names(v)).toEqual(names(known));
  });
});

describe("what policies are shown", () => {
  test("top-level properties named __* are hidden (a dynamic resource's __provider), nested ones are not", async () => {
    const seen: string[][] = [];
    const policy: ResourceValidationPolicy = {
      name: "keys",
      description: "Lists property names.",
      validateResource: (args) => void seen.push([...Object.keys(args.props), ...Object.keys(args.props.spec ?? {})]),
    };
    await runPolicies(
      [resource("dev", "pulumi-nodejs:dynamic/x:Y", "y", { __provider: "code", spec: { __note: 1, n: 2 } })],
      { policies: [policy] },
    );
    expect(seen).toEqual([["spec", "__note", "n"]]);
  });

  test("a stack policy gets parent, dependencies and property dependencies as the host links them", async () => {
    const rendered = await renderStack({
      stack: "production",
      projectDir: path.join(__dirname, "..", "policies", "other-program"),
    });
    const bucketPolicy = rendered.resources.find((r) => r.type === T.bucketPolicy)!;
    const bucket = rendered.resources.find((r) => r.type === T.bucket && r.name === "assets")!;
    // Recorded as registered: each input property names the resources its value came from.
    expect(bucketPolicy.propertyDependencies.bucket).toEqual([bucket.urn]);
    expect(bucketPolicy.propertyDependencies.policy).toEqual([bucket.urn]);
    const names = (rs: PolicyResource[] | undefined) => (rs ?? []).map((r) => r.name).join(",");
    const policy: StackValidationPolicy = {
      name: "links",
      description: "Reports each resource's links.",
      validateStack: (args, report) => {
        for (const r of args.resources) {
          const props = Object.entries(r.propertyDependencies)
            .map(([k, v]) => `${k}<-${names(v)}`)
            .sort()
            .join(" ");
          report(`${r.name} parent=${r.parent?.name ?? ""} deps=${names(r.dependencies)} props=${props}`);
        }
      },
    };
    const mixed = rendered.resources.map((r) =>
      r === bucketPolicy ? { ...r, propertyDependencies: { ...r.propertyDependencies, unlinked: [] } } : r,
    );
    const here = await offline(policy, mixed);
    expect(here).toEqual(await hostAnalyzeStack(policy, mixed));
    const stack = rendered.resources.find((r) => r.type === "pulumi:pulumi:Stack")!.name;
    expect(here.map((d) => d.message.split("\n")[1])).toContain(
      `assets parent=${stack} deps=assets props=bucket<-assets policy<-assets`,
    );
  });
});

describe("policy config, reconciled as the engine does", () => {
  const custom = (schema: ResourceValidationPolicy["configSchema"], seen: unknown[]): ResourceValidationPolicy => ({
    name: "custom",
    description: "Reports its config.",
    configSchema: schema,
    validateResource: (args) => void seen.push(args.getConfig()),
  });

  test("getConfig returns the schema's defaults with the configured keys over them", async () => {
    const seen: unknown[] = [];
    const schema = {
      properties: {
        limit: { type: "integer" as const, default: 3 },
        mode: { type: "string" as const, default: "strict" },
        tags: { type: "array" as const },
      },
    };
    await runPolicies([statefulSet("dev")], {
      policies: [custom(schema, seen)],
      config: { custom: { mode: "loose" } },
    });
    expect(seen).toEqual([{ limit: 3, mode: "loose" }]);
  });

  test("remediate is accepted and reports as mandatory (the host downgrades it); all sets levels, a policy's own entry wins", async () => {
    const bad = [statefulSet("prod", 1)];
    const replicas = policies.filter((p) => p.name === "production-replicas");
    const level = async (config: Record<string, any>) =>
      (await runPolicies(bad, { policies: replicas, config })).map((x) => x.level);
    expect(await level({ "production-replicas": "remediate" })).toEqual(["mandatory"]);
    expect(await level({ all: "advisory" })).toEqual(["advisory"]);
    expect(await level({ all: "disabled", "production-replicas": { enforcementLevel: "advisory" } })).toEqual([
      "advisory",
    ]);
    // A policy's own level "remediate", without config: the real host reports mandatory too.
    const own = { ...replicas[0], enforcementLevel: "remediate" } as ResourceValidationPolicy;
    expect((await hostAnalyze(own, bad[0])).map((d: { level: string }) => d.level)).toEqual(["mandatory"]);
    expect((await runPolicies(bad, { policies: [own] })).map((x) => x.level)).toEqual(["mandatory"]);
  });

  test("what the engine accepts but nothing reads is a warning, not an error", () => {
    const { warnings, policies: settings } = reconcileConfig(policies, {
      "production-replica": "advisory",
      "production-replicas": { minReplica: 5 },
      all: { enforcementLevel: "advisory", minReplicas: 5 },
    });
    expect(warnings).toEqual([
      `"production-replica" is not a policy of ${PACK_NAME} (did you mean "production-replicas"?); ignored`,
      `"production-replicas.minReplica" is not a setting of production-replicas (did you mean "minReplicas"?); unused`,
      `"all" sets only the enforcement level; minReplicas ignored`,
    ]);
    // Passed on as the engine passes it: the unknown key is in getConfig's result, the defaults stay.
    expect(settings.get("production-replicas")).toMatchObject({
      level: "advisory",
      properties: { minReplica: 5, minReplicas: 3 },
    });
  });

  test("values are checked against each policy's JSON schema, every problem listed", () => {
    let error: unknown;
    try {
      reconcileConfig(policies, {
        "production-replicas": { minReplicas: 0, kinds: ["StatefulSet", 3] },
        "production-backups": { backupNamePattern: 1 },
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PolicyConfigError);
    expect((error as PolicyConfigError).problems).toEqual([
      "production-replicas: kinds.1 must be string",
      "production-replicas: minReplicas must be >= 1",
      "production-backups: backupNamePattern must be string",
    ]);
  });

  test("a required key is satisfied by its default, and missing without one", () => {
    const required = (props: PolicyConfigSchema["properties"]) =>
      custom({ properties: props, required: ["region"] }, []);
    expect(() => reconcileConfig([required({ region: { type: "string", default: "eu" } })])).not.toThrow();
    expect(() => reconcileConfig([required({ region: { type: "string" } })])).toThrow(
      "custom: must have required property 'region'",
    );
    expect(() =>
      reconcileConfig([required({ region: { type: "string" } })], { custom: { region: "us" } }),
    ).not.toThrow();
  });

  test("levels other than advisory, mandatory, remediate and disabled are refused, as are entries of another shape", () => {
    expect(() =>
      reconcileConfig(policies, {
        "production-replicas": "strict" as any,
        all: { enforcementLevel: 1 as any },
        "k8s-probes": [] as any,
      }),
    ).toThrow(
      new PolicyConfigError([
        '"production-replicas": "strict" is not an enforcement level (advisory, mandatory, remediate, disabled)',
        '"all.enforcementLevel": 1 is not an enforcement level (advisory, mandatory, remediate, disabled)',
        '"k8s-probes": [] is neither an enforcement level nor an object',
      ]),
    );
  });
});
