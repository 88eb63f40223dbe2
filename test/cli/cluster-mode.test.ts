/**
 * Cluster mode (`--stack`): the commands find a stack's members through the Kubernetes API (the stand-in, with
 * authentication and RBAC), reach them through port-forwards and read the passwords from the stack's Secret. The
 * members are real mariadbd processes in a pod network where the headless Service's names resolve, as in a cluster.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CLUSTER_COMMANDS, clusterRoleRules, describeRule, RoleRule } from "../../cli/cluster-rbac";
import { validateConfig } from "../../components/config";
import { TOPOLOGY_MOVE_KEY } from "../../components/connectors/primary-objects";
import { objectNames, ROLE_LABEL } from "../../components/kubernetes/names";
import { ACCOUNT_ROLES } from "../../components/replication";
import { buildCredentialsSecret } from "../../components/kubernetes/secret";
import { TOPOLOGY_PRIMARY_KEY } from "../../components/kubernetes/topology";
import { KubeApiStandin } from "../../local/kube-api-standin";
import { destroyAll, LOCAL_ROOT_PASSWORD, LocalServer, REPLICATION_OPTIONS, startServer } from "../../local/mariadbd";
import { PodNetwork } from "../../local/pod-network";
import { applyProgramObjects, memberStandin, roleLabels } from "../connectors/program-objects";

const ROOT = path.resolve(__dirname, "../..");
const BIN = path.join(ROOT, "bin", "mysql-ha.js");
const NAMESPACE = "db";
const NAMES = objectNames("mysql");
const REPLICATION_PASSWORD = "cluster-repl-pw-5t7";
const SIGNING_KEY = "cluster-signing-key-9q2";

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // No credentials in the environment: cluster mode must find them in the Secret.
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MYSQL_HA_") && k !== "KUBECONFIG"));
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...clean, HOME: os.tmpdir(), ...env }, timeout: 90000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A project directory with the repository's Pulumi.yaml and one stack file. */
function project(stack: string, config: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-cluster-project-"));
  fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
  const lines = Object.entries(config).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);
  fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), `config:\n${lines.join("\n")}\n`);
  return dir;
}

const STACK_CONFIG = {
  "mysql-ha:replicas": "3",
  "mysql-ha:namespace": NAMESPACE,
  "mysql-ha:createNamespace": "false",
  "mysql-ha:backupEnabled": "false",
};

const settingsOf = (config: Record<string, string>) => validateConfig(Object.fromEntries(Object.entries(config).map(([k, v]) => [k.replace(/^mysql-ha:/, ""), v]))).settings!;

/** Members of StatefulSet `mysql` in namespace db: mariadbd on port 3306 of each pod's address, named as in the cluster. */
async function startMembers(network: PodNetwork, options: (i: number) => Record<string, string | number | boolean> = () => ({})): Promise<LocalServer[]> {
  const servers: LocalServer[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      network.add(`mysql-${i}.${NAMES.headlessService}.${NAMESPACE}.svc`, network.address(i));
      servers.push(await startServer({ serverId: 1000 + i, port: 3306, host: network.address(i), wrap: network.wrap.bind(network), options: { ...REPLICATION_OPTIONS, ...options(i) } }));
    }
  } catch (err) {
    await destroyAll(servers);
    throw err;
  }
  return servers;
}

const ALL: RoleRule = { apiGroups: ["*"], resources: ["*"], verbs: ["*"] };

