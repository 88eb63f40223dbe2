import * as fs from "fs";
import * as path from "path";
import { rawStackConfig, Settings, validateConfig } from "../../components/config";
import { DONOR_PORT, objectNames } from "../../components/kubernetes/names";
import {
  backupAccessPolicy,
  encryptionArgs,
  irsaTrustPolicy,
  lifecycleArgs,
  publicAccessBlockArgs,
  tlsOnlyPolicy,
  versioningArgs,
} from "../../components/backup/bucket";
import {
  BACKUP_SCRIPTS,
  backupImageWarning,
  backupScripts,
  BackupPartsArgs,
  buildBackupCronJob,
  buildBackupPodExtras,
  buildSeedingPodExtras,
  MAX_REPLICAS,
  s3Env,
  SPOOL,
} from "../../components/backup/kubernetes";
import { buildStatefulSet, PATHS, StatefulSetExtras, VOLUMES } from "../../components/kubernetes/statefulset";
import { SECRET_KEYS } from "../../components/kubernetes/secret";
import { backupPrefix } from "../../components/backup/storage";
import { stackConfig } from "../../offline/render";

function settings(set: Record<string, string> = {}): Settings {
  const { settings: s, errors } = validateConfig(rawStackConfig(stackConfig("prod", set)));
  if (!s) throw new Error(errors.map((e) => e.message).join("; "));
  return s;
}

function parts(
  set: Record<string, string> = {},
  credentials: BackupPartsArgs["credentials"] = { kind: "secret", secretName: "db-backup-s3" },
): BackupPartsArgs {
  return { name: "db", names: objectNames("db"), settings: settings(set), url: "s3://bkt/prod/db", credentials };
}

/** The member pod's template as the program builds it, with these pod extras. */
function podTemplate(a: BackupPartsArgs, extras?: StatefulSetExtras[]): any {
  return (buildStatefulSet({ name: "db", names: a.names, settings: a.settings, extras }) as any).spec.template;
}

