import * as fs from "node:fs";
import * as path from "node:path";
import { policies } from "../../policies/policies";
import { RenderedResource, RunOptions, blocks, reconcileConfig, runPolicies } from "../../offline/analyzer";
import {
  T,
  backupCronJob,
  bucketParts,
  container,
  goodStack,
  networkPolicy,
  pdb,
  podSpec,
  resource,
  service,
  statefulSet,
} from "./fixtures";

const byName = (name: string) => {
  const p = policies.find((x) => x.name === name);
  if (!p) throw new Error(`no policy ${name}`);
  return p;
};

/** Messages the one policy reports on these resources. */
async function messages(name: string, resources: RenderedResource[], options: RunOptions = {}): Promise<string[]> {
  const v = await runPolicies(resources, { ...options, policies: [byName(name)] });
  return v.map((x) => x.message);
}

/** A StatefulSet on `stack` whose pod spec (and spec) `edit` changes. */
function sts(stack: string, edit: (spec: any, pod: any) => void, replicas = 3) {
  const r = statefulSet(stack, replicas);
  edit(r.inputs.spec, r.inputs.spec.template.spec);
  return r;
}

describe("the policy list", () => {
  test("has unique names and every policy the issue asks for", () => {
    const names = policies.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(
      expect.arrayContaining([
        "k8s-image-pinned",
        "k8s-image-digest",
        "k8s-container-resources",
        "k8s-probes",
        "k8s-run-as-non-root",
        "k8s-no-literal-secrets-in-env",
        "production-replicas",
        "production-anti-affinity",
        "production-storage-class",
        "k8s-no-public-load-balancer",
        "k8s-pdb-covers-statefulset",
        "production-backups",
        "s3-bucket-private",
        "s3-bucket-encrypted",
        "s3-bucket-versioned",
        "s3-bucket-lifecycle",
        "s3-bucket-tls-only",
        "production-network-policy",
        "production-load-balancer-source-ranges",
        "production-database-tls",
      ]),
    );
    for (const p of policies) expect(p.configSchema?.properties?.enforcementLevel).toBeUndefined();
  });

  test("a compliant production stack has no mandatory violation, only the advisory digest note", async () => {
    const v = await runPolicies(goodStack("prod"));
    expect(v.filter((x) => x.level === "mandatory")).toEqual([]);
    expect(v.map((x) => x.policy)).toEqual(["k8s-image-digest", "k8s-image-digest"]);
    expect(blocks(v)).toBe(false);
  });
});

describe("k8s-image-pinned", () => {
  test("passes a version tag and a digest-only reference", async () => {
    const r = sts("dev", (_s, pod) => (pod.containers[0].image = "registry.local:5000/db/mariadb@sha256:abcd"));
    expect(await messages("k8s-image-pinned", [statefulSet("dev"), r])).toEqual([]);
  });
  test("fails on latest and on a missing tag (a registry port is not a tag)", async () => {
    const latest = sts("dev", (_s, pod) => (pod.containers[0].image = "mariadb:latest"));
    const none = resource("dev", T.deployment, "web", {
      spec: { template: { spec: { containers: [container("web", { image: "registry.local:5000/web" })] } } },
    });
    expect(await messages("k8s-image-pinned", [latest, none])).toEqual([
      'StatefulSet/orders-db container "db": image "mariadb:latest" uses the floating tag "latest"; pin a version tag or digest.',
      'Deployment/web container "web": image "registry.local:5000/web" has no tag, which means "latest"; pin a version tag or digest.',
    ]);
  });
});

describe("k8s-image-digest (advisory)", () => {
  test("passes digests and notes tag-only images as advisory", async () => {
    const digested = sts("dev", (_s, pod) => (pod.containers[0].image = "mariadb:10.11.10@sha256:abcd"));
    expect(await messages("k8s-image-digest", [digested])).toEqual([]);
    const v = await runPolicies([statefulSet("dev")], { policies: [byName("k8s-image-digest")] });
    expect(v).toEqual([
      expect.objectContaining({
        level: "advisory",
        message:
          'StatefulSet/orders-db container "db": image "mariadb:10.11.10" is pinned by tag only; prefer image@sha256:<digest>.',
      }),
    ]);
  });
});

