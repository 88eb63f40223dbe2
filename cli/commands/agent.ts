import * as http from "node:http";
import * as os from "node:os";
import { Command, UsageError, parseCommandArgs } from "../command";
import { ClusterError, openClusterMembers, readClusterSecrets } from "../cluster";
import {
  ENGINE_OPTIONS,
  ENGINE_OPTIONS_HELP,
  engineClusterTarget,
  engineSettings,
  parseMembers,
  tlsSettings,
} from "../engine-args";
import type { EngineSettings, MemberAddress } from "../../components/replication";
import type { ClusterAccess } from "../../components/connectors/kube-config";
import type { AgentEvent } from "../../components/agent/loop";

const AGENT_OPTIONS = {
  "interval-ms": { type: "string" },
  "failure-threshold": { type: "string" },
  "cooldown-seconds": { type: "string" },
  "kube-api": { type: "string" },
  namespace: { type: "string" },
  lease: { type: "string" },
  "lease-seconds": { type: "string" },
  statefulset: { type: "string" },
  service: { type: "string" },
  replicas: { type: "string" },
  port: { type: "string" },
  "cluster-domain": { type: "string" },
  "topology-configmap": { type: "string" },
  "primary-service": { type: "string" },
  "metrics-port": { type: "string" },
} as const;

