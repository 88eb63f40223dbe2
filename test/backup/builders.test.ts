import * as fs from "fs";
import * as path from "path";
import { rawStackConfig, Settings, validateConfig } from "../../components/config";
import { objectNames } from "../../components/kubernetes/names";
import {
  backupAccessPolicy, encryptionArgs, irsaTrustPolicy, lifecycleArgs, publicAccessBlockArgs, tlsOnlyPolicy, versioningArgs,
} from "../../components/backup/bucket";
import {
  BACKUP_SCRIPTS, backupImageWarning, backupScripts, BackupPartsArgs, buildBackupCronJob, buildBackupPodExtras, DONOR_PORT, s3Env,
} from "../../components/backup/kubernetes";
import { backupPrefix } from "../../components/backup/storage";
import { stackConfig } from "../../local/render";

function settings(set: Record<string, string> = {}): Settings {
  const { settings: s, errors } = validateConfig(rawStackConfig(stackConfig("prod", set)));
  if (!s) throw new Error(errors.map((e) => e.message).join("; "));
  return s;
}

function parts(set: Record<string, string> = {}, credentials: BackupPartsArgs["credentials"] = { kind: "secret", secretName: "db-backup-s3" }): BackupPartsArgs {
  return { name: "db", names: objectNames("db"), settings: settings(set), url: "s3://bkt/prod/db", credentials };
}