describe("k8s-container-resources", () => {
  test("passes when every container requests and limits cpu and memory", async () => {
    expect(await messages("k8s-container-resources", [statefulSet("dev"), backupCronJob("dev")])).toEqual([]);
  });
  test("fails naming the missing fields, init containers included", async () => {
    const r = sts("dev", (_s, pod) => {
      delete pod.initContainers[0].resources.limits.memory;
      delete pod.containers[0].resources;
    });
    expect(await messages("k8s-container-resources", [r])).toEqual([
      'StatefulSet/orders-db init container "init" has no resources.limits.memory.',
      'StatefulSet/orders-db container "db" has no resources.requests.cpu, resources.requests.memory, resources.limits.cpu, resources.limits.memory.',
    ]);
  });
});

describe("k8s-probes", () => {
  test("passes probed long-running containers and ignores Jobs/CronJobs", async () => {
    expect(await messages("k8s-probes", [statefulSet("dev"), backupCronJob("dev")])).toEqual([]);
  });
  test("fails a pod with no readiness probe on any container, and a container without a liveness probe", async () => {
    const r = sts("dev", (_s, pod) => delete pod.containers[0].readinessProbe);
    expect(await messages("k8s-probes", [r])).toEqual([
      "StatefulSet/orders-db has no readinessProbe on any container: Services would route to it before it serves.",
    ]);
    const l = sts("dev", (_s, pod) => delete pod.containers[0].livenessProbe);
    expect(await messages("k8s-probes", [l])).toEqual(['StatefulSet/orders-db container "db" has no livenessProbe.']);
  });

  test("passes a sidecar without a readiness probe beside a probed main container", async () => {
    const r = sts("dev", (_s, pod) =>
      pod.containers.push({ ...pod.containers[0], name: "sidecar", readinessProbe: undefined }),
    );
    expect(await messages("k8s-probes", [r])).toEqual([]);
  });
});

describe("k8s-run-as-non-root", () => {
  test("passes runAsNonRoot on the pod", async () => {
    expect(await messages("k8s-run-as-non-root", [statefulSet("dev")])).toEqual([]);
  });
  test("fails a container overriding to uid 0 and a pod with no security context", async () => {
    const root = sts("dev", (_s, pod) => (pod.containers[0].securityContext = { runAsUser: 0 }));
    const bare = resource("dev", T.deployment, "web", {
      spec: { template: { spec: { containers: [container("web")] } } },
    });
    expect(await messages("k8s-run-as-non-root", [root, bare])).toEqual([
      'StatefulSet/orders-db container "db" runs as uid 0 (runAsUser: 0); use a non-root uid.',
      'Deployment/web container "web" may run as root: set securityContext.runAsNonRoot: true on the pod or container.',
    ]);
  });
});

describe("k8s-no-literal-secrets-in-env", () => {
  test("passes secretKeyRef and *_FILE paths", async () => {
    expect(await messages("k8s-no-literal-secrets-in-env", [statefulSet("dev")])).toEqual([]);
  });
  test("fails a literal password and a ConfigMap token without echoing the value", async () => {
    const r = sts("dev", (_s, pod) => {
      pod.containers[0].env.push({ name: "MARIADB_PASSWORD", value: "hunter2" });
      pod.containers[0].env.push({ name: "API_TOKEN", valueFrom: { configMapKeyRef: { name: "cfg", key: "token" } } });
    });
    const m = await messages("k8s-no-literal-secrets-in-env", [r]);
    expect(m).toEqual([
      'StatefulSet/orders-db container "db" sets env MARIADB_PASSWORD to a literal value; use valueFrom.secretKeyRef.',
      'StatefulSet/orders-db container "db" reads env API_TOKEN from a ConfigMap; use valueFrom.secretKeyRef.',
    ]);
    expect(m.join("\n")).not.toContain("hunter2");
  });
});

describe("production-replicas", () => {
  test("passes 3 replicas in production and 1 replica outside production", async () => {
    expect(await messages("production-replicas", [statefulSet("prod", 3), statefulSet("dev", 1)])).toEqual([]);
  });
  test("fails 1 replica in a stack named like production", async () => {
    expect(await messages("production-replicas", [statefulSet("eu-production", 1)])).toEqual([
      "StatefulSet/orders-db has 1 replica(s); production needs at least 3 (policy config minReplicas).",
    ]);
  });
  test("config raises the threshold, and a stack tag marks production", async () => {
    const config = { "production-replicas": { minReplicas: 5 } };
    expect(await messages("production-replicas", [statefulSet("staging", 3)], { config })).toEqual([]);
    expect(
      await messages("production-replicas", [statefulSet("staging", 3)], {
        config,
        stackTags: { environment: "production" },
      }),
    ).toEqual(["StatefulSet/orders-db has 3 replica(s); production needs at least 5 (policy config minReplicas)."]);
  });
  test("a resource label can mark production too", async () => {
    const r = statefulSet("blue", 2);
    r.inputs.metadata.labels = { environment: "prod" };
    expect(await messages("production-replicas", [r])).toHaveLength(1);
  });
});