export const command: Command = {
  name: "agent",
  usage: `Usage: mysql-ha agent --members H:P,... [--interval-ms N] [--failure-threshold N] [--cooldown-seconds N]
                      [--kube-api URL --namespace NS --lease NAME [--lease-seconds N]]
       mysql-ha agent --statefulset NAME --service HEADLESS --namespace NS --replicas N [--port 3306]
                      --lease NAME [--topology-configmap NAME --primary-service NAME] [...]
       mysql-ha agent --stack S [--kubeconfig FILE] [--context NAME] [--interval-ms N] [...]

Every --interval-ms it inspects the members. The primary is failed only when it missed --failure-threshold checks
in a row AND a majority of the members answer AND every replica that answers has lost its own link to it (a primary
only this agent cannot reach is not failed). Then, while it leads, it runs the engine's failover (same safety rules
as 'mysql-ha failover': refused, with nothing changed, when promoting would drop transactions) and points the
topology ConfigMap and the members' role labels (mysql-ha/role: primary|replica, the old primary's first; the primary
Service selects primary) at the new primary; every healthy round it relabels a pod that lost its label (recreated).
No second automatic failover within --cooldown-seconds.
A former primary that comes back writable is fenced (read-only, client sessions killed); it is not re-attached.

One agent decides: with --lease, the holder of the coordination.k8s.io/v1 Lease NAME in NS (--lease-seconds,
default 15 s, renewed every third of that; a holder that cannot renew stops acting a third early, and another agent
takes over only once the lease has expired unrenewed). The API is --kube-api URL (e.g. from
'kubectl proxy') or, without it, the pod's ServiceAccount. Without --lease it acts alone (the engine's topology
lock the only guard against a concurrent operation).

With --stack, a run on this machine against the stack's cluster: the members through port-forwards, the
credentials and CA from the stack's Secrets, the stack's Lease (so it is one more candidate beside the agents in the
cluster), ConfigMap and primary Service, and the stack's agent settings unless given.

Events go to stdout, one JSON object per line with "time" and "event": started, leader, healthy,
primary-unreachable (primary, failures, threshold, error), primary-suspect (reason), primary-failed, failover
(from, to, ms, possiblyLost), pointed, labelled (primary, labels), fenced (member, primary, possiblyLost), refused
(reason), cooldown (remainingMs), error, stopped. SIGTERM or SIGINT stops it: the running operation finishes, the
Lease is released.

Options:
  --interval-ms N                time between checks (default 1000)
  --failure-threshold N          consecutive failed checks before the primary may be declared failed (default 3)
  --cooldown-seconds N           no second automatic failover within this time (default 300)
  --kube-api URL                 Kubernetes API without authentication (e.g. kubectl proxy); default in-cluster
  --namespace NS                 namespace of the Lease and of the objects below
  --lease NAME                   coordination.k8s.io/v1 Lease that elects one agent
  --lease-seconds N              lease duration (default 15, at least 3); renewed every N/3 s, the holder stops
                                 acting N/3 s before it could expire
  --statefulset NAME             members are the pods NAME-0..N-1 (instead of --members); names the primary's pod
  --service HEADLESS             headless Service of the StatefulSet (member N is NAME-N.HEADLESS.NS.svc)
  --replicas N                   member count (with --statefulset)
  --port N                       database port of the pods (default 3306)
  --cluster-domain DOMAIN        append it to the members' names (as the connector's clusterDomain; default none)
  --topology-configmap NAME      ConfigMap naming the primary; point it after a failover (with --primary-service)
  --primary-service NAME         Service selecting the primary by role label; the rest of its selector picks the
                                 members whose labels the agent keeps
  --metrics-port N               serve GET /healthz (200 while the loop runs, 503 when stuck) and GET /metrics
                                 (topology metrics, Prometheus text format; README, Observability) on this port
${ENGINE_OPTIONS_HELP.replace("--members H:P,...              the members", "--members H:P,...              the members (or --statefulset)")}

Exit status: 0 stopped by a signal; 1 could not start; 2 usage error.

Examples:
  MYSQL_HA_PASSWORD=... MYSQL_HA_REPLICATION_PASSWORD=... mysql-ha agent --members db0:3306,db1:3306,db2:3306
  mysql-ha agent --statefulset mysql --service mysql-headless --namespace db --replicas 3 --lease mysql-agent \\
    --topology-configmap mysql-topology --primary-service mysql-primary`,

  async run(argv) {
    const parsed = parseCommandArgs(this, argv, { ...ENGINE_OPTIONS, ...AGENT_OPTIONS });
    if (!parsed) return 0;
    const v = parsed as Record<string, string | boolean | undefined>;
    const str = (flag: string) => v[flag] as string | undefined;
    const target = engineClusterTarget(v);
    const stack = target?.settings;
    if (target) {
      const named = Object.keys(AGENT_OPTIONS).filter((f) => !STACK_AGENT_OPTIONS.has(f) && v[f] !== undefined);
      if (named.length)
        throw new UsageError(`--${named[0]} does not go with --stack: the stack names its members, Lease and objects`);
    }
    const intervalMs = positive(str("interval-ms"), "--interval-ms") ?? stack?.agentIntervalMs;
    const failureThreshold = positive(str("failure-threshold"), "--failure-threshold") ?? stack?.agentFailureThreshold;
    const cooldownSeconds = whole(str("cooldown-seconds"), "--cooldown-seconds") ?? stack?.agentCooldownSeconds;
    const namespace = stack?.namespace ?? str("namespace");
    const statefulSet = target?.names.statefulSet ?? str("statefulset");
    const members = target ? [] : membersFrom(v, namespace, statefulSet);
    const access = target
      ? {
          lease: target.objects.agentLease,
          cluster: target.access,
          objects: { topologyConfigMap: target.names.topology, primaryService: target.names.primaryService },
        }
      : clusterAccess(v, namespace, statefulSet);
    const leaseSeconds = leaseDuration(str("lease-seconds"), !!access.lease);
    const metricsPort = v["metrics-port"] === undefined ? undefined : port(str("metrics-port")!, "--metrics-port");
    let settings: EngineSettings;
    let tunnels: Awaited<ReturnType<typeof openClusterMembers>> | undefined;
    if (target) {
      try {
        const secrets = await readClusterSecrets(target, tlsSettings(v));
        settings = engineSettings(v, true, () => {}, { target, secrets });
        tunnels = await openClusterMembers(target);
        members.push(...tunnels.members);
      } catch (err) {
        if (!(err instanceof ClusterError)) throw err;
        process.stderr.write(`mysql-ha agent: ${err.message}\n`);
        return 1;
      }
    } else settings = engineSettings(v, true, () => {});
    try {
      return await runAgent({
        members,
        settings,
        intervalMs,
        failureThreshold,
        cooldownSeconds,
        namespace,
        statefulSet,
        access,
        leaseSeconds,
        metricsPort,
      });
    } finally {
      await tunnels?.close();
    }
  },
};

/** Flags that tune the agent rather than name what it watches: they go with --stack too. */
const STACK_AGENT_OPTIONS = new Set([
  "interval-ms",
  "failure-threshold",
  "cooldown-seconds",
  "lease-seconds",
  "metrics-port",
]);

