/**
 * `pulumi up` of the real program against local members, without the Pulumi CLI or a cluster:
 * - the program (index.ts) is evaluated by local/render.ts under Pulumi mocks; Kubernetes and AWS resources are only
 *   rendered;
 * - the dynamic resources (PrimaryPlacement, ReplicationTopology) run for real, serialized, in the dynamic provider
 *   host process (local/dynamic-host.ts), which keeps their state from one `up` to the next like a state file;
 * - the rendered StatefulSet is acted on by a stand-in controller: member N is a local mariadbd ("pod") on a port
 *   fixed up front (the `directMembers` of the stack), started with the rendered server config, its init script
 *   (init-server.sh, run for real) and what the image's entrypoint does on an empty datadir (accounts from the
 *   rendered Secret, binlog off). A member added later is seeded by cloning a peer (clone-serve.sh / clone.sh), as
 *   design.md §4 has a new pod do. Crashed members are not restarted: a killed member stands for a lost node.
 * - the Kubernetes API the RollingUpgrade provider restarts pods through is local/kube-api-standin.ts, backed by the
 *   same pods: the StatefulSet's template revision is its server-config hash annotation, and a deleted pod comes back
 *   as its local mariadbd restarted with the newly rendered server config. The program only hands RollingUpgrade a
 *   restarter with the kubernetes connector; the demo (direct connector) hands it the stand-in's, as a cluster would.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { PRIMARY_PLACEMENT_TYPE, REPLICATION_TOPOLOGY_TYPE, ROLLING_UPGRADE_TYPE, SECRET_PROPERTIES } from "../../components/providers";
import { SECRET_KEYS, REPLICATION_USER } from "../../components/kubernetes/secret";
import { CONFIG_KEYS } from "../../components/config";
import { SERVER_CNF } from "../../components/kubernetes/server-config";
import { CONFIG_HASH_ANNOTATION, parseCnf } from "../../components/upgrade/config-hash";
import { normalizeOptionName } from "../../components/upgrade/server-options";
import { runScript, seedFromPeer, startDonor } from "../backup";
import { DynamicHost } from "../dynamic-host";
import { KubeApiStandin } from "../kube-api-standin";
import { freePort, LocalServer, LOCAL_ROOT_USER, ServerOptions, startServer } from "../mariadbd";
import { MockResourceArgs, MockResult, renderStack, RenderedStack } from "../render";

const SIG_KEY = "4dabf18193072939515e22adb298388d";
/** The topology ConfigMap the restarter patches after a switchover (the stand-in keeps it in memory). */
const TOPOLOGY_CONFIGMAP = "topology";
const RESOURCE_NAMES: Record<string, string> = {
  [PRIMARY_PLACEMENT_TYPE]: "PrimaryPlacement",
  [REPLICATION_TOPOLOGY_TYPE]: "ReplicationTopology",
  [ROLLING_UPGRADE_TYPE]: "RollingUpgrade",
};
/** Options the local harness sets itself (addresses, paths); the rendered config's values for them do not apply. */
const HARNESS_OPTIONS = new Set(["bind_address", "server_id", "port", "socket", "datadir"]);

/** What one dynamic resource said during a preview or an up. */
export interface ResourceReport {
  /** "PrimaryPlacement", "ReplicationTopology" or "RollingUpgrade". */
  resource: string;
  op: "create" | "update" | "same";
  /** The provider's plan in words: what up will do (preview) or did (up). */
  plan: string;
  outputs: Record<string, any>;
}

export interface UpResult {
  rendered: RenderedStack;
  resources: ResourceReport[];
  /** ReplicationTopology's outputs after the run. */
  topology: Record<string, any>;
}

export interface LocalStackOptions {
  /** Stack whose Pulumi.<stack>.yaml is the base config (default dev). */
  stack?: string;
  /** Most members the scenario will ask for: their ports are reserved up front (directMembers). */
  maxMembers: number;
  /** Progress lines (pods starting, clones). */
  log?: (line: string) => void;
  /** Diagnostic lines of the dynamic provider host (the providers' own log). */
  providerLog?: (line: string) => void;
}

function unwrap(value: any): any {
  return value && typeof value === "object" && value[SIG_KEY] !== undefined ? unwrap(value.value) : value;
}

/** Parses `[section]` option files (key = value) into server options; later files win. */
export function parseOptionFiles(texts: string[]): ServerOptions {
  const options: ServerOptions = {};
  for (const text of texts) for (const [name, value] of Object.entries(parseCnf(text))) options[normalizeOptionName(name)] = value;
  return options;
}

