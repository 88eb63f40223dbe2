import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { configTable, projectYaml, README, readmeConfigTable } from "../local/project-yaml";
import {
  CONFIG_KEYS,
  CONFIG_KEY_NAMES,
  ConfigError,
  parseQuantity,
  projectConfigBlock,
  validateConfig,
} from "../components/config";

/** A CA certificate (public; its key was thrown away) for config tlsCa. */
const TEST_CA = `-----BEGIN CERTIFICATE-----
MIIBmDCCAT+gAwIBAgIUYKedi1B1aOY2DHFW+NqxLqdcu3wwCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXbXlzcWwtaGEgY29uZmlnIHRlc3QgQ0EwHhcNMjYxMjAxMTU0
ODU5WhcNMzYxMTI4MTU0ODU5WjAiMSAwHgYDVQQDDBdteXNxbC1oYSBjb25maWcg
dGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGbF5jJKN1fZ4Ci5MgTv
qstYIx70NRVkSeXvxCuKV0ZI5O35pFfs0FzXsKm3aFWD03s+DKl/+7PuOSNHkQYl
pV2jUzBRMB0GA1UdDgQWBBTeVzHEU2eAmQXfPbvmIvJhl1REUDAfBgNVHSMEGDAW
gBTeVzHEU2eAmQXfPbvmIvJhl1REUDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49
BAMCA0cAMEQCIBnliJJZY2bIERKTJuyvz0MWxYyAC6EqT/c5MH1A2GCfAiAblsnd
1OHL7FP0T2TjA9t4Ip1KUBlrflcxIdSGWhzkLA==
-----END CERTIFICATE-----\n`;

const root = path.resolve(__dirname, "..");

function errorsFor(raw: Record<string, unknown>): ConfigError[] {
  return validateConfig(raw).errors;
}

/** The single error for one bad key (fails if there are others). */
function onlyError(raw: Record<string, unknown>): ConfigError {
  const errors = errorsFor(raw);
  expect(errors.map((e) => e.message)).toHaveLength(1);
  return errors[0];
}