interface AgentRun {
  members: MemberAddress[];
  settings: EngineSettings;
  intervalMs?: number;
  failureThreshold?: number;
  cooldownSeconds?: number;
  namespace?: string;
  statefulSet?: string;
  access: ReturnType<typeof clusterAccess>;
  leaseSeconds: ReturnType<typeof leaseDuration>;
  metricsPort?: number;
}

/** Runs the loop until SIGTERM or SIGINT; the exit code. */
async function runAgent({
  members,
  settings,
  intervalMs,
  failureThreshold,
  cooldownSeconds,
  namespace,
  statefulSet,
  access,
  leaseSeconds,
  metricsPort,
}: AgentRun): Promise<number> {
  const emit = (e: AgentEvent) => process.stdout.write(JSON.stringify(e) + "\n");
  const { Agent } = require("../../components/agent/loop") as typeof import("../../components/agent/loop");
  let agent: InstanceType<typeof Agent> | undefined;
  let stopRequested!: () => void;
  const signalled = new Promise<void>((resolve) => (stopRequested = resolve));
  process.once("SIGTERM", stopRequested);
  process.once("SIGINT", stopRequested);
  const identity = `${os.hostname()}_${process.pid}`;
  let lease: import("../../components/agent/lease").LeaseElector | undefined;
  try {
    if (access.lease) {
      const { LeaseElector } = require("../../components/agent/lease") as typeof import("../../components/agent/lease");
      lease = new LeaseElector({
        ...access.cluster,
        namespace: namespace!,
        name: access.lease,
        identity,
        ...leaseSeconds,
        onChange: (leading, holder) =>
          agent?.emit("leader", { identity, leading, holder: holder || null, lease: `${namespace}/${access.lease}` }),
        onError: (message) => agent?.emit("error", { operation: "lease", error: message }),
      });
    }
    agent = new Agent({
      members,
      settings,
      intervalMs,
      failureThreshold,
      cooldownSeconds,
      leadership: lease,
      objects: access.objects && {
        ...access.cluster,
        ...access.objects,
        namespace: namespace!,
        statefulSet: statefulSet!,
      },
      emit,
    });
  } catch (err) {
    process.stderr.write(`mysql-ha agent: ${(err as Error).message}\n`);
    return 1;
  }
  const running = agent;
  const { renderMetrics, METRICS_CONTENT_TYPE } =
    require("../../components/agent/metrics") as typeof import("../../components/agent/metrics");
  const health =
    metricsPort === undefined
      ? undefined
      : http.createServer((req, res) => {
          if (req.url === "/metrics") {
            res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE });
            res.end(renderMetrics(running.metrics()));
            return;
          }
          const h = running.health();
          const ok = req.url === "/healthz" && h.ok;
          res.writeHead(req.url === "/healthz" ? (ok ? 200 : 503) : 404, { "content-type": "application/json" });
          res.end(JSON.stringify(h) + "\n");
        });
  if (health) {
    try {
      await new Promise<void>((resolve, reject) => health.once("error", reject).listen(metricsPort, resolve));
    } catch (err) {
      process.stderr.write(`mysql-ha agent: --metrics-port ${metricsPort}: ${(err as Error).message}\n`);
      return 1;
    }
  }
  agent.start();
  if (lease) lease.start();
  else agent.emit("leader", { identity, leading: true, holder: identity, lease: null });
  await signalled;
  await agent.stop();
  await lease?.stop();
  if (health) await new Promise<void>((resolve) => health.close(() => resolve()));
  agent.emit("stopped", {});
  return 0;
}

function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) <= 0)
    throw new UsageError(`${flag} '${value}' is not a positive whole number`);
  return Number(value);
}

/**
 * --lease-seconds N: the Lease duration, with the renew interval and the holder's safety margin a third of it each
 * (15 s -> renewed every 5 s, stops acting 5 s early: LEASE_DEFAULTS). A renewal that takes longer than the interval
 * counts as failed, so below 3 s a slow API round trip would already cost the lease: refused.
 */