describe("production-anti-affinity", () => {
  test("passes required anti-affinity selecting the pods", async () => {
    expect(await messages("production-anti-affinity", [statefulSet("prod")])).toEqual([]);
  });
  test("fails a production StatefulSet with only a preferred rule", async () => {
    const r = sts("prod", (_s, pod) => {
      const term = pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0];
      pod.affinity.podAntiAffinity = {
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }],
      };
    });
    expect(await messages("production-anti-affinity", [r])).toEqual([
      "StatefulSet/orders-db has no required pod anti-affinity selecting its own pods (it has only a preferred rule); production needs requiredDuringSchedulingIgnoredDuringExecution.",
    ]);
    expect(await messages("production-anti-affinity", [{ ...r, urn: r.urn.replace(":prod:", ":dev:") }])).toEqual([]);
  });
});

describe("production-storage-class", () => {
  test("passes a named storage class in production and the cluster default in dev", async () => {
    const noClass = sts("dev", (spec) => delete spec.volumeClaimTemplates[0].spec.storageClassName);
    expect(await messages("production-storage-class", [statefulSet("prod"), noClass])).toEqual([]);
  });
  test("fails a production volumeClaimTemplate without storageClassName, and no templates at all", async () => {
    const noClass = sts("prod", (spec) => delete spec.volumeClaimTemplates[0].spec.storageClassName);
    const none = sts("prod", (spec) => delete spec.volumeClaimTemplates);
    expect(
      await messages("production-storage-class", [noClass, { ...none, name: "other", urn: none.urn + "2" }]),
    ).toEqual([
      'StatefulSet/orders-db volumeClaimTemplate "data" has no spec.storageClassName; production must not rely on the cluster default.',
      "StatefulSet/orders-db has no volumeClaimTemplates; production data needs persistent volumes of a named storage class.",
    ]);
  });
});

