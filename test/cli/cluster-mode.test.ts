/**
 * Cluster mode (`--stack`): the commands find a stack's members through the Kubernetes API (the stand-in, with
 * authentication and RBAC), reach them through port-forwards and read the passwords from the stack's Secret. The
 * members are real mariadbd processes in a pod network where the headless Service's names resolve, as in a cluster.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CLUSTER_COMMANDS, clusterRoleRules, describeRule, RoleRule } from "../../cli/cluster-rbac";
import { validateConfig } from "../../components/config";
import { TOPOLOGY_MOVE_KEY } from "../../components/connectors/primary-objects";
import { DONOR_PORT, objectNames, ROLE_LABEL } from "../../components/kubernetes/names";
import { ACCOUNT_ROLES } from "../../components/replication";
import { backupNames, buildBackupCronJob } from "../../components/backup/kubernetes";
import { buildCredentialsSecret } from "../../components/kubernetes/secret";
import { buildTlsSecret } from "../../components/kubernetes/tls";
import { TOPOLOGY_PRIMARY_KEY } from "../../components/kubernetes/topology";
import { spawnAgent } from "../../local/agent";
import { KubeApiStandin } from "../../local/kube-api-standin";
import { destroyAll, LOCAL_ROOT_PASSWORD, LocalServer, REPLICATION_OPTIONS, startServer } from "../../local/mariadbd";
import { PodNetwork } from "../../local/pod-network";
import { LocalS3, startLocalS3 } from "../../local/s3";
import { applyProgramObjects, memberStandin, roleLabels } from "../connectors/program-objects";
import { makeCa, TestCa } from "../replication/certificates";
import { startDonor } from "../../cli/scripts";
import { runCli } from "./run-cli";

const ROOT = path.resolve(__dirname, "../..");
const NAMESPACE = "db";
const NAMES = objectNames("mysql");
const REPLICATION_PASSWORD = "cluster-repl-pw-5t7";
const SIGNING_KEY = "cluster-signing-key-9q2";

/** This process's environment without credentials or a kubeconfig: cluster mode must find them in the cluster. */
function cleanEnv(): Record<string, string> {
  const clean = Object.entries(process.env).filter(
    ([k]) => !k.startsWith("MYSQL_HA_") && !k.startsWith("AWS_") && k !== "KUBECONFIG",
  );
  return { ...(Object.fromEntries(clean) as Record<string, string>), HOME: os.tmpdir() };
}

const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli(args, { env, baseEnv: cleanEnv(), cwd: ROOT, timeout: 90000 });

/** A stack file's config section. */
function configYaml(config: Record<string, string>): string {
  return `config:\n${Object.entries(config)
    .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)
    .join("\n")}\n`;
}

/** A project directory with the repository's Pulumi.yaml and one stack file. */
function project(stack: string, config: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-cluster-project-"));
  fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
  fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), configYaml(config));
  return dir;
}

const STACK_CONFIG = {
  "mysql-ha:replicas": "3",
  "mysql-ha:namespace": NAMESPACE,
  "mysql-ha:createNamespace": "false",
  "mysql-ha:backupEnabled": "false",
};

const settingsOf = (config: Record<string, string>) =>
  validateConfig(Object.fromEntries(Object.entries(config).map(([k, v]) => [k.replace(/^mysql-ha:/, ""), v])))
    .settings!;

/** Members of StatefulSet `mysql` in namespace db: mariadbd on port 3306 of each pod's address, named as in the cluster. */
async function startMembers(
  network: PodNetwork,
  options: (i: number) => Record<string, string | number | boolean> = () => ({}),
  clientCa?: string,
): Promise<LocalServer[]> {
  const servers: LocalServer[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      network.add(`mysql-${i}.${NAMES.headlessService}.${NAMESPACE}.svc`, network.address(i));
      servers.push(
        await startServer({
          serverId: 1000 + i,
          port: 3306,
          host: network.address(i),
          wrap: network.wrap.bind(network),
          options: { ...REPLICATION_OPTIONS, ...options(i) },
          clientCa,
        }),
      );
    }
  } catch (err) {
    await destroyAll(servers);
    throw err;
  }
  return servers;
}

