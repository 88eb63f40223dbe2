/**
 * `pulumi up` of the real program against local members, without the Pulumi CLI or a cluster:
 * - the program (index.ts) is evaluated by offline/render.ts under Pulumi mocks; Kubernetes and AWS resources are only
 *   rendered;
 * - the dynamic resources (PrimaryPlacement, ReplicationTopology) run for real, serialized, in the dynamic provider
 *   host process (local/dynamic-host.ts, in the pod network), which keeps their state from one `up` to the next like
 *   a state file; the program's @pulumi/tls resources are made for real (local/certificates.ts), so TLS is on;
 * - the Kubernetes API is local/kube-api-standin.ts: the rendered ConfigMaps and Services are applied to it with
 *   server-side apply under Pulumi's field manager, as the Kubernetes provider does; the providers get its kubeconfig
 *   and point the topology ConfigMap and the pods' role labels through it (as they would on a cluster); a starting
 *   pod reads the primary from the ConfigMap stored there, not from the program;
 * - the rendered StatefulSet is acted on by a stand-in controller: member N is a local mariadbd ("pod") on an address
 *   of its own (local/pod-network.ts: port 3306 as in the manifest; `directMembers` lists their DNS names), its headless-Service
 *   name resolving inside the pods' processes. Its init containers run as the kubelet would (runInitContainer:
 *   volumes, env and command from the rendered template): init-server.sh, then the rendered `seed` container
 *   (seed-member.sh: member 0 starts empty when no peer answers, member N > 0 clones member N-1 through that pod's
 *   donor sidecar on port 4444, restarted until the donor serves). A datadir the seed left empty then gets what the
 *   official image's entrypoint does (mariadb-docker docker_setup_db, then its initdb scripts). Each running pod
 *   runs its donor sidecar (clone-serve.sh with the sidecar's account and the Secret's token). Like Pulumi's
 *   StatefulSet await, an up goes on only once every pod passes the rendered readiness probe (run for real).
 *   Crashed members are not restarted: a killed member stands for a lost node.
 * - RollingUpgrade restarts pods through the same stand-in: the StatefulSet's template revision is its server-config
 *   hash annotation, and a deleted pod comes back as its local mariadbd restarted with the newly rendered server
 *   config. The program only hands RollingUpgrade a restarter with the kubernetes connector; the demo (direct
 *   connector) hands it the stand-in's, as a cluster would.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import * as mysql from "mysql2/promise";
import { promisify } from "node:util";
import {
  PRIMARY_PLACEMENT_TYPE,
  REPLICATION_TOPOLOGY_TYPE,
  ROLLING_UPGRADE_TYPE,
  SECRET_PROPERTIES,
} from "../../components/providers";
import { SECRET_KEYS } from "../../components/kubernetes/secret";
import { CONFIG_KEYS, PROJECT } from "../../components/config";
import { PATHS } from "../../components/kubernetes/statefulset";
import { DATABASE_NAME, memberHost, MYSQL_PORT, objectNames } from "../../components/kubernetes/names";
import { DONOR_PORT } from "../../components/kubernetes/names";
import { TOPOLOGY_PRIMARY_KEY } from "../../components/kubernetes/topology";
import { CONFIG_HASH_ANNOTATION } from "../../components/kubernetes/config-hash";
import { Donor, runScript, ScriptError, startDonor } from "../../cli/scripts";
import { PodNetwork } from "../pod-network";
import { projectVolume, resolveEnv } from "../kubelet";
import { LocalCertificates } from "../certificates";
import { DynamicHost } from "../dynamic-host";
import { KubeApiStandin } from "../kube-api-standin";
import { initializeDatadir, LocalServer, LOCAL_ROOT_USER, readOptionDir, ServerOptions, sleep } from "../mariadbd";
import { MockResourceArgs, MockResult, renderStack, RenderedStack, stackConfig } from "../../offline/render";

const execFileAsync = promisify(execFile);
/** How long an up waits for every pod to pass its readiness probe (Pulumi waits up to 10 minutes). */
const READY_TIMEOUT_MS = 60_000;
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
  return value && typeof value === "object" && value[specialSigKey] !== undefined ? unwrap(value.value) : value;
}

