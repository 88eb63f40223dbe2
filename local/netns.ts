/**
 * Network partitions for the chaos suite: each member gets its own network namespace joined to a private bridge by a
 * veth pair, so the test process (on the bridge) and every member reach each other on 10.x addresses that exist only
 * inside this lab. `partition(name)` takes the member's bridge port down: packets are dropped silently, as in a real
 * network split (connections hang, they are not reset); `heal(name)` brings it back. Needs root and `ip` (iproute2).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface LabHost {
  /** Member name given to addHost. */
  name: string;
  /** Network namespace to start the member's process in (`ip netns exec <netns> ...`). */
  netns: string;
  /** The member's address inside the lab (bind to it; everyone else connects to it). */
  ip: string;
  /** Bridge-side end of the veth pair: the switch port that partition() takes down. */
  port: string;
}

async function ip(...args: string[]): Promise<void> {
  try {
    await run("ip", args);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(" ")} failed: ${stderr || (err as Error).message}`);
  }
}

/** A private bridge plus one namespace per member. Always `destroy()` it (afterAll), even after a failure. */
export class NetworkLab {
  private readonly hosts = new Map<string, LabHost>();

  private constructor(
    /** Short random tag in every interface and namespace name, so labs never collide. */
    readonly tag: string,
    /** Third octet of the lab's 10.231.N.0/24 subnet. */
    private readonly subnet: number,
  ) {}

  get bridge(): string {
    return `mhabr${this.tag}`;
  }
  /** Address of the test process on the bridge (the source address members see from it). */
  get gateway(): string {
    return `10.231.${this.subnet}.1`;
  }
  /** SQL host pattern matching every address in this lab (for `CREATE USER x@'<pattern>'`). */
  get hostPattern(): string {
    return `10.231.${this.subnet}.%`;
  }

  /** Creates the bridge with the gateway address on a random 10.231.N.0/24 subnet. */
  static async create(): Promise<NetworkLab> {
    const tag = randomBytes(2).toString("hex");
    const lab = new NetworkLab(tag, 1 + (parseInt(tag, 16) % 250));
    await ip("link", "add", lab.bridge, "type", "bridge");
    await ip("addr", "add", `${lab.gateway}/24`, "dev", lab.bridge);
    await ip("link", "set", lab.bridge, "up");
    return lab;
  }

  /** A namespace for one member, cabled to the bridge, with loopback and its lab address up. */
  async addHost(name: string): Promise<LabHost> {
    if (this.hosts.has(name)) throw new Error(`lab host '${name}' already exists`);
    const index = this.hosts.size + 1;
    const host: LabHost = {
      name,
      netns: `mha-${this.tag}-${index}`,
      ip: `10.231.${this.subnet}.${10 + index}`,
      port: `mha${this.tag}p${index}`,
    };
    const inner = `mha${this.tag}i${index}`;
    await ip("netns", "add", host.netns);
    this.hosts.set(name, host);
    await ip("link", "add", host.port, "type", "veth", "peer", "name", inner);
    await ip("link", "set", inner, "netns", host.netns);
    await ip("link", "set", host.port, "master", this.bridge);
    await ip("link", "set", host.port, "up");
    await ip("-n", host.netns, "link", "set", "lo", "up");
    await ip("-n", host.netns, "addr", "add", `${host.ip}/24`, "dev", inner);
    await ip("-n", host.netns, "link", "set", inner, "up");
    return host;
  }

  host(name: string): LabHost {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no lab host '${name}'; known: ${[...this.hosts.keys()].join(", ") || "(none)"}`);
    return host;
  }

  /** Cuts the member off from everyone (the test process included) by taking its switch port down. */
  async partition(name: string): Promise<void> {
    await ip("link", "set", this.host(name).port, "down");
  }

  /** Reconnects a partitioned member. */
  async heal(name: string): Promise<void> {
    await ip("link", "set", this.host(name).port, "up");
  }

  /** Deletes every namespace (their veth pairs go with them) and the bridge; safe to call twice. */
  async destroy(): Promise<void> {
    for (const host of this.hosts.values()) await ip("netns", "del", host.netns).catch(() => undefined);
    this.hosts.clear();
    await ip("link", "del", this.bridge).catch(() => undefined);
  }
}
