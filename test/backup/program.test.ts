import { renderStack, RenderedStack } from "../../offline/render";

const COMPONENT = "mysql-ha:index:ReplicatedDatabase";

/** Mocked AWS state for a created bucket (the engine would return its name and ARN). */
const onResource = async (r: { type: string; name: string; inputs: any }) =>
  r.type === "aws:s3/bucket:Bucket"
    ? {
        id: "mysql-backups-1a2b",
        state: { ...r.inputs, bucket: "mysql-backups-1a2b", arn: "arn:aws:s3:::mysql-backups-1a2b" },
      }
    : undefined;

const find = (r: RenderedStack, type: string) => r.resources.filter((x) => x.type === type);

describe("backup parts of the program under mocks (prod stack)", () => {
  let rendered: RenderedStack;
  beforeAll(async () => {
    rendered = await renderStack({ stack: "prod", onResource });
  });

  test("creates a hardened bucket: versioning, encryption, public access block, lifecycle, TLS-only policy, all children of the component", () => {
    expect(rendered.errors).toEqual([]);
    const component = rendered.resources.find((x) => x.type === COMPONENT)!;
    const expected = {
      "aws:s3/bucket:Bucket": "mysql-backups",
      "aws:s3/bucketVersioning:BucketVersioning": "mysql-backups-versioning",
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
        "mysql-backups-encryption",
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "mysql-backups-public-access",
      "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "mysql-backups-lifecycle",
      "aws:s3/bucketPolicy:BucketPolicy": "mysql-backups-tls-only",
    };
    for (const [type, name] of Object.entries(expected)) {
      const [res] = find(rendered, type);
      expect([type, res?.name, res?.parent]).toEqual([type, name, component.urn]);
    }
    const [block] = find(rendered, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");
    expect(block.inputs).toMatchObject({
      bucket: "mysql-backups-1a2b",
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    const [policy] = find(rendered, "aws:s3/bucketPolicy:BucketPolicy");
    expect(JSON.parse(policy.inputs.policy).Statement[0].Condition).toEqual({
      Bool: { "aws:SecureTransport": "false" },
    });
  });

  test("the CronJob backs up to the bucket under <stack>/<name>, never overlapping, with deadlines", () => {
    const [cron] = find(rendered, "kubernetes:batch/v1:CronJob");
    expect(cron.name).toBe("mysql-backup");
    expect(cron.inputs.spec).toMatchObject({
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
    });
    const [container] = cron.inputs.spec.jobTemplate.spec.template.spec.containers;
    expect(container.env).toContainEqual({ name: "BACKUP_URL", value: "s3://mysql-backups-1a2b/prod/mysql" });
    const sts = find(rendered, "kubernetes:apps/v1:StatefulSet")[0];
    expect(cron.dependsOn).toContain(sts.urn);
  });

  test("no credential appears as a plain env value in any workload", () => {
    const workloads = [
      ...find(rendered, "kubernetes:batch/v1:CronJob"),
      ...find(rendered, "kubernetes:apps/v1:StatefulSet"),
    ];
    const podSpecs = workloads.map((w) => w.inputs.spec.jobTemplate?.spec.template.spec ?? w.inputs.spec.template.spec);
    const env = podSpecs
      .flatMap((p) => [...(p.initContainers ?? []), ...p.containers])
      .flatMap((c: any) => c.env ?? []);
    const sensitive = env.filter((e: any) => /KEY|PASSWORD|TOKEN|SECRET/.test(e.name));
    expect(sensitive.map((e: any) => e.name)).toEqual(
      expect.arrayContaining(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CLONE_TOKEN"]),
    );
    // The donor token is its own secret everywhere it is used (donor sidecar, seed, backup Job).
    const tokens = env.filter((e: any) => e.name === "CLONE_TOKEN").map((e: any) => e.valueFrom.secretKeyRef.key);
    expect(tokens.length).toBeGreaterThanOrEqual(3);
    expect(new Set(tokens)).toEqual(new Set(["clone-token"]));
    for (const e of sensitive)
      expect([e.name, e.value, typeof e.valueFrom?.secretKeyRef?.name]).toEqual([e.name, undefined, "string"]);
  });

  test("the members carry the donor and archiver sidecars and the seed init container; the scripts ConfigMap ships them", () => {
    const [sts] = find(rendered, "kubernetes:apps/v1:StatefulSet");
    const spec = sts.inputs.spec.template.spec;
    expect(spec.containers.map((c: any) => c.name)).toEqual(expect.arrayContaining(["clone-donor", "binlog-archiver"]));
    expect(spec.initContainers.map((c: any) => c.name)).toContain("seed");
    const scripts = find(rendered, "kubernetes:core/v1:ConfigMap").find((c) => c.name === "mysql-scripts")!;
    expect(Object.keys(scripts.inputs.data)).toEqual(
      expect.arrayContaining(["backup.sh", "binlog-archive.sh", "restore.sh", "clone.sh", "seed-member.sh"]),
    );
  });
});

describe("backup config variants under mocks", () => {
  test("an existing bucket: no bucket resources, the CronJob uses it", async () => {
    const r = await renderStack({ stack: "prod", set: { backupBucket: "team-backups" }, onResource });
    expect(r.errors).toEqual([]);
    expect(r.resources.filter((x) => x.type.startsWith("aws:s3"))).toEqual([]);
    const [cron] = find(r, "kubernetes:batch/v1:CronJob");
    expect(cron.inputs.spec.jobTemplate.spec.template.spec.containers[0].env).toContainEqual({
      name: "BACKUP_URL",
      value: "s3://team-backups/prod/mysql",
    });
  });

  test("backupImage runs every backup container, and only the plain database image draws a warning", async () => {
    const pulumi = require("@pulumi/pulumi");
    const warn = jest.spyOn(pulumi.log, "warn").mockImplementation(() => Promise.resolve());
    try {
      const image = "registry.example.com/mysql-ha-backup:10.11.10";
      const r = await renderStack({ stack: "prod", set: { backupImage: image }, onResource });
      expect(r.errors).toEqual([]);
      const [sts] = find(r, "kubernetes:apps/v1:StatefulSet");
      const spec = sts.inputs.spec.template.spec;
      const byName = Object.fromEntries(
        [...spec.initContainers, ...spec.containers].map((c: any) => [c.name, c.image]),
      );
      expect(byName).toMatchObject({
        seed: image,
        "clone-donor": image,
        "binlog-archiver": image,
        mariadb: "mariadb:10.11.10",
      });
      const [cron] = find(r, "kubernetes:batch/v1:CronJob");
      expect(cron.inputs.spec.jobTemplate.spec.template.spec.containers[0].image).toBe(image);
      expect(warn.mock.calls.filter(([m]) => /must carry rclone/.test(String(m)))).toEqual([]);

      const plain = await renderStack({ stack: "prod", onResource });
      expect(plain.errors).toEqual([]);
      expect(warn.mock.calls.map(([m]) => String(m))).toContainEqual(
        expect.stringMatching(/database image mariadb:\S+, which must carry rclone \(/),
      );
    } finally {
      warn.mockRestore();
    }
  });

  test("an external endpoint without backupBucket is a config error, listed with the others", async () => {
    const r = await renderStack({
      stack: "prod",
      set: { backupEndpoint: "https://minio.example:9000", replicas: "0" },
      onResource,
    });
    expect(r.errors).toEqual([
      expect.stringMatching(/^mysql-ha:replicas: /),
      expect.stringMatching(
        /^mysql-ha:backupBucket: "" is not allowed; expected the name of an existing bucket on backupEndpoint/,
      ),
    ]);
    expect(r.resources).toEqual([]);
  });

  test("backups disabled: no bucket, no CronJob, no archiver, no S3 settings; seeding (donor, seed, its scripts) stays", async () => {
    const r = await renderStack({ stack: "prod", set: { backupEnabled: "false" }, onResource });
    expect(r.errors).toEqual([]);
    expect(r.resources.filter((x) => x.type.startsWith("aws:s3") || x.type === "kubernetes:batch/v1:CronJob")).toEqual(
      [],
    );
    const [sts] = find(r, "kubernetes:apps/v1:StatefulSet");
    const spec = sts.inputs.spec.template.spec;
    expect(spec.containers.map((c: any) => c.name)).toEqual(["mariadb", "clone-donor"]);
    expect(spec.initContainers.map((c: any) => c.name)).toEqual(["init-server", "seed"]);
    const env = [...spec.initContainers, ...spec.containers].flatMap((c: any) => c.env ?? []).map((e: any) => e.name);
    expect(env.filter((n: string) => /^(AWS_|S3_|BACKUP_URL)/.test(n))).toEqual([]);
    const scripts = find(r, "kubernetes:core/v1:ConfigMap").find((c) => c.name === "mysql-scripts")!;
    expect(Object.keys(scripts.inputs.data)).toEqual(
      expect.arrayContaining(["seed-member.sh", "clone.sh", "clone-serve.sh", "clone-stream.sh", "backup-lib.sh"]),
    );
  });

  test("restoreFrom without backups works (no config error): member 0's seed reads it with the backup region, endpoint and optional keys, and rclone is warned about", async () => {
    const pulumi = require("@pulumi/pulumi");
    const warn = jest.spyOn(pulumi.log, "warn").mockImplementation(() => Promise.resolve());
    try {
      const url = "s3://team-backups/prod/mysql/base/20260101T020000Z";
      const r = await renderStack({ stack: "prod", set: { backupEnabled: "false", restoreFrom: url }, onResource });
      expect(r.errors).toEqual([]);
      const [sts] = find(r, "kubernetes:apps/v1:StatefulSet");
      const seed = sts.inputs.spec.template.spec.initContainers.find((c: any) => c.name === "seed");
      expect(seed.env).toContainEqual({ name: "RESTORE_URL", value: url });
      expect(seed.env.map((e: any) => e.name)).toEqual(
        expect.arrayContaining(["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]),
      );
      expect(warn.mock.calls.map(([m]) => String(m))).toContainEqual(expect.stringMatching(/must carry rclone/));
    } finally {
      warn.mockRestore();
    }
  });

  test("the dev stack (kind/minikube) needs no AWS: no aws resources, no S3 settings, but members can still be cloned", async () => {
    const r = await renderStack({ stack: "dev" });
    expect(r.errors).toEqual([]);
    expect(r.resources.filter((x) => x.type.startsWith("aws:") || x.type === "pulumi:providers:aws")).toEqual([]);
    const [sts] = find(r, "kubernetes:apps/v1:StatefulSet");
    const spec = sts.inputs.spec.template.spec;
    expect(spec.containers.map((c: any) => c.name)).toContain("clone-donor");
    expect(
      [...spec.initContainers, ...spec.containers]
        .flatMap((c: any) => c.env ?? [])
        .filter((e: any) => /^(AWS_|S3_)/.test(e.name)),
    ).toEqual([]);
  });
});

describe("S3 access through IRSA (prod stack with the cluster's OIDC provider)", () => {
  const IRSA = {
    backupIrsaOidcProviderArn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC",
    backupIrsaOidcIssuer: "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC",
  };
  const withRoles = async (r: { type: string; name: string; inputs: any }) =>
    r.type === "aws:iam/role:Role"
      ? { id: r.name, state: { ...r.inputs, arn: `arn:aws:iam::123456789012:role/${r.name}` } }
      : onResource(r);

  test("two roles, each for one ServiceAccount: the members write, only the backup Job deletes; no static keys anywhere", async () => {
    const r = await renderStack({ stack: "prod", set: IRSA, onResource: withRoles });
    expect(r.errors).toEqual([]);
    const roles = find(r, "aws:iam/role:Role");
    const subjects = roles.map(
      (x) =>
        JSON.parse(x.inputs.assumeRolePolicy).Statement[0].Condition.StringEquals[
          "oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub"
        ],
    );
    expect(Object.fromEntries(roles.map((x, i) => [x.name, subjects[i]]))).toEqual({
      "mysql-backups-writer": "system:serviceaccount:mysql-ha:mysql-database",
      "mysql-backups-pruner": "system:serviceaccount:mysql-ha:mysql-backup",
    });
    const actions = Object.fromEntries(
      find(r, "aws:iam/rolePolicy:RolePolicy").map((p) => [p.name, JSON.parse(p.inputs.policy).Statement[1].Action]),
    );
    expect(actions["mysql-backups-writer-access"]).not.toContain("s3:DeleteObject");
    expect(actions["mysql-backups-pruner-access"]).toContain("s3:DeleteObject");
    const accounts = Object.fromEntries(
      find(r, "kubernetes:core/v1:ServiceAccount").map((a) => [
        a.inputs.metadata.name,
        a.inputs.metadata.annotations?.["eks.amazonaws.com/role-arn"],
      ]),
    );
    expect(accounts).toMatchObject({
      "mysql-database": "arn:aws:iam::123456789012:role/mysql-backups-writer",
      "mysql-backup": "arn:aws:iam::123456789012:role/mysql-backups-pruner",
    });
    const [cron] = find(r, "kubernetes:batch/v1:CronJob");
    expect(cron.inputs.spec.jobTemplate.spec.template.spec.serviceAccountName).toBe("mysql-backup");
    const workloads = [...find(r, "kubernetes:batch/v1:CronJob"), ...find(r, "kubernetes:apps/v1:StatefulSet")];
    expect(JSON.stringify(workloads.map((w) => w.inputs))).not.toContain("AWS_ACCESS_KEY_ID");
  });

  test("the two IRSA keys go together, and not with an S3-compatible endpoint", async () => {
    const half = await renderStack({
      stack: "prod",
      set: { backupIrsaOidcIssuer: IRSA.backupIrsaOidcIssuer },
      onResource,
    });
    expect(half.errors).toEqual([
      expect.stringMatching(/^mysql-ha:backupIrsaOidcProviderArn: .* expected set together with the other IRSA key/),
    ]);
    const other = await renderStack({
      stack: "prod",
      set: { ...IRSA, backupEndpoint: "https://minio.example:9000", backupBucket: "bkt" },
      onResource,
    });
    expect(other.errors).toEqual([
      expect.stringMatching(/^mysql-ha:backupIrsaOidcProviderArn: .* expected empty with backupEndpoint/),
    ]);
  });
});