function leaseDuration(
  value: string | undefined,
  lease: boolean,
): { leaseDurationSeconds: number; renewIntervalMs: number; safetyMarginMs: number } | undefined {
  if (value === undefined) return undefined;
  if (!lease) throw new UsageError("--lease-seconds needs --lease");
  if (!/^\d+$/.test(value) || Number(value) < 3)
    throw new UsageError(`--lease-seconds '${value}' is not a whole number of seconds, 3 or more`);
  const seconds = Number(value);
  const third = Math.floor((seconds * 1000) / 3);
  return { leaseDurationSeconds: seconds, renewIntervalMs: third, safetyMarginMs: third };
}

function port(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n < 1 || n > 65535)
    throw new UsageError(`${flag} '${value}' is not a port (1-65535)`);
  return n;
}

function whole(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} '${value}' is not a whole number of seconds (0 or more)`);
  return Number(value);
}

/** --members as given, or the StatefulSet's pods by their DNS names (in the cluster: no port-forward). */
function membersFrom(
  v: Record<string, unknown>,
  namespace: string | undefined,
  statefulSet: string | undefined,
): MemberAddress[] {
  const bySet = ["service", "replicas", "port", "cluster-domain"].filter((f) => v[f] !== undefined);
  if (v.members !== undefined) {
    if (bySet.length) throw new UsageError(`--${bySet[0]} describes the members by StatefulSet: not with --members`);
    return parseMembers(v.members as string);
  }
  if (!statefulSet)
    throw new UsageError(
      "--members is required (host:port of every member in ordinal order), or --statefulset with --service, --namespace and --replicas",
    );
  for (const flag of ["service", "replicas"])
    if (v[flag] === undefined) throw new UsageError(`--${flag} is required with --statefulset`);
  if (!namespace) throw new UsageError("--namespace is required with --statefulset");
  const replicas = positive(v.replicas as string, "--replicas")!;
  const dbPort = v.port === undefined ? 3306 : port(v.port as string, "--port");
  const domain = v["cluster-domain"] as string | undefined;
  // The same names the Kubernetes connector gives the replicas as their source (components/connectors/kubernetes.ts):
  // the engine recognises a replica's source only by that exact host.
  return Array.from({ length: replicas }, (_, i) => {
    const host = `${statefulSet}-${i}.${v.service}.${namespace}.svc${domain ? `.${domain}` : ""}`;
    return { host, port: dbPort, replicationHost: host, replicationPort: dbPort };
  });
}

/** The Lease and the primary's objects, and how to reach the API: --kube-api, or the pod's ServiceAccount. */
function clusterAccess(
  v: Record<string, unknown>,
  namespace: string | undefined,
  statefulSet: string | undefined,
): { lease?: string; cluster: ClusterAccess; objects?: { topologyConfigMap: string; primaryService: string } } {
  const lease = v.lease as string | undefined;
  const configMap = v["topology-configmap"] as string | undefined;
  const service = v["primary-service"] as string | undefined;
  if (!!configMap !== !!service)
    throw new UsageError(
      `--${configMap ? "primary-service" : "topology-configmap"} is required with --${configMap ? "topology-configmap" : "primary-service"}`,
    );
  if ((lease || configMap) && !namespace)
    throw new UsageError(`--namespace is required with --${lease ? "lease" : "topology-configmap"}`);
  if (configMap && !statefulSet)
    throw new UsageError("--statefulset is required with --topology-configmap (it names the primary's pod)");
  const url = v["kube-api"] as string | undefined;
  if (url !== undefined && !lease && !configMap)
    throw new UsageError("--kube-api needs --lease or --topology-configmap (what the API is used for)");
  if (url !== undefined && !/^https?:\/\/[^\s/]+/.test(url))
    throw new UsageError(`--kube-api '${url}' is not an http(s) URL`);
  const cluster: ClusterAccess = url === undefined ? { inCluster: true } : { kubeconfig: proxyKubeconfig(url) };
  return {
    lease,
    cluster,
    objects: configMap ? { topologyConfigMap: configMap, primaryService: service! } : undefined,
  };
}

/** A kubeconfig for an API URL that needs no credentials of ours (kubectl proxy adds them). */
function proxyKubeconfig(url: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    // Plain http (kubectl proxy) has no TLS to verify, but the client refuses http unless told to skip verification.
    clusters: [{ name: "api", cluster: { server: url, "insecure-skip-tls-verify": url.startsWith("http:") } }],
    users: [{ name: "none", user: {} }],
    contexts: [{ name: "api", context: { cluster: "api", user: "none" } }],
    "current-context": "api",
  });
}
