/**
 * `mysql-ha agent` as a command: help, usage errors that name the flag (exit 2), a clear failure outside a pod, and
 * the /healthz endpoint the Deployment probes and /metrics, with a clean stop on SIGTERM. Credentials never appear in output.
 */
import { freePort } from "../../local/mariadbd";
import { runCli } from "../cli/run-cli";
import { AGENT_ENV, spawnAgent } from "./support";

/** Without this machine's MYSQL_HA_ and KUBERNETES_ variables: the command gets what each test gives it. */
const CLEAN_ENV = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith("KUBERNETES_") && !k.startsWith("MYSQL_HA_")),
);
const cli = (args: string[], env: Record<string, string> = AGENT_ENV) =>
  runCli(args, { env, baseEnv: CLEAN_ENV, timeout: 30000 });

describe("mysql-ha agent (command line)", () => {
  it("--help describes it and the overview lists it", async () => {
    const [help, overview] = await Promise.all([cli(["agent", "--help"]), cli(["--help"])]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: mysql-ha agent --members H:P,\.\.\./);
    for (const flag of [
      "--interval-ms",
      "--failure-threshold",
      "--cooldown-seconds",
      "--kube-api",
      "--lease",
      "--lease-seconds",
      "--statefulset",
      "--topology-configmap",
      "--metrics-port",
    ]) {
      expect(help.stdout).toContain(flag);
    }
    expect(overview.stdout).toMatch(/^ {2}agent {8}Watch the members and fail over automatically/m);
  });

  it("bad flags exit 2 with one line naming the flag", async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ["--members", "a:1", "--interval-ms", "0"],
        /^mysql-ha agent: --interval-ms '0' is not a positive whole number\n$/,
      ],
      [["--members", "a:1", "--failure-threshold", "x"], /--failure-threshold 'x' is not a positive whole number/],
      [["--members", "a:1", "--cooldown-seconds", "1.5"], /--cooldown-seconds '1.5' is not a whole number/],
      [["--members", "a:1", "--bogus"], /Unknown option '--bogus'.*Allowed options for 'agent'/],
      [[], /--members is required .* or --statefulset/],
      [["--members", "a"], /--members entry 0 'a' is not host:port/],
      [["--members", "a:1", "--replicas", "3"], /--replicas describes the members by StatefulSet: not with --members/],
      [["--statefulset", "db", "--namespace", "ns", "--replicas", "3"], /--service is required with --statefulset/],
      [
        ["--statefulset", "db", "--service", "h", "--namespace", "ns", "--replicas", "3", "--port", "70000"],
        /--port '70000' is not a port/,
      ],
      [["--members", "a:1", "--kube-api", "http://127.0.0.1:8001"], /--kube-api needs --lease or --topology-configmap/],
      [["--members", "a:1", "--lease", "l"], /--namespace is required with --lease/],
      [
        ["--members", "a:1", "--namespace", "n", "--lease", "l", "--lease-seconds", "2"],
        /--lease-seconds '2' is not a whole number of seconds, 3 or more/,
      ],
      [
        ["--members", "a:1", "--namespace", "n", "--lease", "l", "--lease-seconds", "4.5"],
        /--lease-seconds '4.5' is not a whole number of seconds, 3 or more/,
      ],
      [["--members", "a:1", "--lease-seconds", "15"], /--lease-seconds needs --lease/],
      [
        ["--members", "a:1", "--namespace", "n", "--topology-configmap", "t"],
        /--primary-service is required with --topology-configmap/,
      ],
      [
        ["--members", "a:1", "--namespace", "n", "--topology-configmap", "t", "--primary-service", "p"],
        /--statefulset is required with --topology-configmap/,
      ],
      [["--members", "a:1", "--metrics-port", "0"], /--metrics-port '0' is not a port/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(["agent", ...args])));
    results.forEach((r, i) => {
      expect({ args: cases[i][0], code: r.code }).toEqual({ args: cases[i][0], code: 2 });
      expect(r.stderr).toMatch(cases[i][1]);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stdout).toBe("");
    });
    const noPassword = await cli(["agent", "--members", "a:1"], {});
    expect(noPassword.code).toBe(2);
    expect(noPassword.stderr).toMatch(/set MYSQL_HA_PASSWORD or pass --password-file/);
  });

  it("with --lease and no --kube-api outside a pod: exits 1 saying so", async () => {
    const r = await cli(["agent", "--members", "a:1", "--namespace", "n", "--lease", "l"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "mysql-ha agent: not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (outside a cluster, give a kubeconfig or an API URL)\n",
    );
  });

  it("serves /healthz and /metrics on --metrics-port and stops on SIGTERM with exit 0, printing no credential", async () => {
    const [dbPort, metricsPort] = [await freePort(), await freePort()];
    const agent = spawnAgent([
      "--members",
      `127.0.0.1:${dbPort}`,
      "--interval-ms",
      "200",
      "--metrics-port",
      String(metricsPort),
    ]);
    try {
      await agent.events.wait("refused", (e) => e.event === "refused", 20000);
      const res = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true, leading: true, primary: null });
      expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
      // The member does not answer: down, not primary; this agent acts alone, so it leads.
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/^mysql_ha_member_up\{member="0"\} 0$/m);
      expect(metrics).toMatch(/^mysql_ha_member_is_primary\{member="0"\} 0$/m);
      expect(metrics).toMatch(/^mysql_ha_agent_is_leader 1$/m);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
    expect(agent.events.list.map((e) => e.event)).toEqual(["started", "leader", "refused", "stopped"]);
    expect(agent.events.of("refused")[0].reason).toMatch(/replication is not set up/);
    for (const secret of Object.values(AGENT_ENV).filter((v) => v.length > 6))
      expect(agent.stdout() + agent.stderr()).not.toContain(secret);
  });
});