const ALL: RoleRule = { apiGroups: ["*"], resources: ["*"], verbs: ["*"] };

/** The stand-in with the program's objects and Secret, users by token, each pod's port-forward to its member. */
async function startApi(
  network: PodNetwork,
  users: Record<string, { name: string; rules: RoleRule[] }>,
): Promise<KubeApiStandin> {
  // Each pod serves its ports on its own address (3306, the donor's 4444).
  const api = memberStandin({
    namespace: NAMESPACE,
    portForward: (i, port) => ({ host: network.address(i), port }),
    users: { "standin-token": { name: "pulumi", rules: [ALL] }, ...users },
  });
  await api.start();
  await applyProgramObjects(api);
  const accounts = Object.fromEntries(ACCOUNT_ROLES.map((r) => [r, `${r}-pw`])) as Record<
    (typeof ACCOUNT_ROLES)[number],
    string
  >;
  const secret = buildCredentialsSecret({
    name: "mysql",
    names: NAMES,
    settings: { namespace: NAMESPACE },
    passwords: { root: LOCAL_ROOT_PASSWORD, replication: REPLICATION_PASSWORD, app: "app-pw" },
    accountPasswords: accounts,
    backupSigningKey: SIGNING_KEY,
    cloneToken: "clone-token",
  });
  const applied = await api.serverSideApply("secrets", secret as never);
  if (applied.code >= 300) throw new Error(`applying the Secret: ${applied.code} ${applied.body.message}`);
  return api;
}

/**
 * A stack with backups on to the local S3's bucket `backups` (its config: `config` and these), and what its program
 * applies for them: the backup CronJob (to `url`) and the S3 keys' Secret.
 */
async function applyBackupObjects(
  api: KubeApiStandin,
  s3: LocalS3,
  url: string,
  config: Record<string, string>,
): Promise<Record<string, string>> {
  const backupConfig = {
    ...config,
    "mysql-ha:backupEnabled": "true",
    "mysql-ha:backupBucket": "backups",
    "mysql-ha:backupEndpoint": s3.endpoint,
    "mysql-ha:backupEndpointAllowHttp": "true",
  };
  const cronJob = buildBackupCronJob({
    name: "mysql",
    names: NAMES,
    settings: settingsOf(backupConfig),
    credentials: { kind: "secret", secretName: backupNames("mysql").credentialsSecret },
    url,
  });
  expect((await api.serverSideApply("cronjobs", cronJob as never)).code).toBeLessThan(300);
  const keys = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: backupNames("mysql").credentialsSecret },
    stringData: {
      AWS_ACCESS_KEY_ID: s3.env().AWS_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: s3.env().AWS_SECRET_ACCESS_KEY,
    },
  };
  expect((await api.serverSideApply("secrets", keys as never)).code).toBeLessThan(300);
  return backupConfig;
}

/** Writes the stand-in's kubeconfig (one context per user) where the stack or --kubeconfig can name it. */
function writeKubeconfig(dir: string, api: KubeApiStandin, contexts: Record<string, string>): string {
  const file = path.join(dir, "kubeconfig");
  fs.writeFileSync(file, api.kubeconfig(contexts), { mode: 0o600 });
  return file;
}