describe("bucket hardening arguments", () => {
  test("versioning on, AES256 by default, every public access path blocked", () => {
    expect(versioningArgs("b").versioningConfiguration).toEqual({ status: "Enabled" });
    expect(encryptionArgs("b").rules).toEqual([{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }]);
    expect(publicAccessBlockArgs("b")).toEqual({ bucket: "b", blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
  });

  test("lifecycle never expires a current object (the newest complete backup survives stopped backups); it clears prune's deleted versions and stale uploads under the prefix only", () => {
    const rules = lifecycleArgs("b", { prefix: "prod/db" }).rules as any[];
    expect(rules.map((r) => r.filter.prefix)).toEqual(["prod/db/", "prod/db/"]);
    for (const rule of rules) expect([rule.id, rule.expiration?.days, rule.expiration?.date]).toEqual([rule.id, undefined, undefined]);
    expect(rules[0].noncurrentVersionExpiration).toEqual({ noncurrentDays: 7 });
    expect(rules[0].expiration).toEqual({ expiredObjectDeleteMarker: true });
    expect(rules[1].abortIncompleteMultipartUpload).toEqual({ daysAfterInitiation: 1 });
  });

  test("the bucket policy denies every non-TLS request on the bucket and its objects", () => {
    const [statement] = JSON.parse(tlsOnlyPolicy("arn:aws:s3:::bkt")).Statement;
    expect(statement).toMatchObject({ Effect: "Deny", Principal: "*", Action: "s3:*", Condition: { Bool: { "aws:SecureTransport": "false" } } });
    expect(statement.Resource).toEqual(["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"]);
  });

  test("IRSA trust is limited to one ServiceAccount; access to the prefix only", () => {
    const trust = JSON.parse(irsaTrustPolicy("arn:aws:iam::1:oidc-provider/oidc.eks/x", "https://oidc.eks/x", "prod", "db-backup"));
    expect(trust.Statement[0].Condition.StringEquals["oidc.eks/x:sub"]).toBe("system:serviceaccount:prod:db-backup");
    const access = JSON.parse(backupAccessPolicy("arn:aws:s3:::bkt", "prod/db"));
    expect(access.Statement[1].Resource).toEqual(["arn:aws:s3:::bkt/prod/db/*"]);
  });

  test("backups of one database live under <stack>/<name>", () => {
    expect(backupPrefix("prod", "db")).toBe("prod/db");
  });
});

describe("backup CronJob and member parts", () => {
  test("the CronJob never overlaps, keeps short histories, has deadlines and resources, and prunes after a backup", () => {
    const job = buildBackupCronJob(parts()) as any;
    expect(job.spec).toMatchObject({ schedule: "0 2 * * *", concurrencyPolicy: "Forbid", successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 3, startingDeadlineSeconds: 600 });
    expect(job.spec.jobTemplate.spec.activeDeadlineSeconds).toBeGreaterThan(0);
    const [container] = job.spec.jobTemplate.spec.template.spec.containers;
    expect(container.resources.requests).toBeDefined();
    expect(container.resources.limits).toBeDefined();
    expect(container.command.join(" ")).toMatch(/backup\.sh && .*prune\.sh/);
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e]));
    expect(env.DONOR_HOST.value).toBe("db-1.db-headless.mysql-ha.svc.cluster.local"); // a replica, stable when growing
    expect(env.DONOR_PORT.value).toBe(String(DONOR_PORT));
    expect(env.RETENTION_COUNT.value).toBe("14");
    expect(env.RETENTION_DAYS.value).toBe("30");
  });

  test("S3 keys and passwords reach containers only by Secret reference", () => {
    const sensitive = /KEY|PASSWORD|TOKEN/;
    const extras = buildBackupPodExtras(parts());
    const containers = [...(extras.initContainers as any[]), ...(extras.containers as any[]), ...((buildBackupCronJob(parts()) as any).spec.jobTemplate.spec.template.spec.containers)];
    const envs = containers.flatMap((c) => c.env as any[]).filter((e) => sensitive.test(e.name));
    expect(envs.length).toBeGreaterThan(5);
    for (const e of envs) {
      expect(e.value).toBeUndefined();
      expect(e.valueFrom.secretKeyRef.name).toBeDefined();
    }
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

  test("members get the donor sidecar and the seed init container; the archiver only with binlogArchive", () => {
    const on = buildBackupPodExtras(parts());
    expect((on.containers as any[]).map((c) => c.name)).toEqual(["clone-donor", "binlog-archiver"]);
    expect((on.initContainers as any[]).map((c) => c.name)).toEqual(["seed"]);
    const off = buildBackupPodExtras(parts({ binlogArchive: "false" }));
    expect((off.containers as any[]).map((c) => c.name)).toEqual(["clone-donor"]);
  });

  test("restoreFrom reaches the seed init container of member 0", () => {
    const url = "s3://bkt1/prod/db/base/20260101T020000Z";
    const [seed] = buildBackupPodExtras(parts({ restoreFrom: url })).initContainers as any[];
    expect(seed.env).toContainEqual({ name: "RESTORE_URL", value: url });
    expect(seed.env).toContainEqual({ name: "CLONE_DONOR_PATTERN", value: "db-%d.db-headless.mysql-ha.svc.cluster.local" });
  });

  test("every backup container runs backupImage; without it the database image, with a warning naming the missing tools", () => {
    const images = (a: BackupPartsArgs) => {
      const extras = buildBackupPodExtras(a);
      const cron = buildBackupCronJob(a) as any;
      return [...(extras.initContainers as any[]), ...(extras.containers as any[]), ...cron.spec.jobTemplate.spec.template.spec.containers].map((c) => c.image);
    };
    const custom = parts({ backupImage: "registry.example.com/mysql-ha-backup:10.11.10" });
    expect(images(custom)).toEqual(Array(4).fill("registry.example.com/mysql-ha-backup:10.11.10"));
    expect(backupImageWarning(custom.settings)).toBeUndefined();
    const plain = parts();
    expect(images(plain)).toEqual(Array(4).fill(plain.settings.image));
    expect(backupImageWarning(plain.settings)).toMatch(/database image mariadb:[^ ]+, which must carry rclone, socat and zstd.*components\/backup\/Dockerfile.*backupImage/);
    expect(backupImageWarning({ ...plain.settings, backupEnabled: false })).toBeUndefined();
  });

  test("the Dockerfile builds backupImage FROM the database image and adds rclone, socat and zstd", () => {
    const dockerfile = fs.readFileSync(path.join(__dirname, "../../components/backup/Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/^ARG DATABASE_IMAGE=mariadb:\S+$/m);
    expect(dockerfile).toMatch(/^FROM \$\{DATABASE_IMAGE\}$/m);
    expect(dockerfile).toMatch(/apt-get install [^\n]*rclone socat zstd/);
  });

  test("ships every script the containers run", () => {
    const scripts = backupScripts();
    expect(Object.keys(scripts)).toEqual([...BACKUP_SCRIPTS]);
    for (const body of Object.values(scripts)) expect(body.length).toBeGreaterThan(100);
  });
});