/** `unwrap` at every level of objects and arrays. */
function unwrapDeep(value: any): any {
  const v = unwrap(value);
  if (Array.isArray(v)) return v.map(unwrapDeep);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapDeep(x)]));
  return v;
}

export class LocalStack {
  /** The stack's @pulumi/tls resources, made for real (openssl) and kept as state keeps them. */
  private readonly certificates = new LocalCertificates();
  /** Member N's pod address, whether or not its pod runs yet. */
  readonly addresses: string[];
  /** The pods by ordinal; undefined until the StatefulSet stand-in creates one. */
  readonly pods: Array<LocalServer | undefined> = [];
  readonly stack: string;
  private readonly passwords = new Map<string, string>();
  /** The rendered Secrets by name (their stringData, and data decoded), as the API server would hold them. */
  private readonly secrets = new Map<string, Record<string, string>>();
  /** The objects that name the primary (the providers' primaryObjects input). */
  private primaryObjects?: { topologyConfigMap: string; primaryService: string };
  private readonly scratch: string;
  /** The Kubernetes API of the stack's namespace. */
  private readonly api: KubeApiStandin;
  private statefulSetName = "";
  /** The StatefulSet as last applied (a Pulumi diff against it decides whether an up touches it). */
  private appliedStatefulSet = "";
  /** The rendered pod template (what the kubelet stand-in runs). */
  private template: any;
  /** Restarts done through the pod API: which member, how long until it was back. */
  readonly restarts: Array<{ ordinal: number; ms: number }> = [];

  private constructor(
    private readonly host: DynamicHost,
    private readonly options: LocalStackOptions,
    api: KubeApiStandin,
    /** The pods' network: member N's address (port 3306) and the cluster's DNS names of the pods. */
    readonly network: PodNetwork,
  ) {
    this.api = api;
    // A pod deleted through the API comes back as its local mariadbd restarted.
    api.options.onRecreate = (ordinal) => this.restartPod(ordinal);
    this.addresses = Array.from({ length: options.maxMembers }, (_, ordinal) => this.network.address(ordinal));
    this.stack = options.stack ?? "dev";
    this.scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-demo-"));
  }

  static async start(options: LocalStackOptions): Promise<LocalStack> {
    // The providers reach the members by their DNS names (the names in their certificates), as in a cluster.
    const network = new PodNetwork();
    const host = await DynamicHost.start({ log: options.providerLog, fork: network.forkOptions() });
    const stack = options.stack ?? "dev";
    const api = new KubeApiStandin({
      namespace: stackConfig(stack)[`${PROJECT}:namespace`] ?? CONFIG_KEYS.namespace.default,
      statefulSet: "",
      replicas: 0,
      revision: "",
      recreateMs: 10,
      createOnPatch: false,
    });
    await api.start();
    return new LocalStack(host, options, api, network);
  }

  /**
   * `pulumi config` of the stack for `replicas` members: direct connector to the reserved ports, and the cluster of
   * the Kubernetes provider (kubernetes:kubeconfig) the API stand-in. The "pods" run on this machine, which has
   * rclone, socat and zstd, so the backup containers' image is the database image itself.
   */
  config(replicas: number, extra: Record<string, string> = {}): Record<string, string> {
    return {
      "kubernetes:kubeconfig": this.api.kubeconfig(),
      replicas: String(replicas),
      backupImage: CONFIG_KEYS.image.default,
      connector: "direct",
      // By the DNS names their certificates carry (resolvable in the pod network, where the providers run).
      directMembers: JSON.stringify(
        Array.from({ length: replicas }, (_, ordinal) => `${this.podHostName(ordinal)}:${MYSQL_PORT}`),
      ),
      ...extra,
    };
  }

  /** A password of the rendered Secret (root-password, app-password, replication-password). */
  secret(key: string): string {
    const value = [...this.secrets.values()].find((data) => data[key] !== undefined)?.[key];
    if (!value) throw new Error(`the rendered Secret has no ${key} yet (run up first)`);
    return value;
  }