export class LocalStack {
  /** Member N listens on ports[N] (and directMembers lists them), whether or not its pod runs yet. */
  readonly ports: number[];
  /** The pods by ordinal; undefined until the StatefulSet stand-in creates one. */
  readonly pods: Array<LocalServer | undefined> = [];
  readonly stack: string;
  private readonly passwords = new Map<string, string>();
  private secretData: Record<string, string> = {};
  private serverCnf = "";
  private topologyPrimary?: string;
  private readonly scratch: string;
  /** The pod API the RollingUpgrade provider talks to; made when the first StatefulSet is rendered. */
  private api?: KubeApiStandin;
  private statefulSetName = "";
  private serverIdBase = "1000";
  /** Restarts done through the pod API: which member, how long until it was back. */
  readonly restarts: Array<{ ordinal: number; ms: number }> = [];

  private constructor(
    private readonly host: DynamicHost,
    ports: number[],
    private readonly options: LocalStackOptions,
  ) {
    this.ports = ports;
    this.stack = options.stack ?? "dev";
    this.scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-demo-"));
  }

  static async start(options: LocalStackOptions): Promise<LocalStack> {
    const ports: number[] = [];
    while (ports.length < options.maxMembers) {
      const port = await freePort();
      if (!ports.includes(port)) ports.push(port);
    }
    const host = await DynamicHost.start({ log: options.providerLog });
    return new LocalStack(host, ports, options);
  }

  /**
   * `pulumi config` of the stack for `replicas` members: direct connector to the reserved ports. The "pods" run on
   * this machine, which has rclone, socat and zstd, so the backup containers' image is the database image itself.
   */
  config(replicas: number, extra: Record<string, string> = {}): Record<string, string> {
    return {
      replicas: String(replicas),
      backupImage: CONFIG_KEYS.image.default,
      connector: "direct",
      directMembers: JSON.stringify(this.ports.slice(0, replicas).map((p) => `127.0.0.1:${p}`)),
      ...extra,
    };
  }

  /** A password of the rendered Secret (root-password, app-password, replication-password). */
  secret(key: string): string {
    const value = this.secretData[key];
    if (!value) throw new Error(`the rendered Secret has no ${key} yet (run up first)`);
    return value;
  }

  /** Running pods with their ordinals. */
  running(): Array<{ ordinal: number; server: LocalServer }> {
    return this.pods.flatMap((server, ordinal) => (server?.running ? [{ ordinal, server }] : []));
  }

  /** `pulumi preview`: the providers' check and diff only, nothing touched. */
  preview(set: Record<string, string>): Promise<UpResult> {
    return this.run(set, true);
  }

  /** `pulumi up`. Throws with the program's or the providers' errors. */
  up(set: Record<string, string>): Promise<UpResult> {
    return this.run(set, false);
  }

  private async run(set: Record<string, string>, preview: boolean): Promise<UpResult> {
    const resources: ResourceReport[] = [];
    const failures: string[] = [];
    let topology: Record<string, any> = {};
    const onResource = async (r: MockResourceArgs): Promise<MockResult> => {
      const resource = RESOURCE_NAMES[r.type];
      if (resource) {
        const { __provider: provider, ...inputs } = r.inputs;
        if (r.type === ROLLING_UPGRADE_TYPE && this.api) {
          const { namespace, statefulSet } = this.api.options;
          Object.assign(inputs, { restarter: { kind: "kubernetes", namespace, statefulSet, topologyConfigMap: TOPOLOGY_CONFIGMAP }, kubeconfig: this.api.kubeconfig() });
        }
        const decl = { type: r.type, provider, inputs, secretOutputs: SECRET_PROPERTIES };
        let step;
        try {
          step = preview ? await this.host.preview(r.name, decl) : await this.host.up(r.name, decl);
        } catch (err) {
          // Reported after the evaluation: a rejected mock leaves the SDK waiting on the resource's outputs.
          failures.push(`${resource}: ${(err as Error).message}`);
          return { id: `${r.name}-id`, state: { ...inputs, ...(this.host.outputs(r.name) ?? {}), plan: "failed" } };
        }
        // Preview, or an up that changed nothing: the words check computed for this run; otherwise what the run did.
        const plan = String((preview || step.op === "same" ? step.inputs.plan : step.outputs.plan) ?? "");
        resources.push({ resource, op: step.op, plan, outputs: step.outputs });
        if (r.type === REPLICATION_TOPOLOGY_TYPE) topology = step.outputs;
        return { id: `${r.name}-id`, state: step.outputs };
      }
      switch (r.type) {
        case "random:index/randomPassword:RandomPassword": {
          // Generated once and kept, as the state file keeps a RandomPassword's result.
          if (!this.passwords.has(r.name)) this.passwords.set(r.name, randomBytes(18).toString("base64url").replace(/[-_]/g, "x"));
          return { id: r.name, state: { ...r.inputs, result: this.passwords.get(r.name) } };
        }
        case "kubernetes:core/v1:Secret":
          if (!preview) this.secretData = unwrap(r.inputs.stringData) ?? {};
          return undefined;
        case "kubernetes:core/v1:ConfigMap": {
          const data = unwrap(r.inputs.data) ?? {};
          if (!preview && data[SERVER_CNF] !== undefined) this.serverCnf = data[SERVER_CNF];
          if (!preview && data.primary !== undefined) {
            // Applying the ConfigMap overwrites what the restarter patched into it during an earlier rollout.
            this.topologyPrimary = String(data.primary);
            this.api?.configMaps.delete(TOPOLOGY_CONFIGMAP);
          }
          return undefined;
        }
        case "kubernetes:apps/v1:StatefulSet":
          if (!preview) await this.reconcile(r.inputs);
          return undefined;
        default:
          return undefined;
      }
    };
    const rendered = await renderStack({ stack: this.stack, set, onResource, preview });
    const errors = [...failures, ...rendered.errors];
    if (errors.length) throw new Error(`${preview ? "preview" : "up"} failed: ${errors.join("; ")}`);
    return { rendered, resources, topology };
  }