describe("bucket hardening arguments", () => {
  test("versioning on, AES256 by default, every public access path blocked", () => {
    expect(versioningArgs("b").versioningConfiguration).toEqual({ status: "Enabled" });
    expect(encryptionArgs("b").rules).toEqual([
      { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true },
    ]);
    expect(encryptionArgs("b", "alias/backups").rules).toEqual([
      {
        applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: "alias/backups" },
        bucketKeyEnabled: true,
      },
    ]);
    expect(publicAccessBlockArgs("b")).toEqual({
      bucket: "b",
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
  });

  test("lifecycle never expires a current object (the newest complete backup survives stopped backups); it clears prune's deleted versions and stale uploads under the prefix only", () => {
    const rules = lifecycleArgs("b", { prefix: "prod/db" }).rules as any[];
    expect(rules.map((r) => r.filter.prefix)).toEqual(["prod/db/", "prod/db/"]);
    for (const rule of rules)
      expect([rule.id, rule.expiration?.days, rule.expiration?.date]).toEqual([rule.id, undefined, undefined]);
    expect(rules[0].noncurrentVersionExpiration).toEqual({ noncurrentDays: 7 });
    expect(rules[0].expiration).toEqual({ expiredObjectDeleteMarker: true });
    expect(rules[1].abortIncompleteMultipartUpload).toEqual({ daysAfterInitiation: 1 });
  });

  test("the bucket policy denies every non-TLS request on the bucket and its objects", () => {
    const [statement] = JSON.parse(tlsOnlyPolicy("arn:aws:s3:::bkt")).Statement;
    expect(statement).toMatchObject({
      Effect: "Deny",
      Principal: "*",
      Action: "s3:*",
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    });
    expect(statement.Resource).toEqual(["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"]);
  });

  test("IRSA trust is limited to one ServiceAccount; access to the prefix only", () => {
    const trust = JSON.parse(
      irsaTrustPolicy("arn:aws:iam::1:oidc-provider/oidc.eks/x", "https://oidc.eks/x", "prod", "db-backup"),
    );
    expect(trust.Statement[0].Condition.StringEquals["oidc.eks/x:sub"]).toBe("system:serviceaccount:prod:db-backup");
    const access = JSON.parse(backupAccessPolicy("arn:aws:s3:::bkt", "prod/db"));
    expect(access.Statement[1].Resource).toEqual(["arn:aws:s3:::bkt/prod/db/*"]);
    // Writers (members) never delete; only the pruner (the backup Job) does; SSE-KMS grants name the key.
    expect(access.Statement[1].Action).not.toContain("s3:DeleteObject");
    const pruner = JSON.parse(
      backupAccessPolicy("arn:aws:s3:::bkt", "prod/db", {
        prune: true,
        kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/k",
      }),
    );
    expect(pruner.Statement[1].Action).toContain("s3:DeleteObject");
    expect(pruner.Statement[2]).toEqual({
      Effect: "Allow",
      Action: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
      Resource: ["arn:aws:kms:eu-west-1:123456789012:key/k"],
    });
  });

  test("backups of one database live under <stack>/<name>", () => {
    expect(backupPrefix("prod", "db")).toBe("prod/db");
  });
});

/** Every container of the member pod parts and the backup job. */
function allContainers(a: BackupPartsArgs): any[] {
  const extras: StatefulSetExtras[] = [buildSeedingPodExtras(a), buildBackupPodExtras(a)];
  const cron = buildBackupCronJob(a) as any;
  return [
    ...extras.flatMap((e) => [...(e.initContainers ?? []), ...(e.containers ?? [])]),
    ...cron.spec.jobTemplate.spec.template.spec.containers,
  ];
}

describe("backup CronJob and member parts", () => {
  test("the CronJob never overlaps, keeps short histories, has deadlines and resources, and prunes after a backup", () => {
    const job = buildBackupCronJob(parts()) as any;
    expect(job.spec).toMatchObject({
      schedule: "0 2 * * *",
      concurrencyPolicy: "Forbid",
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      startingDeadlineSeconds: 600,
    });
    expect(job.spec.jobTemplate.spec.activeDeadlineSeconds).toBeGreaterThan(0);
    const [container] = job.spec.jobTemplate.spec.template.spec.containers;
    expect(container.resources.requests).toBeDefined();
    expect(container.resources.limits).toBeDefined();
    expect(container.command.join(" ")).toMatch(/backup\.sh && .*prune\.sh/);
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e]));
    expect(env.DONOR_HOST.value).toBe("db-1.db-headless.mysql-ha.svc"); // a replica, stable when growing
    expect(env.DONOR_PORT.value).toBe(String(DONOR_PORT));
    expect(env.RETENTION_COUNT.value).toBe("14");
    expect(env.RETENTION_DAYS.value).toBe("30");
  });

  test("the clone stream's TLS: the donor sidecar serves with the pod's TLS Secret, the seed container and the backup Job verify it with the CA alone; nothing with tls off", () => {
    const a = parts();
    const pod = podTemplate(a, [buildSeedingPodExtras(a)]).spec;
    const job = (buildBackupCronJob(a) as any).spec.jobTemplate.spec.template.spec;
    const envOf = (c: any) => Object.fromEntries((c.env as any[]).map((e) => [e.name, e.value ?? e.valueFrom]));
    const tlsMountOf = (c: any) => (c.volumeMounts as any[]).filter((m) => m.name === VOLUMES.tls);
    const donor = pod.containers.find((c: any) => c.name === "clone-donor");
    const seed = pod.initContainers.find((c: any) => c.name === "seed");
    expect(envOf(donor)).toMatchObject({
      TLS_DIR: "/etc/mysql-ha/tls",
      POD_NAME: { fieldRef: { fieldPath: "metadata.name" } },
    });
    expect(envOf(donor).TLS_CA).toBeUndefined();
    for (const client of [seed, job.containers[0]]) {
      expect(envOf(client).TLS_CA).toBe("/etc/mysql-ha/tls/ca.crt");
      expect(envOf(client).TLS_DIR).toBeUndefined();
    }
    for (const c of [donor, seed, job.containers[0]])
      expect(tlsMountOf(c)).toEqual([{ name: VOLUMES.tls, mountPath: "/etc/mysql-ha/tls", readOnly: true }]);
    // The pod's volume is the stack's TLS Secret (every member's pair); the Job's carries the CA only.
    expect(pod.volumes.find((v: any) => v.name === VOLUMES.tls).secret.secretName).toBe("db-tls");
    expect(job.volumes.find((v: any) => v.name === VOLUMES.tls).secret).toEqual({
      secretName: "db-tls",
      items: [{ key: "ca.crt", path: "ca.crt" }],
    });

    const off = parts({ tls: "off", tlsRequired: "false" });
    const offPod = podTemplate(off, [buildSeedingPodExtras(off)]).spec;
    const offJob = (buildBackupCronJob(off) as any).spec.jobTemplate.spec.template.spec;
    for (const c of [...offPod.containers, ...offPod.initContainers, ...offJob.containers]) {
      expect(Object.keys(envOf(c)).filter((k) => /^TLS_/.test(k))).toEqual([]);
      expect(tlsMountOf(c)).toEqual([]);
    }
    expect(offJob.volumes.map((v: any) => v.name)).not.toContain(VOLUMES.tls);
  });

  test("the backup job and a restoring seed container get the manifest signing key from the stack's Secret by reference; no other container has it", () => {
    const a = parts({ restoreFrom: "s3://bkt1/prod/db" });
    const ref = {
      name: "BACKUP_SIGNING_KEY",
      valueFrom: { secretKeyRef: { name: objectNames("db").secret, key: SECRET_KEYS.backupSigning } },
    };
    const holders = allContainers(a).filter((c) => (c.env as any[]).some((e) => e.name === "BACKUP_SIGNING_KEY"));
    expect(holders.map((c) => c.name)).toEqual(["seed", "backup"]);
    for (const c of holders) expect((c.env as any[]).filter((e) => e.name === "BACKUP_SIGNING_KEY")).toEqual([ref]);
    // Without restoreFrom the seed container only clones from peers: it reads nothing from a bucket.
    expect(
      allContainers(parts())
        .filter((c) => (c.env as any[]).some((e) => e.name === "BACKUP_SIGNING_KEY"))
        .map((c) => c.name),
    ).toEqual(["backup"]);
  });

  test("S3 keys and passwords reach containers only by Secret reference", () => {
    const sensitive = /KEY|PASSWORD|TOKEN/;
    const containers = allContainers(parts({ restoreFrom: "s3://bkt1/prod/db" }));
    const envs = containers.flatMap((c) => c.env as any[]).filter((e) => sensitive.test(e.name));
    expect(envs.length).toBeGreaterThan(5);
    for (const e of envs) {
      expect(e.value).toBeUndefined();
      expect(e.valueFrom.secretKeyRef.name).toBeDefined();
    }
  });

  test("the S3 key references are optional (the operator creates the Secret only for static keys; else rclone's env_auth chain), the database credentials are not", () => {
    const refs = allContainers(parts({ restoreFrom: "s3://bkt1/prod/db" }))
      .flatMap((c) => c.env as any[])
      .filter((e) => e.valueFrom?.secretKeyRef);
    const aws = refs.filter((e) => e.name.startsWith("AWS_"));
    expect(aws.map((e) => e.name).sort()).toEqual([
      ...Array(3).fill("AWS_ACCESS_KEY_ID"),
      ...Array(3).fill("AWS_SECRET_ACCESS_KEY"),
    ]); // archiver, seed, job
    for (const e of aws)
      expect(e.valueFrom.secretKeyRef).toEqual({ name: "db-backup-s3", key: e.name, optional: true });
    for (const e of refs.filter((r) => !r.name.startsWith("AWS_")))
      expect(e.valueFrom.secretKeyRef.optional).toBeUndefined();
  });

  test("with IRSA there are no keys at all and the job runs as the role's ServiceAccount", () => {
    const args = parts({}, { kind: "irsa", serviceAccountName: "db-backup" });
    expect(s3Env(args).map((e) => e.name)).not.toContain("AWS_ACCESS_KEY_ID");
    expect((buildBackupCronJob(args) as any).spec.jobTemplate.spec.template.spec.serviceAccountName).toBe("db-backup");
  });

  test("an external endpoint is passed to the scripts (path-style there)", () => {
    const env = s3Env(parts({ backupEndpoint: "https://minio.example:9000", backupBucket: "bkt1" }));
    expect(env).toContainEqual({ name: "S3_ENDPOINT", value: "https://minio.example:9000" });
  });

  test("with a KMS key every upload asks for SSE-KMS under it (an existing bucket too); none without", () => {
    const env = s3Env(parts({ backupKmsKeyId: "alias/backups" }));
    expect(env).toEqual(
      expect.arrayContaining([
        { name: "RCLONE_S3_SERVER_SIDE_ENCRYPTION", value: "aws:kms" },
        { name: "RCLONE_S3_SSE_KMS_KEY_ID", value: "alias/backups" },
      ]),
    );
    expect(s3Env(parts()).map((e) => e.name)).not.toContain("RCLONE_S3_SERVER_SIDE_ENCRYPTION");
  });

  test("seeding parts (donor sidecar, seed init container) come without backups; the archiver with its spool only with binlogArchive", () => {
    const seeding = buildSeedingPodExtras(parts({ backupEnabled: "false" }));
    expect((seeding.containers as any[]).map((c) => c.name)).toEqual(["clone-donor"]);
    expect((seeding.initContainers as any[]).map((c) => c.name)).toEqual(["seed"]);
    const on = buildBackupPodExtras(parts());
    expect((on.containers as any[]).map((c) => c.name)).toEqual(["binlog-archiver"]);
    expect(on.volumes).toEqual([{ name: SPOOL.volume, emptyDir: { sizeLimit: SPOOL.sizeLimit } }]);
    expect(buildBackupPodExtras(parts({ binlogArchive: "false" }))).toEqual({});
  });

  test("S3 settings only where S3 is used: the donor never, the seed only with restoreFrom", () => {
    const names = (c: any) => (c.env as any[]).map((e) => e.name);
    const [seed] = buildSeedingPodExtras(parts()).initContainers as any[];
    const [donor] = buildSeedingPodExtras(parts()).containers as any[];
    for (const c of [seed, donor])
      expect(names(c).filter((n) => /^(AWS_|S3_|BACKUP_URL|RESTORE_URL)/.test(n))).toEqual([]);
    const [restoring] = buildSeedingPodExtras(
      parts({ restoreFrom: "s3://bkt1/prod/db", backupEndpoint: "https://minio.example:9000", backupBucket: "bkt1" }),
    ).initContainers as any[];
    expect(names(restoring)).toEqual(
      expect.arrayContaining(["RESTORE_URL", "AWS_REGION", "S3_ENDPOINT", "AWS_ACCESS_KEY_ID"]),
    );
    expect(names(restoring)).not.toContain("BACKUP_URL"); // seed-member.sh derives it from RESTORE_URL
  });

  test("sidecars are checked by liveness only, so they never take the member out of the Services", () => {
    const sidecars = allContainers(parts()).filter((c) => ["clone-donor", "binlog-archiver"].includes(c.name));
    expect(sidecars).toHaveLength(2);
    for (const c of sidecars) {
      expect([c.name, c.readinessProbe]).toEqual([c.name, undefined]);
      expect(c.livenessProbe.exec.command.join(" ")).toMatch(/grep|stat/);
    }
    const [archiver] = sidecars.filter((c) => c.name === "binlog-archiver");
    expect(archiver.livenessProbe.exec.command.join(" ")).toContain(`${SPOOL.path}/.alive`);
    expect(archiver.volumeMounts).toContainEqual({ name: SPOOL.volume, mountPath: SPOOL.path });
    expect(archiver.env).toContainEqual({ name: "SPOOL_MAX_BYTES", value: String(SPOOL.maxBytes) });
  });

  test("every emptyDir has a size limit and every container requests ephemeral storage (member pod and backup job)", () => {
    const a = parts();
    const pod = podTemplate(a, [buildSeedingPodExtras(a), buildBackupPodExtras(a)]).spec;
    const job = (buildBackupCronJob(a) as any).spec.jobTemplate.spec.template.spec;
    const emptyDirs = [...pod.volumes, ...job.volumes].filter((v: any) => v.emptyDir);
    expect(emptyDirs.map((v: any) => v.name).sort()).toEqual(["binlog-spool", "conf", "run", "tmp", "tmp"]);
    for (const v of emptyDirs) expect([v.name, typeof v.emptyDir.sizeLimit]).toEqual([v.name, "string"]);
    // The spool's limit leaves room above the archiver's pause threshold.
    expect(SPOOL.maxBytes).toBeLessThan(Number(SPOOL.sizeLimit.replace("Gi", "")) * 1024 ** 3);
    const containers = [
      ...pod.containers,
      ...pod.initContainers.filter((c: any) => c.name !== "init-server"),
      ...job.containers,
    ];
    for (const c of containers)
      expect([c.name, typeof c.resources.requests["ephemeral-storage"]]).toEqual([c.name, "string"]);
  });

  test("restoreFrom reaches the seed init container of member 0", () => {
    const url = "s3://bkt1/prod/db/base/20260101T020000Z";
    const [seed] = buildSeedingPodExtras(parts({ restoreFrom: url })).initContainers as any[];
    expect(seed.env).toContainEqual({ name: "RESTORE_URL", value: url });
    expect(seed.env).toContainEqual({ name: "CLONE_DONOR_PATTERN", value: "db-%d.db-headless.mysql-ha.svc" });
  });

  test("the seed container adds to the options init-server wrote (the conf volume, read-write): a clone's init_file", () => {
    const a = parts();
    const pod = podTemplate(a, [buildSeedingPodExtras(a)]).spec;
    expect(pod.initContainers.map((c: any) => c.name)).toEqual(["init-server", "seed"]);
    const [initServer, seed] = pod.initContainers;
    expect(initServer.volumeMounts).toContainEqual({ name: VOLUMES.conf, mountPath: PATHS.conf });
    expect(seed.volumeMounts).toContainEqual({ name: VOLUMES.conf, mountPath: PATHS.conf });
    expect(seed.env).toContainEqual({ name: "CONF_OUT", value: PATHS.conf });
    // The database container reads what they wrote.
    const database = pod.containers.find((c: any) => c.name === "mariadb");
    expect(database.volumeMounts).toContainEqual({ name: VOLUMES.conf, mountPath: PATHS.conf });
  });

  test("member 0's seed looks for a running peer on every ordinal the config allows, so the pod template does not change with replicas", () => {
    const [seed] = buildSeedingPodExtras(parts()).initContainers as any[];
    expect(seed.env).toEqual(
      expect.arrayContaining([
        { name: "MAX_MEMBERS", value: String(MAX_REPLICAS) },
        { name: "PEER_MYSQL_PORT", value: "3306" },
      ]),
    );
    expect(
      validateConfig(rawStackConfig(stackConfig("prod", { replicas: String(MAX_REPLICAS) }))).settings,
    ).toBeDefined();
    expect(
      validateConfig(rawStackConfig(stackConfig("prod", { replicas: String(MAX_REPLICAS + 1) }))).settings,
    ).toBeUndefined();
    // A template change makes every member out of date: RollingUpgrade would restart them all on each scaling.
    const template = (replicas: string) => {
      const a = parts({ replicas });
      return podTemplate(a, [buildSeedingPodExtras(a), buildBackupPodExtras(a)]);
    };
    expect(template("5")).toEqual(template("3"));
  });

  test("every backup container runs backupImage; without it the database image, with a warning that it lacks rclone (seeding still works)", () => {
    const images = (a: BackupPartsArgs) => allContainers(a).map((c) => c.image);
    const custom = parts({ backupImage: "registry.example.com/mysql-ha-backup:10.11.10" });
    expect(images(custom)).toEqual(Array(4).fill("registry.example.com/mysql-ha-backup:10.11.10"));
    expect(backupImageWarning(custom.settings)).toBeUndefined();
    const plain = parts();
    expect(images(plain)).toEqual(Array(4).fill(plain.settings.image));
    const warning = backupImageWarning(plain.settings);
    expect(warning).toMatch(
      /database image mariadb:[^ ]+, which must carry rclone \(the official mariadb image has socat and zstd, so seeding works, but no rclone: the backup job, the binlog archiver and restoreFrom fail at start\).*components\/backup\/Dockerfile.*mysql-ha:backupImage/,
    );
    expect(backupImageWarning({ ...plain.settings, backupEnabled: false })).toBeUndefined();
    expect(backupImageWarning({ ...plain.settings, backupEnabled: false, restoreFrom: "s3://bkt1/prod/db" })).toBe(
      warning,
    );
  });

  test("the Dockerfile builds backupImage FROM the database image and adds rclone, the one tool the official image lacks", () => {
    const dockerfile = fs.readFileSync(path.join(__dirname, "../../components/backup/Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/^ARG DATABASE_IMAGE=mariadb:\S+$/m);
    expect(dockerfile).toMatch(/^FROM \$\{DATABASE_IMAGE\}$/m);
    expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends rclone \\$/m);
    expect(dockerfile).toMatch(
      /^# Image of the backup containers \(mysql-ha:backupImage\): the database image plus rclone,/,
    );
    expect(dockerfile).not.toMatch(/plus rclone, socat and zstd/);
  });

  test("ships every script the containers run", () => {
    const scripts = backupScripts();
    expect(Object.keys(scripts)).toEqual([...BACKUP_SCRIPTS]);
    for (const body of Object.values(scripts)) expect(body.length).toBeGreaterThan(100);
  });
});

describe("member pod (components/kubernetes/statefulset.ts)", () => {
  test("the data volume is chowned only on a root mismatch, and the entrypoint upgrades system tables after a major image change", () => {
    const a = parts();
    const pod = podTemplate(a).spec;
    expect(pod.securityContext.fsGroupChangePolicy).toBe("OnRootMismatch");
    const [database] = pod.containers;
    expect(database.env).toContainEqual({ name: "MARIADB_AUTO_UPGRADE", value: "1" });
  });
});