  /** The Kubernetes API stand-in of the stack (its URL, namespace, and the objects it holds). */
  kubernetesApi(): KubeApiStandin {
    return this.api;
  }

  /** Names of the StatefulSet and of the objects that name the primary, as the program gave them to the providers. */
  primaryObjectNames(): { statefulSet: string; topologyConfigMap: string; primaryService: string } {
    if (!this.primaryObjects) throw new Error("no up has run yet");
    return { statefulSet: this.statefulSetName, ...this.primaryObjects };
  }

  /**
   * The pods the primary Service selects by their role labels (comma-separated; undefined for none) and the ordinal
   * the topology ConfigMap names, as the API holds them.
   */
  primaryPointers(): { service?: string; configMap?: string } {
    const objects = this.primaryObjects;
    if (!objects) return {};
    return {
      service: this.api.serviceEndpoints(objects.primaryService).join(", ") || undefined,
      configMap: this.api.configMaps.get(objects.topologyConfigMap)?.[TOPOLOGY_PRIMARY_KEY],
    };
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
        const objects = inputs.primaryObjects;
        if (!objects) throw new Error(`${resource}: the program gave it no primaryObjects`);
        this.primaryObjects = objects;
        // The members' CA file: one local file for every pod here (a path in each container on a cluster).
        if (inputs.tls) inputs.tls = { ...inputs.tls, caPath: this.memberCaFile() };
        if (r.type === ROLLING_UPGRADE_TYPE) {
          inputs.restarter = {
            kind: "kubernetes",
            namespace: objects.namespace,
            statefulSet: objects.statefulSet,
            topologyConfigMap: objects.topologyConfigMap,
            primaryService: objects.primaryService,
          };
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
      const tls = await this.certificates.outputs(r.type, r.name, unwrapDeep(r.inputs));
      if (tls) return { id: r.name, state: { ...r.inputs, ...tls } };
      switch (r.type) {
        case "random:index/randomPassword:RandomPassword": {
          // Generated once and kept, as the state file keeps a RandomPassword's result.
          if (!this.passwords.has(r.name))
            this.passwords.set(r.name, randomBytes(18).toString("base64url").replace(/[-_]/g, "x"));
          return { id: r.name, state: { ...r.inputs, result: this.passwords.get(r.name) } };
        }
        case "kubernetes:core/v1:Secret":
          if (!preview) {
            const values = (field: unknown) =>
              Object.entries<string>(unwrap(field) ?? {}).map(([k, v]) => [k, String(unwrap(v))] as const);
            const data = values(r.inputs.data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]);
            const secret = Object.fromEntries([...data, ...values(r.inputs.stringData)]);
            this.secrets.set(String(unwrap(r.inputs.metadata).name), secret);
            if (secret["ca.crt"]) fs.writeFileSync(this.memberCaFile(), secret["ca.crt"]);
          }
          return undefined;
        case "kubernetes:core/v1:ConfigMap":
        case "kubernetes:core/v1:Service": {
          if (preview) return undefined;
          const applied = await this.api.serverSideApply(
            r.type === "kubernetes:core/v1:Service" ? "services" : "configmaps",
            unwrap(r.inputs),
          );
          if (applied.code >= 300)
            throw new Error(`applying ${r.type} ${r.name}: ${applied.code} ${applied.body.message}`);
          return undefined;
        }
        case "kubernetes:apps/v1:StatefulSet": {
          // Pulumi updates (and awaits) the StatefulSet only when its inputs changed.
          const applied = JSON.stringify(r.inputs);
          if (!preview && applied !== this.appliedStatefulSet) {
            await this.reconcile(r.inputs);
            this.appliedStatefulSet = applied;
          }
          return undefined;
        }
        default:
          return undefined;
      }
    };
    const rendered = await renderStack({ stack: this.stack, set, onResource, preview });
    const errors = [...failures, ...rendered.errors];
    if (errors.length) throw new Error(`${preview ? "preview" : "up"} failed: ${errors.join("; ")}`);
    return { rendered, resources, topology };
  }

  /**
   * The StatefulSet controller stand-in: creates missing pods up to spec.replicas, deletes pods beyond it; then,
   * as Pulumi's await does, waits until every pod passes its readiness probe.
   */
  private async reconcile(statefulSet: any): Promise<void> {
    const replicas = Number(statefulSet.spec.replicas);
    this.statefulSetName = String(statefulSet.metadata.name);
    const api = this.api;
    api.options.statefulSet = this.statefulSetName;
    api.options.podManagementPolicy = statefulSet.spec.podManagementPolicy;
    // New pods carry the template's labels (the members' selector, no role label).
    api.options.podLabels = statefulSet.spec.template.metadata?.labels;
    this.template = statefulSet.spec.template;
    const revision = String(statefulSet.spec.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION] ?? "");
    // OnDelete: a new template changes no running pod; pods made from now on carry it.
    if (revision !== api.currentTemplateRevision) api.setTemplateRevision(revision);
    for (let ordinal = this.pods.length - 1; ordinal >= replicas; ordinal--) {
      await this.destroyPod(ordinal);
      this.pods.length = ordinal;
    }
    // Parallel: every missing pod starts at once; a seeding pod's init container fails until its donor (member N-1)
    // serves, and the kubelet runs it again.
    const missing = Array.from({ length: replicas }, (_, i) => i).filter((i) => !this.pods[i]);
    const settled = await Promise.allSettled(missing.map((ordinal) => this.startPod(ordinal)));
    api.setReplicas(replicas);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
    await this.awaitReady(replicas);
  }

  /** Pulumi's StatefulSet await: every pod Ready (its rendered readiness probe passes), or the up fails saying why. */
  private async awaitReady(replicas: number): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const probes = await Promise.all(Array.from({ length: replicas }, (_, ordinal) => this.readiness(ordinal)));
      const unready = probes.flatMap((p, ordinal) => (p.ready ? [] : [`${this.statefulSetName}-${ordinal}: ${p.why}`]));
      if (unready.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `StatefulSet ${this.statefulSetName}: ${replicas - unready.length}/${replicas} pods ready after ${READY_TIMEOUT_MS / 1000} s (${unready.join("; ")})`,
        );
      }
      await sleep(500);
    }
  }

  /** The pod's rendered readiness probe, run for real against its server. */
  private async readiness(ordinal: number): Promise<{ ready: boolean; why: string }> {
    const pod = this.pods[ordinal];
    if (!pod?.running) return { ready: false, why: "not running" };
    try {
      // The probe's environment is the database container's (its account, the lag limit); the pod's loopback is
      // the local server's address.
      const env = this.containerEnv(this.container("mariadb"), `${this.statefulSetName}-${ordinal}`);
      const { stdout } = await runScript("probe-readiness.sh", {
        ...env,
        MYSQL_HA_HOST: pod.host,
        MYSQL_HA_PORT: String(pod.port),
      });
      return { ready: true, why: stdout.trim() };
    } catch (err) {
      return { ready: false, why: (err as ScriptError).stdout?.trim() || (err as Error).message };
    }
  }

  /** init-server.sh of pod `ordinal` in the pod's volumes `dir`: returns its mounts (the conf volume is what mariadbd reads). */
  private async initServer(ordinal: number, dir: string): Promise<Map<string, string>> {
    const podName = `${this.statefulSetName}-${ordinal}`;
    const { stdout, mounts } = await this.runInitContainer("init-server", podName, dir);
    this.options.log?.(`pod ${podName}: ${stdout.trim().replace(/^init-server: \S+ /, "")}`);
    if (!mounts.has(PATHS.conf)) throw new Error(`pod ${podName}: init-server does not mount ${PATHS.conf}`);
    return mounts;
  }

  /**
   * What mariadbd of pod `ordinal` reads once the init containers are done: the conf volume (init-server's options,
   * and the seed's for a copy), as server_id and options. A path in them is one of the database container's: one an
   * init container wrote (its own mount, `writers`: container path -> local directory) is taken back to its
   * container path and must be mounted in the database container too, as the kubelet would only give it that way.
   */
  private podOptions(
    ordinal: number,
    dir: string,
    writers: Array<Map<string, string>>,
    pod: LocalServer,
  ): { serverId: number; options: ServerOptions } {
    const podName = `${this.statefulSetName}-${ordinal}`;
    const options = readOptionDir(writers[0].get(PATHS.conf)!);
    const serverId = Number(options.server_id);
    for (const key of HARNESS_OPTIONS) delete options[key];
    const database = this.containerView(this.container("mariadb"), podName, dir, this.podVolumes(pod));
    const written = writers
      .flatMap((mounts) => [...mounts])
      .sort((a, b) => b[1].length - a[1].length)
      .map(([mountPath, local]) => ({ mountPath, local }));
    for (const [key, value] of Object.entries(options)) {
      if (typeof value !== "string") continue;
      const hit = written.find((w) => value === w.local || value.startsWith(`${w.local}/`));
      const containerPath = hit ? hit.mountPath + value.slice(hit.local.length) : value;
      if (hit && ![...database.mounts.keys()].some((m) => containerPath === m || containerPath.startsWith(`${m}/`)))
        throw new Error(
          `pod ${podName}: option ${key} names ${containerPath}, which the database container does not mount`,
        );
      options[key] = database.local(containerPath);
    }
    return { serverId, options };
  }

  /**
   * The kubelet's part for one init container of the rendered pod template: its volumes become directories of the
   * pod (ConfigMaps read from the API as the kubelet projects them, with their items and modes; emptyDirs), its
   * environment is resolved from the manifest (values, the pod name, the rendered Secret), and its own command runs
   * (the scripts of the rendered ConfigMap, not the repository's), container paths mapped to those directories.
   */
  private async runInitContainer(
    name: string,
    podName: string,
    dir: string,
    given?: Map<string, string>,
  ): Promise<{ stdout: string; mounts: Map<string, string> }> {
    const container = (this.template.spec.initContainers ?? []).find((c: any) => c.name === name);
    if (!container) throw new Error(`the rendered pod template has no init container ${name}`);
    const { env, mounts, local } = this.containerView(container, podName, dir, given);
    const [command, ...args] = (container.command as string[]).map(local);
    // In the pod network: the cluster's names of the pods resolve (the headless Service's records).
    const inPod = this.network.wrap(command, args);
    const { stdout } = await execFileAsync(inPod.command, inPod.args, { env, maxBuffer: 16 * 1024 * 1024 });
    return { stdout, mounts };
  }

  /**
   * One container of the rendered pod template as its processes see it: volumes projected into directories under
   * `dir` (or the given local directories, e.g. a server's own socket directory for its run volume), the environment
   * resolved, and `local` mapping container paths to those directories.
   */
  private containerView(container: any, podName: string, dir: string, given: Map<string, string> = new Map()) {
    const spec = this.template.spec;
    const mounts = new Map<string, string>();
    for (const mount of container.volumeMounts ?? []) {
      const provided = given.get(mount.mountPath);
      if (provided) {
        mounts.set(mount.mountPath, provided);
        continue;
      }
      const volume = spec.volumes.find((v: any) => v.name === mount.name);
      const local = path.join(dir, "volumes", mount.name);
      fs.mkdirSync(local, { recursive: true });
      const data = {
        configMaps: (name: string) => this.api.configMaps.get(name),
        secrets: (name: string) => this.secrets.get(name),
      };
      if (!projectVolume(volume, local, podName, data) && !volume?.emptyDir) {
        throw new Error(
          `pod ${podName}: volume ${mount.name} of ${container.name} is neither a ConfigMap, a Secret nor an emptyDir`,
        );
      }
      mounts.set(mount.mountPath, local);
    }
    const byDepth = [...mounts].sort((a, b) => b[0].length - a[0].length);
    const local = (value: string) => {
      const hit = byDepth.find(([mountPath]) => value === mountPath || value.startsWith(`${mountPath}/`));
      return hit ? hit[1] + value.slice(hit[0].length) : value;
    };
    return {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...this.containerEnv(container, podName, local) },
      mounts,
      local,
    };
  }

  /** A container's environment from the manifest: values, the pod name, the rendered Secret's keys. */
  private containerEnv(
    container: any,
    podName: string,
    local: (value: string) => string = (v) => v,
  ): Record<string, string> {
    return Object.fromEntries(
      resolveEnv(container, podName, (name) => this.secrets.get(name)).map(([k, v]) => [k, local(v)]),
    );
  }

  /**
   * What pod `ordinal`'s donor sidecar (the rendered clone-donor container) takes from its manifest: its account and,
   * with TLS on, its pod name and the TLS Secret's volume projected for it (it serves with the member's own pair).
   * Its address, port and datadir are the local server's.
   */
  private donorEnv(ordinal: number, pod: LocalServer): Record<string, string> {
    const podName = `${this.statefulSetName}-${ordinal}`;
    const dir = fs.mkdtempSync(path.join(this.scratch, `${podName}-donor-`));
    const env: Record<string, string> = this.containerView(
      this.container("clone-donor"),
      podName,
      dir,
      this.podVolumes(pod),
    ).env;
    return Object.fromEntries(
      ["MYSQL_USER", "MYSQL_PASSWORD", "TLS_DIR", "POD_NAME"]
        .filter((k) => env[k] !== undefined)
        .map((k) => [k, env[k]]),
    );
  }

  /** The volumes a pod's server owns: its datadir (the data claim) and its socket directory (the run volume). */
  private podVolumes(pod: LocalServer): Map<string, string> {
    return new Map([
      [PATHS.data, pod.datadir],
      [PATHS.run, path.dirname(pod.socket)],
    ]);
  }

  /** The CA of the stack's TLS Secret as one file every local pod and the agents can name (written with the Secret). */
  memberCaFile(): string {
    return path.join(this.scratch, "tls-ca.crt");
  }

  /** A container of the rendered pod template by name. */
  private container(name: string): any {
    const container = this.template.spec.containers.find((c: any) => c.name === name);
    if (!container) throw new Error(`the rendered pod template has no container ${name}`);
    return container;
  }

  /**
   * A deleted pod's replacement: the same datadir, its init containers run again (init-server with the current
   * template's options; the seed finds data and does nothing), mariadbd and the donor sidecar restarted; Ready once
   * its readiness probe passes.
   */
  private async restartPod(ordinal: number): Promise<boolean> {
    const pod = this.pods[ordinal];
    if (!pod) return false;
    const t0 = Date.now();
    try {
      await this.donors.get(ordinal)?.stop();
      await pod.stop();
      pod.spec.options = (await this.initContainers(ordinal, pod)).options;
      await pod.start();
      this.donors.set(
        ordinal,
        await startDonor(pod, this.secret(SECRET_KEYS.cloneToken), DONOR_PORT, this.donorEnv(ordinal, pod)),
      );
    } catch (err) {
      this.options.log?.(`pod ${this.statefulSetName}-${ordinal}: did not start: ${(err as Error).message}`);
      return false;
    }
    for (let probe = await this.readiness(ordinal); !probe.ready; probe = await this.readiness(ordinal)) {
      if (Date.now() - t0 > READY_TIMEOUT_MS) {
        this.options.log?.(`pod ${this.statefulSetName}-${ordinal}: not ready: ${probe.why}`);
        return false;
      }
      await sleep(200);
    }
    this.restarts.push({ ordinal, ms: Date.now() - t0 });
    return true;
  }

  /** The donor sidecar of each running pod (clone-serve.sh on the pod's address, port 4444). */
  private readonly donors = new Map<number, Donor>();

  /** What pod `ordinal`'s donor sidecar logged (which streams it served, and how it listens). */
  donorLog(ordinal: number): string {
    return this.donors.get(ordinal)?.log() ?? "";
  }

  /** The pod's DNS name in the headless Service (the program's database is named DATABASE_NAME). */
  podHostName(ordinal: number): string {
    return memberHost(objectNames(DATABASE_NAME), this.api.options.namespace, ordinal);
  }

  /**
   * The pod's init containers in order, in one directory of volumes (emptyDirs shared between them, the data volume
   * the server's datadir): init-server.sh, then the rendered seed container (seed-member.sh in the pod network: an
   * empty member N > 0 clones member N-1 through its donor port; member 0 clones a peer that answers, else starts
   * empty). A failed init container is run again, as the kubelet does (with a shorter back-off).
   */
  private async initContainers(
    ordinal: number,
    pod: LocalServer,
  ): Promise<{ serverId: number; options: ServerOptions; seeded: string }> {
    const podName = `${this.statefulSetName}-${ordinal}`;
    const dir = fs.mkdtempSync(path.join(this.scratch, `${podName}-`));
    const initServerMounts = await this.initServer(ordinal, dir);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (let restarts = 0; ; restarts++) {
      try {
        const { stdout, mounts } = await this.runInitContainer("seed", podName, dir, this.podVolumes(pod));
        if (restarts > 0)
          this.options.log?.(
            `pod ${podName}: init container seed restarted ${restarts} times before it succeeded (its donor was not serving yet)`,
          );
        return { ...this.podOptions(ordinal, dir, [initServerMounts, mounts], pod), seeded: stdout };
      } catch (err) {
        const why = String((err as { stderr?: string }).stderr || (err as Error).message)
          .trim()
          .split("\n")
          .slice(-2)
          .join(" / ");
        if (Date.now() > deadline)
          throw new Error(`pod ${podName}: init container seed failed ${restarts + 1} times; last: ${why}`);
        await sleep(Math.min(2000, 250 * 2 ** restarts));
      }
    }
  }

  /**
   * One pod: its address and DNS name (the headless Service publishes not-ready pods too), its init containers,
   * mariadbd on its address with the options init-server wrote, the image's entrypoint on a datadir the seed left
   * empty (initialised as mariadb-install-db would), and its donor sidecar.
   */
  private async startPod(ordinal: number): Promise<void> {
    const podName = `${this.statefulSetName}-${ordinal}`;
    const podDir = fs.mkdtempSync(path.join(os.tmpdir(), `mysql-ha-${podName}-`));
    // mariadbd in the pod network too: a replica resolves its source by the name the engine gives it.
    const pod = new LocalServer(podDir, MYSQL_PORT, {
      serverId: 0,
      options: {},
      host: this.addresses[ordinal],
      wrap: this.network.wrap.bind(this.network),
    });
    this.pods[ordinal] = pod;
    this.network.add(this.podHostName(ordinal), pod.host);
    const t0 = Date.now();
    const { serverId, options, seeded } = await this.initContainers(ordinal, pod);
    pod.spec.serverId = serverId;
    pod.spec.options = options;
    const gtid = /^GTID=(.*)$/m.exec(seeded)?.[1];
    const fresh = gtid === undefined;
    if (fresh) {
      await initializeDatadir(pod.datadir);
    } else {
      const donor = Number(/member (\d+) \(/.exec(seeded)?.[1] ?? ordinal - 1);
      this.clones.push({ ordinal, donor, ms: Date.now() - t0 });
      this.options.log?.(
        `pod ${podName}: cloned member ${donor} (${(dirSize(pod.datadir) / 1e6).toFixed(0)} MB in ${Date.now() - t0} ms) at GTID '${gtid}'`,
      );
      // The copy's accounts are the donor's: root's password is the Secret's.
      pod.adminPassword = this.secret(SECRET_KEYS.root);
    }
    await pod.start();
    if (fresh) await this.entrypoint(pod, podName);
    this.donors.set(
      ordinal,
      await startDonor(pod, this.secret(SECRET_KEYS.cloneToken), DONOR_PORT, this.donorEnv(ordinal, pod)),
    );
    this.options.log?.(`pod ${podName}: started on ${pod.address}`);
  }

  /** A pod removed by a shrink: its containers stop, its DNS name goes. */
  private async destroyPod(ordinal: number): Promise<void> {
    await this.donors.get(ordinal)?.stop();
    this.donors.delete(ordinal);
    this.network.remove(this.podHostName(ordinal));
    await this.pods[ordinal]?.destroy();
  }

  /** Clones done by seeding pods: which member, from which donor, how long. */
  readonly clones: Array<{ ordinal: number; donor: number; ms: number }> = [];

  /**
   * What the official image's entrypoint (mariadb-docker 10.11, docker_setup_db then docker_process_init_files) does
   * on first start of an empty datadir, from the database container's rendered environment: root secured with the
   * binlog OFF (root@127.0.0.1 and root@::1 dropped, root@localhost's password set, root@MARIADB_ROOT_HOST created,
   * '%' when unset); then, with the binlog back ON, the application database (MARIADB_DATABASE), its user
   * (MARIADB_USER) and the replication user (MARIADB_REPLICATION_USER), so a new member has binlog history of its
   * own; then the scripts the container mounts at /docker-entrypoint-initdb.d, in name order (executable ones run,
   * others would be sourced into the entrypoint's shell, which this stand-in cannot do), against the server's socket.
   */
  private async entrypoint(pod: LocalServer, podName: string): Promise<void> {
    const database = this.container("mariadb");
    const env = this.containerEnv(database, podName);
    const root = env.MARIADB_ROOT_PASSWORD;
    const rootHost = env.MARIADB_ROOT_HOST || "%";
    if (!root)
      throw new Error(`pod ${podName}: MARIADB_ROOT_PASSWORD is not set (the entrypoint would refuse to initialize)`);
    const conn = await mysql.createConnection({
      socketPath: pod.socket,
      user: LOCAL_ROOT_USER,
      password: pod.adminPassword,
    });
    try {
      await conn.query("SET SESSION sql_log_bin = 0");
      await conn.query("DROP USER IF EXISTS root@'127.0.0.1', root@'::1'");
      await conn.query("ALTER USER root@localhost IDENTIFIED BY ?", [root]);
      if (rootHost !== "localhost") {
        await conn.query("CREATE USER ?@? IDENTIFIED BY ?", ["root", rootHost, root]);
        await conn.query("GRANT ALL ON *.* TO ?@? WITH GRANT OPTION", ["root", rootHost]);
      }
      await conn.query("SET SESSION sql_log_bin = 1");
      if (env.MARIADB_DATABASE) await conn.query(`CREATE DATABASE IF NOT EXISTS \`${env.MARIADB_DATABASE}\``);
      if (env.MARIADB_USER) {
        await conn.query("CREATE USER ?@'%' IDENTIFIED BY ?", [env.MARIADB_USER, env.MARIADB_PASSWORD]);
        if (env.MARIADB_DATABASE)
          await conn.query(`GRANT ALL ON \`${env.MARIADB_DATABASE}\`.* TO ?@'%'`, [env.MARIADB_USER]);
      }
      if (env.MARIADB_REPLICATION_USER) {
        await conn.query("CREATE USER ?@'%' IDENTIFIED BY ?", [
          env.MARIADB_REPLICATION_USER,
          env.MARIADB_REPLICATION_PASSWORD,
        ]);
        await conn.query("GRANT REPLICATION REPLICA ON *.* TO ?@'%'", [env.MARIADB_REPLICATION_USER]);
      }
    } finally {
      await conn.end();
    }
    pod.adminPassword = root;
    // The init scripts as the container sees them: its volumes, its environment, mariadbd's socket in its run volume.
    const dir = fs.mkdtempSync(path.join(this.scratch, `${podName}-entrypoint-`));
    const { env: scriptEnv, mounts } = this.containerView(database, podName, dir, this.podVolumes(pod));
    const initdb = mounts.get(PATHS.initdb) ?? "";
    for (const file of initdb ? fs.readdirSync(initdb).sort() : []) {
      const script = path.join(initdb, file);
      if (!file.endsWith(".sh"))
        throw new Error(`pod ${podName}: ${PATHS.initdb}/${file}: this stand-in runs only executable .sh init scripts`);
      if ((fs.statSync(script).mode & 0o111) === 0)
        throw new Error(
          `pod ${podName}: ${PATHS.initdb}/${file} is not executable: the entrypoint would source it into its own shell`,
        );
      const { stdout } = await execFileAsync(script, [], { env: scriptEnv });
      this.options.log?.(`pod ${podName}: ${stdout.trim()}`);
    }
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
    await this.api.stop();
    await Promise.all([...this.donors.values()].map((d) => d.stop()));
    if (!keepPods) await Promise.all(this.pods.map((_, ordinal) => this.destroyPod(ordinal)));
    this.network.close();
    this.certificates.close();
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