/** The stand-in with the program's objects and Secret, users by token, each pod's port-forward to its member. */
async function startApi(network: PodNetwork, users: Record<string, { name: string; rules: RoleRule[] }>): Promise<KubeApiStandin> {
  const api = memberStandin({ namespace: NAMESPACE, portForward: (i) => ({ host: network.address(i), port: 3306 }), users: { "standin-token": { name: "pulumi", rules: [ALL] }, ...users } });
  await api.start();
  await applyProgramObjects(api);
  const accounts = Object.fromEntries(ACCOUNT_ROLES.map((r) => [r, `${r}-pw`])) as Record<(typeof ACCOUNT_ROLES)[number], string>;
  const secret = buildCredentialsSecret({
    name: "mysql", names: NAMES, settings: { namespace: NAMESPACE },
    passwords: { root: LOCAL_ROOT_PASSWORD, replication: REPLICATION_PASSWORD, app: "app-pw" }, accountPasswords: accounts, backupSigningKey: SIGNING_KEY, cloneToken: "clone-token",
  });
  const applied = await api.serverSideApply("secrets", secret as never);
  if (applied.code >= 300) throw new Error(`applying the Secret: ${applied.code} ${applied.body.message}`);
  return api;
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
      "viewer-token": { name: "viewer", rules: clusterRoleRules("status", settings).filter((r) => !r.resources.includes("secrets")) },
      // Everything but port-forward.
      "reader-token": { name: "reader", rules: clusterRoleRules("status", settings).filter((r) => !r.resources.includes("pods/portforward")) },
    });
    dir = project("cluster", { ...STACK_CONFIG, "mysql-ha:tls": "off" });
    kubeconfig = writeKubeconfig(dir, api, { admin: "standin-token", operator: "operator-token", viewer: "viewer-token", reader: "reader-token" });
    // The stack names the cluster as the Kubernetes provider reads it.
    fs.appendFileSync(path.join(dir, "Pulumi.cluster.yaml"), `  kubernetes:kubeconfig: ${JSON.stringify(kubeconfig)}\n  kubernetes:context: operator\n`);
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
    expect(json.members.map((m: { role: string; sourceIndex: number | null }) => [m.role, m.sourceIndex])).toEqual([["primary", null], ["replica", 0], ["replica", 0]]);
    // Replicas stream from their source by its pod DNS name; the engine came through the port-forwards as operator.
    const [source] = await servers[1].query<{ Master_Host: string; Master_Port: number }>("SHOW SLAVE STATUS");
    expect(`${source.Master_Host}:${source.Master_Port}`).toBe(`mysql-0.${NAMES.headlessService}.${NAMESPACE}.svc:3306`);
    expect(api!.forwards.sessions).toEqual(expect.arrayContaining([0, 1, 2].map((i) => `${NAMESPACE}/mysql-${i}:3306`)));
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
    expect(JSON.parse(api!.configMaps.get(NAMES.topology)![TOPOLOGY_MOVE_KEY])).toMatchObject({ from: 0, to: 2, by: "mysql-ha switchover", operation: "switchover" });
    expect(roleLabels(api!)).toEqual({ "mysql-0": "replica", "mysql-1": "replica", "mysql-2": "primary" });
    expect(api!.serviceEndpoints(NAMES.primaryService)).toEqual(["mysql-2"]);
    expect(api!.podLabels(2)?.[ROLE_LABEL]).toBe("primary");
  }, 120000);

  it("names a context the kubeconfig does not have, and the contexts it has", async () => {
    const out = await cli(["status", "--stack", "cluster", "--project-dir", dir, "--context", "prod-east"]);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(`mysql-ha status: kubeconfig has no context 'prod-east' (contexts: admin, operator, viewer, reader) (kubeconfig from ${dir}/Pulumi.cluster.yaml's kubernetes:kubeconfig)\n`);
  }, 60000);

  it("says which verb on which resource in which namespace RBAC refused (403), and reports refused port-forwards", async () => {
    const noSecret = await cli(["status", "--stack", "cluster", "--project-dir", dir, "--context", "viewer", "--kubeconfig", kubeconfig]);
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
      expect(noForward.stderr).toContain(`mysql-ha status: mysql-${i}: port-forward refused (403 Forbidden): the kubeconfig's user lacks verbs get and create on pods/portforward in namespace ${NAMESPACE}\n`);
    }
  }, 60000);

  it("refuses --stack with --members, and flags the stack gives itself", async () => {
    const both = await cli(["status", "--stack", "cluster", "--project-dir", dir, "--members", "127.0.0.1:3306"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe("mysql-ha status: --stack and --members exclude each other: --stack reaches the stack's pods through the Kubernetes API, --members servers at fixed addresses\n");
    const password = await cli(["switchover", "--stack", "cluster", "--project-dir", dir, "--to", "1", "--password-file", "/dev/null"]);
    expect(password.code).toBe(2);
    expect(password.stderr).toBe("mysql-ha switchover: --password-file does not go with --stack: the passwords come from the stack's Secret\n");
    const agent = await cli(["agent", "--stack", "cluster", "--project-dir", dir, "--lease", "other"]);
    expect(agent.code).toBe(2);
    expect(agent.stderr).toBe("mysql-ha agent: --lease does not go with --stack: the stack names its members, Lease and objects\n");
    const missing = await cli(["status", "--stack", "nope", "--project-dir", dir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^mysql-ha status: --stack nope: no stack 'nope': .*Pulumi\.nope\.yaml does not exist \(stacks here: cluster\)\n$/);
  }, 60000);
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