describe("k8s-no-public-load-balancer", () => {
  test("passes ClusterIP, internal load balancers and allowed services", async () => {
    const internal = service("prod", "LoadBalancer", {
      "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    });
    expect(await messages("k8s-no-public-load-balancer", [service("prod"), internal])).toEqual([]);
    const config = { "k8s-no-public-load-balancer": { allowedServices: ["orders-db-primary"] } };
    expect(await messages("k8s-no-public-load-balancer", [service("prod", "LoadBalancer")], { config })).toEqual([]);
  });
  test("fails a public LoadBalancer", async () => {
    expect(await messages("k8s-no-public-load-balancer", [service("prod", "LoadBalancer")])).toEqual([
      "Service/orders-db-primary is a public LoadBalancer; use ClusterIP, an internal load balancer annotation, loadBalancerSourceRanges, or list it in allowedServices.",
    ]);
  });
});

describe("k8s-pdb-covers-statefulset (stack)", () => {
  test("passes when a PDB in the namespace selects the pods; single-replica sets need none", async () => {
    expect(await messages("k8s-pdb-covers-statefulset", [statefulSet("dev"), pdb("dev")])).toEqual([]);
    expect(await messages("k8s-pdb-covers-statefulset", [statefulSet("dev", 1)])).toEqual([]);
  });
  test("fails with no PDB, or a PDB in another namespace", async () => {
    const expected = [
      'StatefulSet/orders-db (3 replicas) has no PodDisruptionBudget selecting its pods in namespace "shop".',
    ];
    expect(await messages("k8s-pdb-covers-statefulset", [statefulSet("dev")])).toEqual(expected);
    expect(await messages("k8s-pdb-covers-statefulset", [statefulSet("dev"), pdb("dev", "other")])).toEqual(expected);
  });
  test("names the StatefulSet as the resource in violation", async () => {
    const v = await runPolicies([statefulSet("dev")], { policies: [byName("k8s-pdb-covers-statefulset")] });
    expect(v[0].resource).toEqual({ type: T.statefulSet, name: "orders-db", urn: statefulSet("dev").urn });
  });
});

describe("production-network-policy (stack)", () => {
  test("passes a production StatefulSet an Ingress NetworkPolicy of its namespace selects, and anything outside production", async () => {
    expect(await messages("production-network-policy", [statefulSet("prod"), networkPolicy("prod")])).toEqual([]);
    expect(await messages("production-network-policy", [statefulSet("dev")])).toEqual([]);
  });
  test("fails with no policy, one in another namespace, or an Egress-only one", async () => {
    const expected = [
      'StatefulSet/orders-db has no Ingress NetworkPolicy selecting its pods in namespace "shop": every pod of the cluster can reach it.',
    ];
    for (const others of [[], [networkPolicy("prod", "other")], [networkPolicy("prod", "shop", ["Egress"])]]) {
      expect(await messages("production-network-policy", [statefulSet("prod"), ...others])).toEqual(expected);
    }
  });
});

describe("production-database-tls (stack)", () => {
  const T_CONFIG_MAP = "kubernetes:core/v1:ConfigMap";
  /** The database reads its options from a mounted ConfigMap instead of arguments. */
  const fromConfigMap = (cnf: string, namespace = "shop") => {
    const r = sts("prod", (_s, pod) => {
      delete pod.containers[0].args;
      pod.volumes = [{ name: "config", configMap: { name: "orders-db-config" } }];
    });
    return [
      r,
      resource("prod", T_CONFIG_MAP, "orders-db-config", {
        metadata: { name: "orders-db-config", namespace },
        data: { "my.cnf": cnf },
      }),
    ];
  };
  test("passes TLS required in arguments or in a mounted ConfigMap, other images, and stacks outside production", async () => {
    expect(await messages("production-database-tls", [statefulSet("prod")])).toEqual([]);
    expect(
      await messages(
        "production-database-tls",
        fromConfigMap("[mariadb]\nssl_ca = /etc/tls/ca.crt\nrequire_secure_transport = ON\n"),
      ),
    ).toEqual([]);
    expect(
      await messages("production-database-tls", [
        sts("prod", (_s, pod) => (pod.containers[0] = container("web", { image: "nginx:1.27" }))),
      ]),
    ).toEqual([]);
    expect(await messages("production-database-tls", [sts("dev", (_s, pod) => delete pod.containers[0].args)])).toEqual(
      [],
    );
  });
  test("fails a production database without required TLS or without a CA, naming what is missing", async () => {
    const none =
      "StatefulSet/orders-db runs a database without require_secure_transport = ON and ssl_ca: clients and replicas could connect in plain text (mysql-ha: set tls and tlsRequired).";
    expect(
      await messages("production-database-tls", [sts("prod", (_s, pod) => delete pod.containers[0].args)]),
    ).toEqual([none]);
    expect(
      await messages(
        "production-database-tls",
        fromConfigMap("[mariadb]\nssl_ca = /etc/tls/ca.crt\nrequire_secure_transport = OFF\n"),
      ),
    ).toEqual([
      "StatefulSet/orders-db runs a database without require_secure_transport = ON: clients and replicas could connect in plain text (mysql-ha: set tls and tlsRequired).",
    ]);
    // A ConfigMap of another namespace is not the one the pod mounts.
    expect(
      await messages(
        "production-database-tls",
        fromConfigMap("ssl_ca = /ca.crt\nrequire_secure_transport = ON\n", "other"),
      ),
    ).toEqual([none]);
  });
});

describe("production-load-balancer-source-ranges", () => {
  const lb = (ranges?: string[]) => {
    const r = service("prod", "LoadBalancer", { "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal" });
    if (ranges) r.inputs.spec.loadBalancerSourceRanges = ranges;
    return r;
  };
  test("passes a production LoadBalancer with source ranges, ClusterIP, and LoadBalancers outside production", async () => {
    expect(
      await messages("production-load-balancer-source-ranges", [
        lb(["10.0.0.0/8"]),
        service("prod"),
        service("dev", "LoadBalancer"),
      ]),
    ).toEqual([]);
  });
  test("fails a production LoadBalancer, internal or not, without ranges or open to all", async () => {
    const expected = [
      "Service/orders-db-primary is a LoadBalancer without loadBalancerSourceRanges limiting its clients (set mysql-ha:loadBalancerSourceRanges).",
    ];
    expect(await messages("production-load-balancer-source-ranges", [lb()])).toEqual(expected);
    expect(await messages("production-load-balancer-source-ranges", [lb(["0.0.0.0/0"])])).toEqual(expected);
  });
});

describe("production-backups (stack)", () => {
  test("passes a Forbid backup CronJob in production and no backups outside production", async () => {
    expect(await messages("production-backups", [statefulSet("prod"), backupCronJob("prod")])).toEqual([]);
    expect(await messages("production-backups", [statefulSet("dev")])).toEqual([]);
  });
  test("fails a production stack without backups, and a backup that may overlap", async () => {
    expect(await messages("production-backups", [statefulSet("prod")])).toEqual([
      "Production stack has StatefulSets but no backup CronJob (a CronJob whose name or app.kubernetes.io/component matches /backup/).",
    ]);
    expect(await messages("production-backups", [statefulSet("prod"), backupCronJob("prod", null)])).toEqual([
      "CronJob/orders-db-backup has concurrencyPolicy Allow (default); backups need Forbid so two never overlap.",
    ]);
  });
});

describe("S3 bucket policies (stack)", () => {
  const cases: [string, string, string][] = [
    [
      "s3-bucket-private",
      "pab",
      "Bucket/orders-backups has no BucketPublicAccessBlock; add one with blockPublicAcls, blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets all true.",
    ],
    [
      "s3-bucket-encrypted",
      "sse",
      "Bucket/orders-backups declares no default server-side encryption; add a BucketServerSideEncryptionConfiguration (AES256 or aws:kms).",
    ],
    [
      "s3-bucket-versioned",
      "versioning",
      "Bucket/orders-backups has no versioning; add a BucketVersioning with status Enabled.",
    ],
    [
      "s3-bucket-lifecycle",
      "lifecycle",
      "Bucket/orders-backups has no enabled lifecycle rule; add a BucketLifecycleConfiguration so old backups and versions expire.",
    ],
    [
      "s3-bucket-tls-only",
      "policy",
      "Bucket/orders-backups has no bucket policy statement denying s3:* to * when aws:SecureTransport is false.",
    ],
  ];
  test.each(cases)("%s passes the complete bucket and fails without its part", async (name, part, message) => {
    expect(await messages(name, bucketParts("prod"))).toEqual([]);
    expect(await messages(name, bucketParts("prod", [part]))).toEqual([message]);
  });

  test("s3-bucket-private names the flags left off and refuses a public ACL", async () => {
    const parts = bucketParts("prod").map((r) =>
      r.type === T.publicAccessBlock
        ? { ...r, inputs: { ...r.inputs, blockPublicPolicy: false, restrictPublicBuckets: undefined } }
        : r,
    );
    expect(await messages("s3-bucket-private", parts)).toEqual([
      "Bucket/orders-backups public access block leaves blockPublicPolicy, restrictPublicBuckets not true.",
    ]);
    const acl = bucketParts("prod").map((r) =>
      r.type === T.bucket ? { ...r, inputs: { ...r.inputs, acl: "public-read" } } : r,
    );
    expect(await messages("s3-bucket-private", acl)).toEqual([
      'Bucket/orders-backups has the public ACL "public-read".',
    ]);
  });

  test("parts are linked by dependency when the bucket name is generated, and not to another bucket", async () => {
    const [bucket, ...parts] = bucketParts("prod");
    const generated = { ...bucket, inputs: { bucketPrefix: "orders-" } };
    const linked = parts.map((p) => ({
      ...p,
      inputs: { ...p.inputs, bucket: "orders-1234" },
      dependsOn: [bucket.urn],
    }));
    const other = resource("prod", T.bucket, "other", { bucket: "other-bucket" });
    const v = await runPolicies([generated, ...linked, other], {
      policies: policies.filter((p) => p.name.startsWith("s3-")),
    });
    expect(v.map((x) => x.resource?.name)).toEqual(["other", "other", "other", "other", "other"]);
  });

  test("inline bucket settings count (deprecated Bucket arguments)", async () => {
    const inline = resource("prod", T.bucket, "inline", {
      bucket: "inline",
      versioning: { enabled: true },
      serverSideEncryptionConfiguration: { rule: { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" } } },
      lifecycleRules: [{ enabled: true, expiration: { days: 7 } }],
      policy: {
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Deny",
            Principal: { AWS: ["*"] },
            Action: ["s3:*"],
            Condition: { Bool: { "aws:SecureTransport": false } },
          },
        ],
      },
    });
    for (const name of ["s3-bucket-encrypted", "s3-bucket-versioned", "s3-bucket-lifecycle", "s3-bucket-tls-only"]) {
      expect(await messages(name, [inline])).toEqual([]);
    }
  });
});

describe("enforcement levels and policy config", () => {
  test("a policy can be made advisory or disabled, per policy or for all", async () => {
    const bad = [statefulSet("prod", 1)];
    let v = await runPolicies(bad, {
      config: { "production-replicas": "advisory" },
      policies: [byName("production-replicas")],
    });
    expect(v.map((x) => x.level)).toEqual(["advisory"]);
    expect(blocks(v)).toBe(false);
    v = await runPolicies(bad, {
      config: { "production-replicas": { enforcementLevel: "disabled" } },
      policies: [byName("production-replicas")],
    });
    expect(v).toEqual([]);
    v = await runPolicies(bad, { config: { all: "advisory" }, policies: [byName("production-replicas")] });
    expect(v.map((x) => x.level)).toEqual(["advisory"]);
  });
});

describe("policies guard any program", () => {
  test("a hand-built production stack fails with each violation named", async () => {
    const sts = statefulSet("prod");
    const pod = sts.inputs.spec.template.spec;
    pod.containers[0].image = "mysql:latest";
    pod.containers[0].env.push({ name: "MYSQL_ROOT_PASSWORD", value: "s3cret" });
    const publicBucket = resource("prod", T.bucket, "dumps", { bucket: "shop-dumps", acl: "public-read" });
    // no backup CronJob, no NetworkPolicy
    const stack = [sts, pdb("prod"), service("prod"), publicBucket];
    const v = await runPolicies(stack);
    const mandatory = v.filter((x) => x.level === "mandatory");
    expect(blocks(v)).toBe(true);
    expect(mandatory.map((x) => `${x.policy}: ${x.message}`)).toEqual(
      expect.arrayContaining([
        'k8s-image-pinned: StatefulSet/orders-db container "db": image "mysql:latest" uses the floating tag "latest"; pin a version tag or digest.',
        'k8s-no-literal-secrets-in-env: StatefulSet/orders-db container "db" sets env MYSQL_ROOT_PASSWORD to a literal value; use valueFrom.secretKeyRef.',
        's3-bucket-private: Bucket/shop-dumps has the public ACL "public-read".',
        "production-backups: Production stack has StatefulSets but no backup CronJob (a CronJob whose name or app.kubernetes.io/component matches /backup/).",
      ]),
    );
    expect(new Set(mandatory.map((x) => x.policy))).toEqual(
      new Set([
        "k8s-image-pinned",
        "k8s-no-literal-secrets-in-env",
        "production-backups",
        "production-network-policy",
        "s3-bucket-private",
        "s3-bucket-encrypted",
        "s3-bucket-versioned",
        "s3-bucket-lifecycle",
        "s3-bucket-tls-only",
      ]),
    );
    expect(JSON.stringify(v)).not.toContain("s3cret");
  });

  test("an unrelated workload kind (DaemonSet) is checked like ours", async () => {
    const ds = resource("dev", "kubernetes:apps/v1:DaemonSet", "agent", {
      spec: { template: { spec: { ...podSpec(), containers: [container("agent", { image: "agent" })] } } },
    });
    const v = await runPolicies([ds], { policies: [byName("k8s-image-pinned")] });
    expect(v.map((x) => x.message)).toEqual([
      'DaemonSet/agent container "agent": image "agent" has no tag, which means "latest"; pin a version tag or digest.',
    ]);
  });
});

test("the shipped example policy config is valid, with nothing the engine would ignore", () => {
  const example = JSON.parse(fs.readFileSync(path.join(__dirname, "../../policies/config.example.json"), "utf8"));
  const { policies: resolved, warnings } = reconcileConfig(policies, example);
  expect(warnings).toEqual([]);
  expect(resolved.get("k8s-image-digest")!.level).toBe("advisory");
  expect(resolved.get("production-replicas")).toEqual({
    level: "mandatory",
    properties: {
      minReplicas: 3,
      kinds: ["StatefulSet"],
      productionStackPattern: "(^|[-_./])prod(uction)?($|[-_./])",
      productionTag: "environment",
      productionValues: ["production", "prod"],
    },
  });
});
