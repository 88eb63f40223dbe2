/**
 * One member pod of the rendered StatefulSet run as real containers (podman, with the root filesystem of
 * build-rootfs.sh standing in for the image): each container with its own command (the image's entrypoint and
 * command when it has none), its environment (from a private env file, never argv), its volumes as the kubelet
 * makes them (emptyDirs and the data volume group-owned by fsGroup, ConfigMaps and Secrets as read-only files with
 * their items and modes) and the security context the manifest asks for (user and group, fsGroup, read-only root
 * filesystem without podman's extra tmpfs, all capabilities dropped, no privilege escalation). The pod's containers
 * share one network namespace, as a pod's do: loopback only, or an address on a pod network where the other pods'
 * headless-Service names resolve (the host file podman writes); probes run with `podman exec`, and `portForward`
 * reaches the pod's loopback as `kubectl port-forward` does.
 */
import { spawn, ChildProcess } from "node:child_process";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { promisify } from "node:util";
import { projectVolume, resolveEnv } from "../kubelet";

const run = promisify(execFile);

/** podman settings that work on hosts without systemd and with hybrid cgroups (crun cannot run there). */
const CONTAINERS_CONF =
  '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\nevents_logger = "file"\n';

/** The official image's ENTRYPOINT and CMD, for a container of the template that names no command. */
const IMAGE_ENTRYPOINT = ["docker-entrypoint.sh", "mariadbd"];

export interface ContainerPodOptions {
  /** Root filesystem of the image (local/containers/build-rootfs.sh). */
  rootfs: string;
  /** The rendered pod template (StatefulSet spec.template). */
  template: any;
  podName: string;
  /** Names of the StatefulSet's volumeClaimTemplates (each a fresh persistent volume here). */
  claims: string[];
  /** The rendered ConfigMaps' and Secrets' data by name. */
  configMaps: Record<string, Record<string, string>>;
  secrets: Record<string, Record<string, string>>;
  /** Host directory of the pod's volumes and files (removed by `remove`). */
  dir: string;
  /** A podman network, the pod's address on it and every pod's DNS name (none: loopback only). */
  network?: { name: string; address: string; hosts: Record<string, string> };
}

/** podman's environment for these pods (its config for hosts without systemd). */
export function podmanEnv(dir: string): NodeJS.ProcessEnv {
  const conf = path.join(dir, "containers.conf");
  if (!fs.existsSync(conf)) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(conf, CONTAINERS_CONF);
  }
  return { ...process.env, CONTAINERS_CONF: conf };
}