describe("validateConfig", () => {
  it("applies every default when no key is set", () => {
    const { settings, errors } = validateConfig({});
    expect(errors).toEqual([]);
    expect(settings).toMatchObject({
      replicas: 3,
      primary: 0,
      flavor: "mariadb",
      namespace: "default",
      storageSize: "10Gi",
      antiAffinity: "preferred",
      readMaxLagSeconds: 10,
      semiSync: true,
      semiSyncTimeoutMs: 10000,
      autoFailover: true,
      operationTimeoutSeconds: 120,
      connector: "kubernetes",
      directMembers: [],
      serverConfig: {},
      serviceType: "ClusterIP",
      appUser: "app",
      appDatabase: "app",
      backupEnabled: true,
      backupSchedule: "0 3 * * *",
      binlogArchive: true,
      tls: "self-signed",
      tlsRequired: false,
    });
    expect(settings!.storageClass).toBeUndefined();
    expect(settings!.backupBucket).toBeUndefined();
    expect(settings!.backupEndpoint).toBeUndefined();
    expect(settings!.restoreFrom).toBeUndefined();
  });

  it("accepts values as Pulumi hands them over (strings, JSON for lists and objects)", () => {
    const { settings, errors } = validateConfig({
      replicas: "5",
      primary: "4",
      semiSync: "false",
      connector: "direct",
      tls: "off",
      directMembers: JSON.stringify(["10.0.0.1:3306", "db-1:3306", "db-2:3307", "[::1]:3306", "h:1"]),
      serverConfig: JSON.stringify({ max_connections: 500, "innodb-buffer-pool-size": "1G", performance_schema: true }),
    });
    expect(errors).toEqual([]);
    expect(settings).toMatchObject({ replicas: 5, primary: 4, semiSync: false, connector: "direct" });
    expect(settings!.directMembers).toHaveLength(5);
    expect(settings!.serverConfig).toEqual({
      max_connections: 500,
      "innodb-buffer-pool-size": "1G",
      performance_schema: true,
    });
  });

  const good: Array<[string, unknown, Record<string, unknown>?]> = [
    ["replicas", 1],
    ["replicas", 9],
    ["primary", 2],
    ["image", "mariadb:10.11.9"],
    ["image", "registry.example.com:5000/db/mariadb:10.11"],
    ["image", `mariadb@sha256:${"a".repeat(64)}`],
    ["flavor", "mariadb"],
    ["namespace", "db-prod"],
    ["createNamespace", false],
    ["loadBalancerSourceRanges", ["10.0.0.0/8", "fd00::/8"]],
    ["clientNamespaceSelector", { "kubernetes.io/metadata.name": "shop" }],
    ["clientPodSelector", { "app.kubernetes.io/part-of": "shop", role: "api" }],
    ["storageSize", "20Gi"],
    ["storageSize", "500M"],
    ["storageClass", "fast-ssd"],
    ["cpuRequest", "100m"],
    ["cpuLimit", "2"],
    ["memoryRequest", "256Mi"],
    ["memoryLimit", "2Gi"],
    ["antiAffinity", "none"],
    ["antiAffinity", "required"],
    ["readMaxLagSeconds", 1],
    ["semiSync", false],
    ["semiSyncTimeoutMs", 500],
    ["autoFailover", false],
    ["agentImage", "node:20.20.0-bookworm-slim"],
    ["agentImage", `registry.example.com/node@sha256:${"c".repeat(64)}`],
    ["agentIntervalMs", 250],
    ["agentFailureThreshold", 1],
    ["agentCooldownSeconds", 0],
    ["agentCooldownSeconds", "600"],
    ["operationTimeoutSeconds", 30],
    ["serviceType", "LoadBalancer"],
    ["serviceType", "NodePort"],
    ["appUser", "shop_app"],
    ["appDatabase", "shop"],
    ["backupEnabled", false],
    ["backupSchedule", "*/15 * * * *"],
    ["backupSchedule", "@daily"],
    ["backupBucket", "my-backups.example"],
    ["backupEndpoint", "https://minio.example:9000", { backupBucket: "local-backups" }],
    ["backupEndpoint", "http://127.0.0.1:4568", { backupBucket: "local-backups", backupEndpointAllowHttp: true }],
    ["backupEndpoint", "https://127.0.0.1:4568", { backupEnabled: false }],
    ["backupEndpointAllowHttp", true],
    ["backupKmsKeyId", "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
    ["backupKmsKeyId", "alias/backups"],
    [
      "backupIrsaOidcProviderArn",
      "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC",
      { backupIrsaOidcIssuer: "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC" },
    ],
    [
      "backupIrsaOidcIssuer",
      "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC",
      { backupIrsaOidcProviderArn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC" },
    ],
    ["backupImage", "registry.example.com/mysql-ha-backup:10.11.10"],
    ["backupImage", `mysql-ha-backup@sha256:${"b".repeat(64)}`],
    ["backupRegion", "eu-west-1"],
    ["backupMaxAgeHours", 12],
    ["backupRetentionDays", 7],
    ["backupRetentionCount", 3],
    ["binlogArchive", false],
    ["connector", "direct", { replicas: 1, directMembers: ["db:3306"] }],
    ["directMembers", JSON.stringify(["a:1", "b:2", "c:3"]), { connector: "direct" }],
    ["serverConfig", { max_connections: 100 }],
    ["restoreFrom", "s3://my-backups/prod/base/2024-01-01T00:00:00Z/"],
    ["tls", "off"],
    ["tls", "self-signed"],
    ["tls", "secret", { tlsSecretPrefix: "db-certs", tlsCa: TEST_CA }],
    ["tls", "cert-manager", { tlsIssuer: "ClusterIssuer/ca", tlsCa: TEST_CA }],
    ["tlsSecretPrefix", "db.certs", { tls: "secret", tlsCa: TEST_CA }],
    ["tlsIssuer", "Issuer/internal-ca", { tls: "cert-manager", tlsCa: TEST_CA }],
    ["tlsCa", TEST_CA, { tls: "secret", tlsSecretPrefix: "db" }],
    ["tlsCaGeneration", 2],
    ["tlsTrustedCaGenerations", JSON.stringify([1, 2])],
    ["tlsRequired", true],
    ["tlsRequired", "true"],
    ["metrics", true],
    ["metricsImage", "registry.example.com/mysqld-exporter:v0.16.0"],
    ["monitoring", "prometheus-operator"],
    ["monitoringNamespace", "observability"],
    ["monitoringLabels", { release: "kube-prometheus-stack" }],
  ];
  // Rows padded to 3 columns: jest passes a `done` callback in place of a missing column.
  it.each(good.map(([k, v, o]) => [k, v, o ?? {}] as const))("accepts %s = %p", (key, value, others) => {
    expect(errorsFor({ ...others, [key]: value }).map((e) => e.message)).toEqual([]);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ["replicas", 0, /integer from 1 to 9/],
    ["replicas", 10, /integer from 1 to 9/],
    ["replicas", "3.5", /integer/],
    ["replicas", "three", /integer/],
    ["primary", -1, />= 0/],
    ["primary", 3, /from 0 to 2 \(replicas is 3\)/],
    ["image", "mariadb", /pinned tag or digest/],
    ["image", "mariadb:latest", /latest/],
    ["image", "maria db:1", /without spaces/],
    ["flavor", "mysql", /reserved/],
    ["flavor", "postgres", /one of mariadb/],
    ["namespace", "Prod_DB", /DNS-1123 label/],
    ["namespace", "a".repeat(64), /DNS-1123/],
    ["createNamespace", "yes", /true or false/],
    ["loadBalancerSourceRanges", ["10.0.0.0/33"], /CIDR/],
    ["loadBalancerSourceRanges", "10.0.0.0/8", /list of CIDR/],
    ["clientNamespaceSelector", ["shop"], /label key -> value/],
    ["clientPodSelector", { "bad key!": "x" }, /label key/],
    ["clientPodSelector", { app: "-x-" }, /label value/],
    ["storageSize", "20GB", /did you mean 20Gi\?/],
    ["storageSize", "lots", /quantity/],
    ["storageSize", "0", /positive/],
    ["storageClass", "Fast SSD", /StorageClass/],
    ["cpuRequest", "1 core", /CPU quantity/],
    ["memoryRequest", "lots", /memory quantity/],
    ["memoryLimit", "2gb", /did you mean 2Gi\?/],
    ["memoryLimit", "256Mi", />= memoryRequest \(512Mi\)/],
    ["cpuLimit", "100m", />= cpuRequest \(250m\)/],
    ["antiAffinity", "requird", /did you mean required\?/],
    ["readMaxLagSeconds", 0, /> 0/],
    ["readMaxLagSeconds", "1.5", /whole number/],
    ["semiSync", "yes", /true or false/],
    ["semiSyncTimeoutMs", 0, /> 0/],
    ["autoFailover", 1, /true or false/],
    ["agentImage", "node:latest", /latest/],
    ["agentImage", "node", /pinned tag or digest, e\.g\. node:20\.19\.5-bookworm-slim or node@sha256/],
    ["agentImage", "", /without spaces/],
    ["agentIntervalMs", 0, /milliseconds > 0/],
    ["agentIntervalMs", "1s", /milliseconds > 0/],
    ["agentFailureThreshold", 0, />= 1/],
    ["agentFailureThreshold", 2.5, />= 1/],
    ["agentCooldownSeconds", -1, /seconds >= 0/],
    ["agentCooldownSeconds", "5m", /seconds >= 0/],
    ["operationTimeoutSeconds", -5, /> 0/],
    ["connector", "ssh", /kubernetes, direct/],
    ["directMembers", JSON.stringify(["a:1"]), /empty list when connector is kubernetes/],
    ["directMembers", "not json", /list of "host:port"/],
    ["serverConfig", "[1]", /object of my.cnf options/],
    ["serverConfig", JSON.stringify({ "Max Conn": 1 }), /option name/],
    ["serverConfig", JSON.stringify({ server_id: 7 }), /does not manage/],
    ["serverConfig", JSON.stringify({ "gtid-strict-mode": 0 }), /does not manage/],
    ["serverConfig", JSON.stringify({ x: { y: 1 } }), /single-line string, a number or a boolean/],
    ["serverConfig", JSON.stringify({ init_connect: "a\nb" }), /single-line/],
    ["serviceType", "clusterip", /did you mean ClusterIP\?/],
    ["appUser", "root", /other than root/],
    ["appUser", "1app", /user name/],
    ["appDatabase", "mysql", /system schema/],
    ["appDatabase", "my-db", /database name/],
    ["backupEnabled", "on", /true or false/],
    ["backupSchedule", "0 3 * *", /5 fields/],
    ["backupBucket", "My_Bucket", /bucket name/],
    ["backupBucket", "192.168.1.1", /bucket name/],
    ["backupBucket", "ab", /bucket name/],
    ["backupEndpoint", "minio:9000", /https:\/\/ URL/],
    ["backupEndpointAllowHttp", "maybe", /true or false/],
    ["backupKmsKeyId", "my key", /KMS key ARN/],
    ["backupIrsaOidcProviderArn", "oidc.eks/ABC", /OIDC provider ARN/],
    ["backupIrsaOidcIssuer", "http://oidc", /https:\/\/ OIDC issuer/],
    ["backupImage", "mysql-ha-backup:latest", /latest/],
    ["tls", "selfsigned", /one of self-signed, secret, cert-manager, off \(did you mean self-signed\?\)/],
    ["tlsRequired", "yes", /true or false/],
    ["tlsSecretPrefix", "Db_Certs", /Secret name prefix/],
    ["tlsIssuer", "ClusterIssuer", /Issuer\/<name> or ClusterIssuer\/<name>/],
    ["tlsCa", "ca.crt", /PEM certificates/],
    ["tlsCaGeneration", 0, /from 1 to 1000/],
    ["tlsTrustedCaGenerations", [1, 1], /distinct CA generations/],
    ["tlsTrustedCaGenerations", [2], /includes tlsCaGeneration \(1\)/],
    ["backupImage", "mysql-ha-backup", /pinned tag or digest/],
    ["backupImage", "my backup:1", /without spaces/],
    ["backupRegion", "EU West", /region/],
    ["backupMaxAgeHours", -1, /hours from 1 to 8784, or 0 for two periods of backupSchedule/],
    ["backupMaxAgeHours", 8785, /hours from 1 to 8784/],
    ["backupRetentionDays", 0, /from 1/],
    ["backupRetentionCount", "x", /integer/],
    ["binlogArchive", "no", /true or false/],
    ["restoreFrom", "https://bucket/x", /s3:\/\/bucket\/path/],
    ["restoreFrom", "s3://UPPER/x", /s3:\/\//],
    ["metrics", "on", /true or false/],
    ["metricsImage", "prom/mysqld-exporter", /pinned tag or digest, e\.g\. prom\/mysqld-exporter:v0\.15\.1/],
    ["monitoring", "prometheus", /one of none, prometheus-operator/],
    ["monitoringNamespace", "Monitoring", /DNS-1123 label/],
    ["monitoringLabels", { "release!": "x" }, /label key/],
  ];
  it.each(bad)("refuses %s = %p and names the key, the value and what is allowed", (key, value, allowed) => {
    const error = onlyError({ [key]: value });
    expect(error.key.split(".")[0]).toBe(key);
    expect(error.message).toContain(`mysql-ha:${error.key}`);
    expect(error.message).toMatch(allowed);
    expect(error.allowed.length).toBeGreaterThan(0);
  });

  it("covers every key with at least one good and one bad value", () => {
    const bothWays = (k: string) => good.some(([g]) => g === k) && bad.some(([b]) => b === k);
    expect(CONFIG_KEY_NAMES.filter((k) => !bothWays(k))).toEqual([]);
  });

  it("reports several problems at once and returns no settings", () => {
    const { settings, errors } = validateConfig({
      replicas: "12",
      image: "mariadb:latest",
      storageSize: "20GB",
      semiSync: "maybe",
    });
    expect(settings).toBeUndefined();
    expect(errors.map((e) => e.key).sort()).toEqual(["image", "replicas", "semiSync", "storageSize"]);
  });

  it("suggests the closest key for a typo and lists the known keys", () => {
    const error = onlyError({ replcias: 3 });
    expect(error.message).toContain("mysql-ha:replcias: unknown config key (did you mean replicas?)");
    expect(error.message).toContain("readMaxLagSeconds");
    expect(onlyError({ readMaxLag: 5 }).message).toContain("did you mean readMaxLagSeconds?");
    expect(onlyError({ zzzzzz: 1 }).message).not.toContain("did you mean");
  });

  it("requires one direct address per member when connector is direct", () => {
    expect(onlyError({ connector: "direct" }).message).toMatch(/exactly one "host:port" per member \(3/);
    expect(onlyError({ connector: "direct", replicas: 2, directMembers: ["a:1", "b:2", "c:3"] }).key).toBe(
      "directMembers",
    );
    expect(onlyError({ connector: "direct", replicas: 2, directMembers: ["a:1", "b:99999"] }).message).toMatch(
      /port from 1 to 65535/,
    );
    expect(errorsFor({ connector: "direct", replicas: 2, directMembers: ["a:1", "b:2"] })).toEqual([]);
  });

  it("refuses a malformed IRSA provider ARN or issuer, naming each", () => {
    const messages = errorsFor({ backupIrsaOidcProviderArn: "oidc.eks/ABC", backupIrsaOidcIssuer: "http://oidc" }).map(
      (e) => e.message,
    );
    expect(messages).toEqual([
      expect.stringMatching(
        /^mysql-ha:backupIrsaOidcProviderArn: "oidc.eks\/ABC" is not allowed; expected an IAM OIDC provider ARN/,
      ),
      expect.stringMatching(
        /^mysql-ha:backupIrsaOidcIssuer: "http:\/\/oidc" is not allowed; expected the https:\/\/ OIDC issuer URL/,
      ),
    ]);
  });

  it("refuses an http:// backupEndpoint unless backupEndpointAllowHttp says so", () => {
    expect(errorsFor({ backupEndpoint: "http://minio:9000", backupBucket: "bkt" }).map((e) => e.message)).toEqual([
      'mysql-ha:backupEndpoint: "http://minio:9000" is not allowed; expected an https:// URL (set backupEndpointAllowHttp to true to send backups unencrypted over http)',
    ]);
    expect(
      errorsFor({ backupEndpoint: "http://minio:9000", backupBucket: "bkt", backupEndpointAllowHttp: true }),
    ).toEqual([]);
  });

  it("refuses credentials inside backupEndpoint without repeating them in the error", () => {
    const { errors } = validateConfig({
      backupEndpoint: "https://AKIAEXAMPLE:s3cr3t-key@minio:9000",
      backupBucket: "bkt",
    });
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/^mysql-ha:backupEndpoint: .* expected a URL without user or password/),
    ]);
    expect(JSON.stringify(errors)).not.toMatch(/s3cr3t|AKIAEXAMPLE/);
    // Nor in the rule that wants a bucket with an endpoint: it is not judged on an endpoint refused on its own.
    const alone = validateConfig({ backupEndpoint: "https://AKIAEXAMPLE:s3cr3t-key@minio:9000" }).errors;
    expect(alone.map((e) => e.key)).toEqual(["backupEndpoint"]);
    expect(JSON.stringify(alone)).not.toMatch(/s3cr3t|AKIAEXAMPLE/);
  });

  it("requires an existing backupBucket with an external backupEndpoint, reported with the other problems", () => {
    const error = onlyError({ backupEndpoint: "http://minio:9000", backupEndpointAllowHttp: true });
    expect(error.key).toBe("backupBucket");
    expect(error.message).toMatch(
      /mysql-ha:backupBucket: "" is not allowed; expected the name of an existing bucket on backupEndpoint http:\/\/minio:9000/,
    );
    const { errors } = validateConfig({ backupEndpoint: "https://minio:9000", replicas: 0 });
    expect(errors.map((e) => e.key).sort()).toEqual(["backupBucket", "replicas"]);
    expect(errorsFor({ backupEndpoint: "https://minio:9000", backupEnabled: false })).toEqual([]);
  });

  it("defaults the failover agent to a pinned public Node image and its contract's timings", () => {
    expect(validateConfig({}).settings).toMatchObject({
      agentImage: "node:20.19.5-bookworm-slim",
      agentIntervalMs: 1000,
      agentFailureThreshold: 3,
      agentCooldownSeconds: 300,
    });
  });

  it("leaves backupImage unset by default and keeps a pinned one", () => {
    expect(validateConfig({}).settings!.backupImage).toBeUndefined();
    expect(validateConfig({ backupImage: "r.example/b:1" }).settings!.backupImage).toBe("r.example/b:1");
  });

  it("checks primary against the configured replicas", () => {
    expect(errorsFor({ replicas: 5, primary: 4 })).toEqual([]);
    expect(onlyError({ replicas: 2, primary: 2 }).message).toMatch(/from 0 to 1 \(replicas is 2\)/);
  });
});

describe("parseQuantity", () => {
  it("reads binary, decimal, milli and exponent suffixes", () => {
    expect(parseQuantity("250m")).toBeCloseTo(0.25);
    expect(parseQuantity("1Gi")).toBe(2 ** 30);
    expect(parseQuantity("1G")).toBe(1e9);
    expect(parseQuantity("1E")).toBe(1e18);
    expect(parseQuantity("1e3")).toBe(1000);
    expect(parseQuantity("20GB")).toBeUndefined();
  });
});

describe("Pulumi.yaml", () => {
  const project = yaml.load(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as any;

  it("declares exactly the keys, types, defaults and descriptions of components/config.ts", () => {
    expect(project.config).toEqual(projectConfigBlock());
  });

  it("is exactly what local/project-yaml.ts generates (regenerate it after editing CONFIG_KEYS)", () => {
    expect(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")).toBe(projectYaml());
  });

  it("and the README's config reference is what local/project-yaml.ts --readme generates: every key, in order", () => {
    const table = readmeConfigTable(fs.readFileSync(README, "utf8"));
    expect(table).toBe(configTable());
    expect(table!.match(/^\| `(\w+)` \|/gm)!.map((row) => row.slice(3, -3))).toEqual(CONFIG_KEY_NAMES);
  });

  it("leaves out only the object-typed keys, which Pulumi project config cannot declare", () => {
    const undeclared = CONFIG_KEY_NAMES.filter((k) => !(k in project.config));
    expect(undeclared).toEqual(CONFIG_KEY_NAMES.filter((k) => CONFIG_KEYS[k].type === "object"));
    expect(undeclared).toEqual(["serverConfig", "clientNamespaceSelector", "clientPodSelector", "monitoringLabels"]);
  });

  it("names the project mysql-ha with the nodejs runtime", () => {
    expect(project.name).toBe("mysql-ha");
    expect(project.runtime.name ?? project.runtime).toBe("nodejs");
  });
});

describe("stack files", () => {
  it.each(["dev", "prod"])("Pulumi.%s.yaml validates", (stack) => {
    const doc = yaml.load(fs.readFileSync(path.join(root, `Pulumi.${stack}.yaml`), "utf8")) as {
      config: Record<string, unknown>;
    };
    const raw = Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^mysql-ha:/, ""), v]));
    expect(validateConfig(raw).errors).toEqual([]);
  });
});
