/**
 * The pod network and cluster DNS of the stand-in pods. Each pod gets an address of its own on loopback (Linux
 * delivers all of 127.0.0.0/8 there), so every pod serves the ports its manifest names (3306, 4444) as pods do in a
 * cluster; the names its scripts use (the headless Service's per-pod names) resolve to those addresses through a hosts
 * file that only the pod's processes see: they run in a private mount namespace with the file bound over /etc/hosts,
 * and names resolve from it alone (as cluster DNS answers at once for a name it does not have, where the host's
 * resolver would wait for a DNS server). A pod that is gone has no name, as with the headless Service's DNS.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { randomInt } from "node:crypto";

export class PodNetwork {
  /** First three octets of this network's addresses, random so that two runs on one machine do not collide. */
  readonly prefix = `127.${randomInt(16, 250)}.${randomInt(0, 256)}`;
  private readonly names = new Map<string, string>();
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-pod-network-"));
  readonly hostsFile = path.join(this.dir, "hosts");
  private readonly nsswitchFile = path.join(this.dir, "nsswitch.conf");

  constructor() {
    const host = fs.existsSync("/etc/nsswitch.conf") ? fs.readFileSync("/etc/nsswitch.conf", "utf8") : "";
    const others = host.split("\n").filter((line) => !/^\s*hosts\s*:/.test(line));
    fs.writeFileSync(this.nsswitchFile, ["hosts: files", ...others].join("\n"));
    this.write();
  }

  /** The address of the pod with this ordinal. */
  address(ordinal: number): string {
    if (!Number.isInteger(ordinal) || ordinal < 0 || ordinal > 250)
      throw new Error(`pod ordinal ${ordinal} is outside 0..250`);
    return `${this.prefix}.${ordinal + 1}`;
  }

  /** The pod's DNS name now resolves to its address (the pod exists). */
  add(name: string, address: string): void {
    this.names.set(name, address);
    this.write();
  }

  /** The pod's DNS name no longer resolves (the pod is gone). */
  remove(name: string): void {
    this.names.delete(name);
    this.write();
  }

  /**
   * `command args...` as a process of a pod: same filesystem and network, but /etc/hosts is this network's. Needs
   * root, or unprivileged user namespaces (then the process runs as a mapped root).
   */
  wrap(command: string, args: string[]): { command: string; args: string[] } {
    const [first, ...rest] = this.launcher();
    return { command: first, args: [...rest, command, ...args] };
  }

  /**
   * The same for a forked Node process (execPath and execArgv of child_process.fork): a process outside the pods
   * that must reach them by name, as the providers and agents on a cluster do.
   */
  forkOptions(): { execPath: string; execArgv: string[] } {
    const [first, ...rest] = this.launcher();
    return { execPath: first, execArgv: [...rest, process.execPath] };
  }

  private launcher(): string[] {
    const userNs = process.getuid?.() === 0 ? [] : ["--map-root-user"];
    return [
      "unshare",
      ...userNs,
      "--mount",
      "--propagation",
      "private",
      "bash",
      "-c",
      'mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/nsswitch.conf && shift && exec "$@"',
      this.hostsFile,
      this.nsswitchFile,
    ];
  }

  close(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private write(): void {
    // Rewritten in place: a bind mount holds the file itself, so a running process sees a new version only in the
    // same file (a lookup during the write may miss a name once, as with a DNS update).
    const lines = ["127.0.0.1 localhost", ...[...this.names].map(([name, address]) => `${address} ${name}`)];
    fs.writeFileSync(this.hostsFile, lines.join("\n") + "\n");
  }
}