describe("mysql-ha --stack (cluster mode) against the API stand-in and live members", () => {
  const network = new PodNetwork();
  let servers: LocalServer[] = [];
  let api: KubeApiStandin | undefined;
  let dir: string;
  let kubeconfig: string;
  const settings = settingsOf(STACK_CONFIG);

  beforeAll(async () => {
    servers = await startMembers(network);
    api = await startApi(network, {
      "operator-token": { name: "operator", rules: clusterRoleRules("switchover", settings) },
      // The status rules but the Secret's.
      "viewer-token": {
        name: "viewer",
        rules: clusterRoleRules("status", settings).filter((r) => !r.resources.includes("secrets")),
      },
      // Everything but port-forward.
      "reader-token": {
        name: "reader",
        rules: clusterRoleRules("status", settings).filter((r) => !r.resources.includes("pods/portforward")),
      },
      "agent-token": { name: "agent", rules: clusterRoleRules("agent", settings) },
      "backups-token": { name: "backups", rules: clusterRoleRules("backups", settings) },
    });
    dir = project("cluster", { ...STACK_CONFIG, "mysql-ha:tls": "off" });
    kubeconfig = writeKubeconfig(dir, api, {
      admin: "standin-token",
      operator: "operator-token",
      viewer: "viewer-token",
      reader: "reader-token",
      agent: "agent-token",
      backups: "backups-token",
    });
    // The stack names the cluster as the Kubernetes provider reads it; a relative path is the project directory's.
    fs.appendFileSync(
      path.join(dir, "Pulumi.cluster.yaml"),
      `  kubernetes:kubeconfig: ${path.basename(kubeconfig)}\n  kubernetes:context: operator\n`,
    );
  }, 120000);
  afterAll(async () => {
    await api?.stop();
    await destroyAll(servers);
    network.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("sets up and shows the live topology with the stack's kubeconfig and context, the passwords only from its Secret", async () => {
    const setup = await cli(["setup", "--stack", "cluster", "--project-dir", dir]);
    expect(setup.stderr).toBe("");
    expect(setup.code).toBe(0);
    expect(setup.stdout).toMatch(/setup: done; primary is member 0/);

    const status = await cli(["status", "--stack", "cluster", "--project-dir", dir, "--json"]);
    expect(status.stderr).toBe("");
    expect(status.code).toBe(0);
    const json = JSON.parse(status.stdout);
    expect(json).toMatchObject({ primary: 0, healthy: true, problems: [] });
    expect(json.members.map((m: { role: string; sourceIndex: number | null }) => [m.role, m.sourceIndex])).toEqual([
      ["primary", null],
      ["replica", 0],
      ["replica", 0],
    ]);
    // Replicas stream from their source by its pod DNS name; the engine came through the port-forwards as operator.
    const [source] = await servers[1].query<{ Master_Host: string; Master_Port: number }>("SHOW SLAVE STATUS");
    expect(`${source.Master_Host}:${source.Master_Port}`).toBe(
      `mysql-0.${NAMES.headlessService}.${NAMESPACE}.svc:3306`,
    );
    expect(api!.forwards.sessions).toEqual(
      expect.arrayContaining([0, 1, 2].map((i) => `${NAMESPACE}/mysql-${i}:3306`)),
    );
    expect(api!.requests).toContain(`GET /api/v1/namespaces/${NAMESPACE}/secrets/${NAMES.secret}`);

    const table = await cli(["status", "--stack", "cluster", "--project-dir", dir]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/healthy; primary is member 0/);
    for (const out of [setup, status, table]) {
      expect(out.stdout + out.stderr).not.toContain(LOCAL_ROOT_PASSWORD);
      expect(out.stdout + out.stderr).not.toContain(REPLICATION_PASSWORD);
    }
  }, 120000);

  it("switches over with exactly the README's rules for switchover; the write endpoint and the move record follow", async () => {
    const out = await cli(["switchover", "--stack", "cluster", "--project-dir", dir, "--to", "2"]);
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/switchover: done; primary is member 2/);

    const status = JSON.parse((await cli(["status", "--stack", "cluster", "--project-dir", dir, "--json"])).stdout);
    expect(status).toMatchObject({ primary: 2, healthy: true });
    expect(api!.configMaps.get(NAMES.topology)?.[TOPOLOGY_PRIMARY_KEY]).toBe("2");
    expect(JSON.parse(api!.configMaps.get(NAMES.topology)![TOPOLOGY_MOVE_KEY])).toMatchObject({
      from: 0,
      to: 2,
      by: "mysql-ha switchover",
      operation: "switchover",
    });
    expect(roleLabels(api!)).toEqual({ "mysql-0": "replica", "mysql-1": "replica", "mysql-2": "primary" });
    expect(api!.serviceEndpoints(NAMES.primaryService)).toEqual(["mysql-2"]);
    expect(api!.podLabels(2)?.[ROLE_LABEL]).toBe("primary");
  }, 120000);

  it("names a context the kubeconfig does not have, and the contexts it has", async () => {
    const out = await cli(["status", "--stack", "cluster", "--project-dir", dir, "--context", "prod-east"]);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(
      `mysql-ha status: kubeconfig has no context 'prod-east' (contexts: admin, operator, viewer, reader, agent, backups) (kubeconfig from ${dir}/Pulumi.cluster.yaml's kubernetes:kubeconfig)\n`,
    );
  }, 60000);

  it("says which verb on which resource in which namespace RBAC refused (403), and reports refused port-forwards", async () => {
    const noSecret = await cli([
      "status",
      "--stack",
      "cluster",
      "--project-dir",
      dir,
      "--context",
      "viewer",
      "--kubeconfig",
      kubeconfig,
    ]);
    expect(noSecret.code).toBe(1);
    expect(noSecret.stdout).toBe("");
    expect(noSecret.stderr).toBe(
      `mysql-ha status: cannot get secrets ${NAMES.secret} in namespace ${NAMESPACE}: 403 Forbidden: secrets "${NAMES.secret}" is forbidden: ` +
        `User "viewer" cannot get resource "secrets" in API group "" in the namespace "${NAMESPACE}". The user of context 'viewer' needs a Role in ` +
        `${NAMESPACE} allowing verb 'get' on 'secrets' (resourceNames: ${NAMES.secret}): README, "Cluster mode"\n`,
    );

    const noForward = await cli(["status", "--stack", "cluster", "--project-dir", dir, "--context", "reader"]);
    expect(noForward.code).toBe(1);
    expect(noForward.stdout).toMatch(/NOT healthy; no primary/);
    for (const i of [0, 1, 2]) {
      expect(noForward.stderr).toContain(
        `mysql-ha status: mysql-${i}: port-forward refused (403 Forbidden): the kubeconfig's user lacks verbs get and create on pods/portforward in namespace ${NAMESPACE}\n`,
      );
    }
  }, 60000);

  it("refuses --stack with --members, and flags the stack gives itself", async () => {
    const both = await cli(["status", "--stack", "cluster", "--project-dir", dir, "--members", "127.0.0.1:3306"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe(
      "mysql-ha status: --stack and --members exclude each other: --stack reaches the stack's pods through the Kubernetes API, --members servers at fixed addresses\n",
    );
    const password = await cli([
      "switchover",
      "--stack",
      "cluster",
      "--project-dir",
      dir,
      "--to",
      "1",
      "--password-file",
      "/dev/null",
    ]);
    expect(password.code).toBe(2);
    expect(password.stderr).toBe(
      "mysql-ha switchover: --password-file does not go with --stack: the passwords come from the stack's Secret\n",
    );
    const agent = await cli(["agent", "--stack", "cluster", "--project-dir", dir, "--lease", "other"]);
    expect(agent.code).toBe(2);
    expect(agent.stderr).toBe(
      "mysql-ha agent: --lease does not go with --stack: the stack names its members, Lease and objects\n",
    );
    // Encrypted values: the stack's kubeconfig needs --kubeconfig then; another provider's secret is not needed.
    fs.writeFileSync(
      path.join(dir, "Pulumi.sealed.yaml"),
      fs
        .readFileSync(path.join(dir, "Pulumi.cluster.yaml"), "utf8")
        .replace(/kubernetes:kubeconfig: .*/, "kubernetes:kubeconfig:\n    secure: v1:c2VhbGVk") +
        "  aws:secretKey:\n    secure: v1:c2VhbGVk\n",
    );
    const sealed = await cli(["status", "--stack", "sealed", "--project-dir", dir]);
    expect(sealed.code).toBe(2);
    expect(sealed.stderr).toBe(
      `mysql-ha status: --stack sealed: ${dir}/Pulumi.sealed.yaml: kubernetes:kubeconfig is encrypted (secure), which this command cannot decrypt: give the kubeconfig with --kubeconfig FILE\n`,
    );
    const given = await cli(["status", "--stack", "sealed", "--project-dir", dir, "--kubeconfig", kubeconfig]);
    expect(given.stderr).toBe("");
    expect(given.code).toBe(0);
    fs.rmSync(path.join(dir, "Pulumi.sealed.yaml"));

    const missing = await cli(["status", "--stack", "nope", "--project-dir", dir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /^mysql-ha status: --stack nope: no stack 'nope': .*Pulumi\.nope\.yaml does not exist \(stacks here: cluster\)\n$/,
    );
  }, 60000);

  it("runs the agent here with the README's agent rules: the stack's Lease, the members through port-forwards", async () => {
    const agent = spawnAgent(
      [
        "--stack",
        "cluster",
        "--project-dir",
        dir,
        "--context",
        "agent",
        "--interval-ms",
        "300",
        "--lease-seconds",
        "3",
      ],
      { env: cleanEnv() },
    );
    try {
      await agent.events.wait("leader", (e) => e.event === "leader" && e.leading === true, 30000);
      expect(agent.events.of("leader")[0]).toMatchObject({ lease: `${NAMESPACE}/mysql-agent` });
      await agent.events.wait("healthy", (e) => e.event === "healthy" && e.primary === 2, 30000);
      expect(api!.lease("mysql-agent").spec.holderIdentity).toBe(agent.events.of("leader")[0].identity);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
    expect(agent.events.of("stopped")).toHaveLength(1);
    expect(agent.stderr()).toBe("");
    expect(agent.stdout()).not.toContain(LOCAL_ROOT_PASSWORD);
  }, 90000);

  it("fails over when the primary is gone; the write endpoint and the move record follow", async () => {
    await servers[2].signal("SIGKILL");
    const out = await cli(["failover", "--stack", "cluster", "--project-dir", dir]);
    expect(out.code).toBe(0);
    const promoted = Number(/failover: done; primary is member (\d)/.exec(out.stdout)?.[1]);
    expect([0, 1]).toContain(promoted);
    expect(api!.configMaps.get(NAMES.topology)?.[TOPOLOGY_PRIMARY_KEY]).toBe(String(promoted));
    expect(JSON.parse(api!.configMaps.get(NAMES.topology)![TOPOLOGY_MOVE_KEY])).toMatchObject({
      to: promoted,
      by: "mysql-ha failover",
      operation: "failover",
    });
    expect(api!.serviceEndpoints(NAMES.primaryService)).toEqual([`mysql-${promoted}`]);
  }, 90000);

  it("lists the stack's backups: location from its CronJob, S3 keys and signing key from its Secrets", async () => {
    const s3 = await startLocalS3(["backups"]);
    try {
      const url = "s3://backups/backup/mysql";
      const config = await applyBackupObjects(api!, s3, url, { ...STACK_CONFIG, "mysql-ha:tls": "off" });
      fs.writeFileSync(path.join(dir, "Pulumi.backup.yaml"), configYaml(config));
      // A backup signed with the stack's key, made as the CronJob would.
      const made = await cli(
        [
          "backup",
          "--members",
          servers[0].address,
          "--datadir",
          servers[0].datadir,
          "--to",
          url,
          "--endpoint",
          s3.endpoint,
        ],
        { ...s3.env(), MYSQL_HA_PASSWORD: LOCAL_ROOT_PASSWORD, MYSQL_HA_BACKUP_SIGNING_KEY: SIGNING_KEY },
      );
      expect({ code: made.code, stderr: made.code ? made.stderr : "" }).toEqual({ code: 0, stderr: "" });

      // A stack's backups, listed by the user of context backups (the backups command's rules).
      const backupsOf = (stack: string, ...more: string[]) =>
        cli([
          "backups",
          "--stack",
          stack,
          "--project-dir",
          dir,
          "--kubeconfig",
          kubeconfig,
          "--context",
          "backups",
          ...more,
        ]);
      const listed = await backupsOf("backup", "--json");
      expect(listed.stderr).toBe("");
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout)).toEqual([
        expect.objectContaining({
          timestamp: made.stdout.trim().split("/").pop(),
          complete: true,
          signature: "verified",
        }),
      ]);
      expect(listed.stdout).not.toContain(SIGNING_KEY);

      const off = await backupsOf("cluster");
      expect(off.code).toBe(2);
      expect(off.stderr).toBe(
        "mysql-ha backups: stack cluster has backupEnabled false: it makes no backups (give --from s3://bucket/prefix)\n",
      );
    } finally {
      await s3.stop();
    }
  }, 120000);
});

describe("mysql-ha --stack with TLS on: the CA comes from the stack's TLS Secret", () => {
  const network = new PodNetwork();
  let servers: LocalServer[] = [];
  let api: KubeApiStandin | undefined;
  let dir: string | undefined;
  let ca: TestCa;
  let other: TestCa;
  let certs: Array<{ cert: string; key: string }>;

  const applyTlsSecret = async (authority: TestCa) => {
    const secret = buildTlsSecret({
      name: "mysql",
      names: NAMES,
      settings: { namespace: NAMESPACE },
      ca: authority.ca,
      members: certs.map((c) => ({ cert: fs.readFileSync(c.cert, "utf8"), key: fs.readFileSync(c.key, "utf8") })),
    });
    expect((await api!.serverSideApply("secrets", secret as never)).code).toBeLessThan(300);
  };

  beforeAll(async () => {
    ca = await makeCa("cluster");
    other = await makeCa("other");
    certs = [];
    for (let i = 0; i < 3; i++)
      certs.push(await ca.issue(`mysql-${i}`, `mysql-${i}.${NAMES.headlessService}.${NAMESPACE}.svc`));
    // Members that accept nothing but TLS.
    servers = await startMembers(
      network,
      (i) => ({
        "ssl-ca": ca.caPath,
        "ssl-cert": certs[i].cert,
        "ssl-key": certs[i].key,
        "require-secure-transport": 1,
      }),
      ca.ca,
    );
    api = await startApi(network, {
      "backup-token": { name: "backup", rules: clusterRoleRules("backup", settingsOf(STACK_CONFIG)) },
    });
    dir = project("tls", STACK_CONFIG);
    fs.appendFileSync(
      path.join(dir, "Pulumi.tls.yaml"),
      `  kubernetes:kubeconfig: ${JSON.stringify(writeKubeconfig(dir, api, { admin: "standin-token", backup: "backup-token" }))}\n`,
    );
  }, 120000);
  afterAll(async () => {
    await api?.stop();
    await destroyAll(servers);
    network.close();
    ca?.remove();
    other?.remove();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("verifies every member by its DNS name against the CA in mysql-tls, and refuses them when that CA did not sign them", async () => {
    await applyTlsSecret(ca);
    const good = await cli(["status", "--stack", "tls", "--project-dir", dir!, "--json"]);
    // Not replicating yet (three writable members): unhealthy, but every member answered over verified TLS.
    expect(good.code).toBe(1);
    const members = JSON.parse(good.stdout).members as Array<{ reachable: boolean; tls: boolean }>;
    expect(members.map((m) => [m.reachable, m.tls])).toEqual([
      [true, true],
      [true, true],
      [true, true],
    ]);
    expect(api!.requests).toContain(`GET /api/v1/namespaces/${NAMESPACE}/secrets/mysql-tls`);

    // The cluster's CA is what counts: another CA there makes every member unreachable with the reason.
    await applyTlsSecret(other);
    const wrong = await cli(["status", "--stack", "tls", "--project-dir", dir!]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(
      /member 0 \(127\.0\.0\.1:\d+\) is unreachable: TLS: the member's certificate did not verify as 'mysql-0\.mysql-headless\.db\.svc' against the configured CA/,
    );
    // --tls-ca overrides it.
    const given = await cli(["status", "--stack", "tls", "--project-dir", dir!, "--tls-ca", ca.caPath, "--json"]);
    expect((JSON.parse(given.stdout).members as Array<{ tls: boolean }>).map((m) => m.tls)).toEqual([true, true, true]);
  }, 120000);

  it("backs up a member from its donor port through a port-forward, verified by its DNS name against the CA in mysql-tls, with exactly the README's rules for backup; another CA there is refused before the token is sent", async () => {
    const s3 = await startLocalS3(["backups"]);
    // Pod mysql-2's donor sidecar on its own address, serving with its certificate (the TLS Secret's pair).
    const tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-cluster-donor-"));
    fs.copyFileSync(certs[2].cert, path.join(tlsDir, "member-2.crt"));
    fs.copyFileSync(certs[2].key, path.join(tlsDir, "member-2.key"));
    const donor = await startDonor(servers[2], "clone-token", DONOR_PORT, { TLS_DIR: tlsDir, POD_NAME: "mysql-2" });
    try {
      const url = "s3://backups/tlsbackup/mysql";
      const config = await applyBackupObjects(api!, s3, url, STACK_CONFIG);
      const stackFile = fs
        .readFileSync(path.join(dir!, "Pulumi.tls.yaml"), "utf8")
        .split("\n")
        .find((l) => l.includes("kubernetes:kubeconfig"))!;
      fs.writeFileSync(
        path.join(dir!, "Pulumi.tlsbackup.yaml"),
        `${configYaml(config)}${stackFile}\n  kubernetes:context: backup\n`,
      );
      const streams = () =>
        donor
          .log()
          .split("\n")
          .filter((l) => /streaming a backup/.test(l)).length;

      await applyTlsSecret(ca);
      const made = await cli(["backup", "--stack", "tlsbackup", "--project-dir", dir!, "--member", "2"]);
      expect({ code: made.code, stderr: made.code ? made.stderr : "" }).toEqual({ code: 0, stderr: "" });
      expect(made.stderr).toMatch(/complete and signed/);
      expect(made.stdout.trim()).toMatch(new RegExp(`^${url}/base/\\d{8}T\\d{6}Z$`));
      expect(api!.forwards.sessions).toContain(`${NAMESPACE}/mysql-2:${DONOR_PORT}`);
      expect(streams()).toBe(1);

      await applyTlsSecret(other);
      const refused = await cli(["backup", "--stack", "tlsbackup", "--project-dir", dir!, "--member", "2"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(
          `the donor 127\\.0\\.0\\.1:\\d+ is refused: its TLS certificate is not signed by the CA in \\S+ \\(it comes from another CA\\); the token was not sent`,
        ),
      );
      expect(streams()).toBe(1);
      for (const r of [made, refused]) expect(r.stdout + r.stderr).not.toMatch(/clone-token|cluster-signing-key/);
    } finally {
      await applyTlsSecret(ca);
      await donor.stop();
      await s3.stop();
      fs.rmSync(tlsDir, { recursive: true, force: true });
    }
  }, 120000);
});

describe("the README lists, per command, the Role rules cluster mode needs", () => {
  it("has each command's rules as clusterRoleRules makes them", () => {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("### Cluster mode"));
    const settings = settingsOf({ "mysql-ha:replicas": "3" });
    for (const command of CLUSTER_COMMANDS) {
      const row = section.split("\n").find((l) => l.startsWith(`| \`${command}\` |`));
      expect(row).toBe(`| \`${command}\` | ${clusterRoleRules(command, settings).map(describeRule).join("; ")} |`);
    }
  });
});