  /** The StatefulSet controller stand-in: creates missing pods up to spec.replicas, deletes pods beyond it. */
  private async reconcile(statefulSet: any): Promise<void> {
    const replicas = Number(statefulSet.spec.replicas);
    this.statefulSetName = String(statefulSet.metadata.name);
    const init = (statefulSet.spec.template.spec.initContainers ?? []).find((c: any) => c.name === "init-server");
    this.serverIdBase = init?.env?.find((e: any) => e.name === "SERVER_ID_BASE")?.value ?? "1000";
    const revision = String(statefulSet.spec.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION] ?? "");
    if (!this.api) {
      this.api = new KubeApiStandin({
        namespace: String(statefulSet.metadata.namespace ?? "default"),
        statefulSet: this.statefulSetName,
        replicas: 0,
        revision,
        recreateMs: 10,
        onRecreate: (ordinal) => this.restartPod(ordinal),
      });
      await this.api.start();
    }
    // OnDelete: a new template changes no running pod; pods made from now on carry it.
    if (revision !== this.api.currentTemplateRevision) this.api.setTemplateRevision(revision);
    for (let ordinal = this.pods.length - 1; ordinal >= replicas; ordinal--) {
      await this.pods[ordinal]?.destroy();
      this.pods.length = ordinal;
    }
    const missing = Array.from({ length: replicas }, (_, i) => i).filter((i) => !this.pods[i]);
    // The first pods start empty; a pod added to a running topology clones a peer first.
    const existing = this.running();
    const started = await Promise.allSettled(missing.map((ordinal) => this.startPod(ordinal, existing)));
    this.api.setReplicas(replicas);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
  }

  /** What the pod's init container makes of the rendered server config: its server_id and options. */
  private async podOptions(ordinal: number): Promise<{ serverId: number; options: ServerOptions }> {
    const podName = `${this.statefulSetName}-${ordinal}`;
    const dir = fs.mkdtempSync(path.join(this.scratch, `${podName}-`));
    const configDir = path.join(dir, "config");
    const confOut = path.join(dir, "conf.d");
    fs.mkdirSync(configDir);
    fs.writeFileSync(path.join(configDir, SERVER_CNF), this.serverCnf);
    const topologyFile = path.join(dir, "primary");
    // The restarter points the topology ConfigMap at a new primary after a rollout's switchover.
    const primary = this.api?.configMaps.get(TOPOLOGY_CONFIGMAP)?.primary ?? this.topologyPrimary;
    if (primary !== undefined) fs.writeFileSync(topologyFile, primary);
    const { stdout } = await runScript("init-server.sh", {
      POD_NAME: podName, SERVER_ID_BASE: this.serverIdBase, CONFIG_DIR: configDir, TOPOLOGY_FILE: topologyFile, CONF_OUT: confOut,
    });
    this.options.log?.(`pod ${podName}: ${stdout.trim().replace(/^init-server: \S+ /, "")}`);
    const options = parseOptionFiles(fs.readdirSync(confOut).sort().map((f) => fs.readFileSync(path.join(confOut, f), "utf8")));
    const serverId = Number(options.server_id);
    for (const key of HARNESS_OPTIONS) delete options[key];
    return { serverId, options };
  }

  /** A deleted pod's replacement: the same datadir, restarted with the current template's options. Ready = started. */
  private async restartPod(ordinal: number): Promise<boolean> {
    const pod = this.pods[ordinal];
    if (!pod) return false;
    const t0 = Date.now();
    try {
      await pod.stop();
      pod.spec.options = (await this.podOptions(ordinal)).options;
      await pod.start();
    } catch (err) {
      this.options.log?.(`pod ${this.statefulSetName}-${ordinal}: did not start: ${(err as Error).message}`);
      return false;
    }
    this.restarts.push({ ordinal, ms: Date.now() - t0 });
    return true;
  }

  private async startPod(ordinal: number, peers: Array<{ ordinal: number; server: LocalServer }>): Promise<void> {
    const podName = `${this.statefulSetName}-${ordinal}`;
    const { serverId, options } = await this.podOptions(ordinal);

    const donor = this.donorFor(peers);
    if (donor) {
      // An empty datadir joining a running topology: the clone init step copies a peer before mariadbd starts.
      const podDir = fs.mkdtempSync(path.join(os.tmpdir(), `mysql-ha-m${serverId}-`));
      const pod = new LocalServer(podDir, this.ports[ordinal], { serverId, options });
      pod.adminPassword = this.secret(SECRET_KEYS.root);
      this.pods[ordinal] = pod;
      const token = randomBytes(12).toString("hex");
      const sidecar = await startDonor(donor.server, token);
      const t0 = Date.now();
      try {
        const gtid = await seedFromPeer(pod, sidecar, token);
        const size = dirSize(pod.datadir);
        this.options.log?.(`pod ${podName}: cloned member ${donor.ordinal} (${(size / 1e6).toFixed(0)} MB in ${Date.now() - t0} ms) at GTID '${gtid}'`);
      } finally {
        await sidecar.stop();
      }
      this.clones.push({ ordinal, donor: donor.ordinal, ms: Date.now() - t0 });
      return;
    }
    const pod = await startServer({ serverId, options, port: this.ports[ordinal] });
    this.pods[ordinal] = pod;
    await this.entrypoint(pod);
    this.options.log?.(`pod ${podName}: started on ${pod.address}`);
  }

  /** Clones done by pods joining a running topology: which member, from which donor, how long. */
  readonly clones: Array<{ ordinal: number; donor: number; ms: number }> = [];

  /** A replica to copy (a primary only when there is no replica), or none for the first pods. */
  private donorFor(peers: Array<{ ordinal: number; server: LocalServer }>) {
    if (peers.length === 0) return undefined;
    return peers.find((p) => String(p.ordinal) !== this.topologyPrimary) ?? peers[0];
  }

  /**
   * What the official image's entrypoint does on first start of an empty datadir, from the Secret's values:
   * root with the generated password (also from any host), the application database (MARIADB_DATABASE, empty) and
   * user, the replication account; all with the binlog off, so none of it is a transaction of the topology (and the
   * engine counts only tables as user data, so the empty database does not stop a member joining).
   */
  private async entrypoint(pod: LocalServer): Promise<void> {
    const root = this.secret(SECRET_KEYS.root);
    const conn = await pod.connect();
    try {
      await conn.query("SET SESSION sql_log_bin = 0");
      for (const host of ["127.0.0.1", "localhost"]) await conn.query("ALTER USER ?@? IDENTIFIED BY ?", [LOCAL_ROOT_USER, host, root]);
      await conn.query("CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?", [LOCAL_ROOT_USER, root]);
      await conn.query("GRANT ALL PRIVILEGES ON *.* TO ?@'%' WITH GRANT OPTION", [LOCAL_ROOT_USER]);
      await conn.query(`CREATE DATABASE IF NOT EXISTS \`${this.appDatabase}\``);
      await conn.query("CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?", [this.appUser, this.secret(SECRET_KEYS.app)]);
      await conn.query(`GRANT ALL PRIVILEGES ON \`${this.appDatabase}\`.* TO ?@'%'`, [this.appUser]);
      await conn.query("CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?", [REPLICATION_USER, this.secret(SECRET_KEYS.replication)]);
      await conn.query("GRANT REPLICATION SLAVE ON *.* TO ?@'%'", [REPLICATION_USER]);
    } finally {
      await conn.end();
    }
    pod.adminPassword = root;
  }

  /** Application account and database (config appUser / appDatabase; the demo keeps the defaults). */
  readonly appUser = "app";
  readonly appDatabase = "app";

  /** The checkpoint the dynamic host keeps (secrets encrypted), as a state file would hold it. */
  checkpoint(): string {
    return this.host.checkpoint();
  }

  /** Stops the provider host; with `keepPods` the members keep running (the caller prints how to reach them). */
  async close(keepPods = false): Promise<void> {
    await this.host.stop();
    await this.api?.stop();
    if (!keepPods) await Promise.all(this.pods.map((p) => p?.destroy()));
    fs.rmSync(this.scratch, { recursive: true, force: true });
  }
}

function dirSize(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? dirSize(p) : fs.statSync(p).size;
  }
  return total;
}