export class ContainerPod {
  private readonly started: string[] = [];
  private readonly forwards: ChildProcess[] = [];
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly options: ContainerPodOptions) {
    this.env = podmanEnv(options.dir);
  }

  /** Runs an init container to completion; its output, or an error with it. */
  async runInit(name: string, timeoutMs = 120_000): Promise<string> {
    const spec = this.container(name, true);
    const { stdout, stderr } = await this.podman(
      ["run", "--rm", ...this.runArgs(spec), ...this.command(spec)],
      timeoutMs,
    );
    return stdout + stderr;
  }

  /** Starts a container of the pod (detached); the first one started owns the pod's network namespace. */
  async start(name: string): Promise<void> {
    const spec = this.container(name, false);
    const network = this.started.length === 0 ? this.networkArgs() : ["--network", `container:${this.started[0]}`];
    const id = `${this.options.podName}-${name}`;
    await this.podman(
      ["run", "-d", "--name", id, ...network, ...this.runArgs(spec, false), ...this.command(spec)],
      60_000,
    );
    this.started.push(id);
  }

  /** Runs a command in a running container (as a probe does); resolves to its output, rejects on a non-zero exit. */
  async exec(name: string, command: string[], timeoutMs = 30_000): Promise<string> {
    const { stdout } = await this.podman(["exec", `${this.options.podName}-${name}`, ...command], timeoutMs);
    return stdout;
  }

  /** The container's probe (`readinessProbe`, `livenessProbe`) run as the kubelet runs an exec probe. */
  probe(name: string, kind: "readinessProbe" | "livenessProbe" | "startupProbe"): Promise<string> {
    const probe = this.container(name, false)[kind];
    const command = probe?.exec?.command;
    if (!command) throw new Error(`container ${name} has no exec ${kind}`);
    return this.exec(name, command, (probe.timeoutSeconds ?? 1) * 1000 + 5000);
  }

  /** The container's log (stdout and stderr). */
  async logs(name: string): Promise<string> {
    const { stdout, stderr } = await this.podman(["logs", `${this.options.podName}-${name}`], 30_000).catch((e) => ({
      stdout: "",
      stderr: String(e.message),
    }));
    return stdout + stderr;
  }

  /**
   * A local port whose connections reach `port` on the pod's loopback, as `kubectl port-forward` does (a stream
   * into the pod's network namespace: socat in the pod's first container).
   */
  async portForward(port: number, localPort: number): Promise<void> {
    // A script, as socat's address syntax would split the command at its colons.
    const into = path.join(this.options.dir, `forward-${port}`);
    fs.writeFileSync(into, `#!/bin/sh\nexec podman exec -i ${this.started[0]} socat - TCP:127.0.0.1:${port}\n`, {
      mode: 0o700,
    });
    const child = spawn("socat", [`TCP-LISTEN:${localPort},bind=127.0.0.1,reuseaddr,fork`, `EXEC:${into}`], {
      env: this.env,
      stdio: "ignore",
    });
    this.forwards.push(child);
    for (let i = 0; ; i++) {
      const open = await new Promise<boolean>((resolve) => {
        const socket = net.connect({ host: "127.0.0.1", port: localPort });
        socket.once("connect", () => (socket.destroy(), resolve(true)));
        socket.once("error", () => resolve(false));
      });
      if (open) return;
      if (i > 100 || child.exitCode !== null)
        throw new Error(`port-forward to ${this.options.podName}:${port} did not listen on ${localPort}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops and removes the pod's containers and its volumes. */
  async remove(): Promise<void> {
    for (const child of this.forwards) child.kill("SIGTERM");
    for (const id of this.started.reverse())
      await this.podman(["rm", "-f", "-t", "5", id], 60_000).catch(() => undefined);
    fs.rmSync(this.options.dir, { recursive: true, force: true });
  }

  private container(name: string, init: boolean): any {
    const list = init ? this.options.template.spec.initContainers : this.options.template.spec.containers;
    const spec = (list ?? []).find((c: any) => c.name === name);
    if (!spec) throw new Error(`the rendered pod template has no ${init ? "init container" : "container"} ${name}`);
    return spec;
  }

  private command(spec: any): string[] {
    return [...(spec.command ?? IMAGE_ENTRYPOINT), ...(spec.args ?? [])];
  }

  /** podman flags for one container of the template; `--rootfs` last, as podman takes the command after it. */
  private runArgs(spec: any, ownNetwork = true): string[] {
    const pod = this.options.template.spec.securityContext ?? {};
    const sc = spec.securityContext ?? {};
    const user = sc.runAsUser ?? pod.runAsUser;
    const group = sc.runAsGroup ?? pod.runAsGroup ?? user;
    const args: string[] = [...(ownNetwork ? this.networkArgs() : [])];
    if (user !== undefined) args.push("--user", `${user}:${group}`);
    if (pod.fsGroup !== undefined) args.push("--group-add", String(pod.fsGroup));
    if (sc.readOnlyRootFilesystem) args.push("--read-only", "--read-only-tmpfs=false");
    for (const cap of sc.capabilities?.drop ?? []) args.push("--cap-drop", cap);
    if (sc.allowPrivilegeEscalation === false) args.push("--security-opt", "no-new-privileges");
    args.push("--env-file", this.envFile(spec));
    for (const mount of spec.volumeMounts ?? []) {
      args.push("--volume", `${this.volume(mount.name)}:${mount.mountPath}${mount.readOnly ? ":ro" : ""}`);
    }
    args.push("--rootfs", this.options.rootfs);
    return args;
  }

  /** The container's environment resolved from the manifest, in a file only root can read. */
  private envFile(spec: any): string {
    const file = path.join(this.options.dir, `env-${spec.name}`);
    const lines = resolveEnv(spec, this.options.podName, (name) => this.options.secrets[name]).map(([name, value]) => {
      if (/[\n\r]/.test(value))
        throw new Error(`env ${name} of ${spec.name}: a multi-line value cannot go through an env file`);
      return `${name}=${value}`;
    });
    fs.writeFileSync(file, lines.join("\n") + "\n", { mode: 0o600 });
    return file;
  }

  /** A volume of the pod as a host directory, made once and shared by every container that mounts it. */
  private volume(name: string): string {
    const dir = path.join(this.options.dir, "volumes", name);
    if (fs.existsSync(dir)) return dir;
    const spec = this.options.template.spec;
    const fsGroup: number | undefined = spec.securityContext?.fsGroup;
    const volume = (spec.volumes ?? []).find((v: any) => v.name === name);
    const claim = this.options.claims.includes(name);
    fs.mkdirSync(dir, { recursive: true });
    const data = {
      configMaps: (ref: string) => this.options.configMaps[ref],
      secrets: (ref: string) => this.options.secrets[ref],
    };
    // With fsGroup the projected files belong to that group (Secrets and ConfigMaps alike).
    const chown = (file: string) => fsGroup !== undefined && fs.chownSync(file, 0, fsGroup);
    if (projectVolume(volume, dir, this.options.podName, data, chown)) return dir;
    if (!volume?.emptyDir && !claim)
      throw new Error(`volume ${name}: only ConfigMap, Secret, emptyDir and the data claim are supported`);
    // fsGroup: the volume's group, setgid, group-writable (what the kubelet does to emptyDirs and, with
    // OnRootMismatch, to a fresh persistent volume).
    chown(dir);
    fs.chmodSync(dir, fsGroup !== undefined ? 0o2775 : 0o777);
    return dir;
  }

  private networkArgs(): string[] {
    const n = this.options.network;
    if (!n) return ["--network", "none"];
    return [
      "--network",
      n.name,
      "--ip",
      n.address,
      ...Object.entries(n.hosts).flatMap(([name, address]) => ["--add-host", `${name}:${address}`]),
    ];
  }

  private podman(args: string[], timeoutMs: number) {
    return run("podman", args, { env: this.env, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 });
  }
}
