/**
 * The agent keeps the members' role labels, which the primary Service selects, as it runs in the cluster: a separate
 * process holding a Lease through the API stand-in, the program's ConfigMap and Service applied there, real members.
 * A pod the StatefulSet controller recreates (no role label) is labelled again without any up; after kill -9 of the
 * primary the label moves with no moment where the Service selects two pods or a writable pod that is not the
 * primary; and every request the agent makes is one its Role (components/kubernetes/agent.ts) allows, the Role
 * allowing nothing it did not use.
 */
import { validateConfig } from "../../components/config";
import { buildAgentRole } from "../../components/kubernetes/agent";
import type { KubeApiStandin } from "../../local/kube-api-standin";
import { writableMembers } from "../chaos/support";
import { NAME, NAMES, roleLabels } from "../connectors/program-objects";
import { sleep } from "../../local/mariadbd";
import { AgentChild, agentArgs, agentLabPerTest, spawnAgent, startAgentLab } from "./support";

interface Rule {
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
  verbs: string[];
}

/** The RBAC attributes the API server derives from a request (verb, API group, resource, name). */
function attributes(request: string): { verb: string; group: string; resource: string; name?: string } {
  const [method, path] = request.split(" ");
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/v1)\/namespaces\/[^/]+\/([^/]+)(?:\/([^/]+))?$/.exec(path);
  if (!m) throw new Error(`not a namespaced resource request: ${request}`);
  const [, group = "", resource, name] = m;
  const verb = (
    { GET: name ? "get" : "list", POST: "create", PUT: "update", PATCH: "patch", DELETE: "delete" } as Record<
      string,
      string
    >
  )[method];
  return { verb, group, resource, name };
}

const allows = (rule: Rule, a: ReturnType<typeof attributes>, verb = a.verb) =>
  rule.apiGroups.includes(a.group) &&
  rule.resources.includes(a.resource) &&
  rule.verbs.includes(verb) &&
  a.verb === verb &&
  (!rule.resourceNames || (a.name !== undefined && rule.resourceNames.includes(a.name)));

/** Requests outside the Role, and the Role's verbs no request used. */
function rbacReport(requests: string[]): { forbidden: string[]; unused: string[] } {
  const { settings } = validateConfig({ namespace: "db", replicas: 3 });
  const rules = (buildAgentRole({ name: NAME, names: NAMES, settings: settings! }) as { rules: Rule[] }).rules;
  const used = requests.map(attributes);
  return {
    forbidden: requests.filter((_, i) => !rules.some((rule) => allows(rule, used[i]))),
    unused: rules.flatMap((rule) =>
      rule.verbs
        .filter((verb) => !used.some((a) => allows(rule, a, verb)))
        .map((verb) => `${verb} ${rule.resources.join()}`),
    ),
  };
}

/** Waits until the agent has renewed its Lease (PUT) since request `from`: every verb of its Role is then in use. */
async function leaseRenewed(api: KubeApiStandin, from: number): Promise<void> {
  for (let i = 0; i < 100 && !api.requests.slice(from).some((r) => /^PUT \S*\/leases\//.test(r)); i++) await sleep(50);
}

describe("agent process: the members' role labels", () => {
  const running = agentLabPerTest();

  /** Members set up with member 0 primary, the program's objects in the stand-in, one agent leading. */
  async function start(serverIdBase: number): Promise<{ api: KubeApiStandin; agent: AgentChild; fromAgent: number }> {
    const { t, api } = (running.lab = await startAgentLab({
      serverIdBase,
      standin: { recreateMs: 20, initMs: 10, readyMs: 20 },
    }));
    const fromAgent = api.requests.length;
    const agent = (running.agent = spawnAgent(agentArgs(t.servers, { api, leaseSeconds: 3 })));
    const labelled = await agent.events.wait("labelled", (e) => e.event === "labelled", 20000);
    expect(labelled).toMatchObject({ primary: 0, labels: "mysql-1 replica, mysql-2 replica, mysql-0 primary" });
    expect(api.serviceEndpoints(NAMES.primaryService)).toEqual(["mysql-0"]);
    return { api, agent, fromAgent };
  }

  it("labels a pod the StatefulSet controller recreated, without an up; asks only what its Role allows", async () => {
    const { api, agent, fromAgent } = await start(2500);
    // The primary's pod replaced (say its node was drained): the new pod comes from the template, without the label.
    const deleted = await fetch(`${api.url}/api/v1/namespaces/db/pods/mysql-0`, { method: "DELETE" });
    expect(deleted.status).toBe(200);
    const again = await agent.events.wait(
      "labelled",
      (e) => e.event === "labelled" && e.labels === "mysql-0 primary",
      10000,
    );
    expect(again.primary).toBe(0);
    for (let i = 0; i < 50 && api.serviceEndpoints(NAMES.primaryService).length === 0; i++) await sleep(20);
    expect(api.serviceEndpoints(NAMES.primaryService)).toEqual(["mysql-0"]);
    expect(roleLabels(api)).toEqual({ "mysql-0": "primary", "mysql-1": "replica", "mysql-2": "replica" });
    // Wrong labels only: two labelling rounds in all, though the agent checked every interval.
    expect(agent.events.of("labelled")).toHaveLength(2);
    expect(agent.events.of("error")).toEqual([]);

    await leaseRenewed(api, fromAgent); // every second with --lease-seconds 3
    const requests = api.requests.slice(fromAgent);
    requests.splice(requests.indexOf("DELETE /api/v1/namespaces/db/pods/mysql-0"), 1); // the test's, not the agent's
    expect(rbacReport(requests)).toEqual({ forbidden: [], unused: [] });
  });

  it("kill -9 of the primary: the label moves, the Service never selecting two pods or a writable pod other than the primary", async () => {
    const { api, agent, fromAgent } = await start(2520);
    const servers = running.lab!.t.servers;
    // After each write of the agent: what the Service selects, and which of those pods' servers are writable.
    const seen: Array<{ request: string; pods: string[]; writable: string[] }> = [];
    api.options.onWrite = async (request) => {
      if (request.includes("/leases")) return;
      const pods = api.serviceEndpoints(NAMES.primaryService);
      const writable = await writableMembers(servers);
      seen.push({ request, pods, writable: pods.filter((p) => writable.includes(Number(p.split("-")[1]))) });
    };

    await servers[0].signal("SIGKILL");
    const failover = await agent.events.wait("failover", (e) => e.event === "failover", 20000);
    const to = failover.to as number;
    await agent.events.wait("pointed", (e) => e.event === "pointed", 5000);
    expect(agent.events.of("labelled").at(-1)).toMatchObject({
      primary: to,
      labels: `mysql-0 replica, mysql-${to} primary`,
    });
    expect(api.serviceEndpoints(NAMES.primaryService)).toEqual([`mysql-${to}`]);
    expect(roleLabels(api)).toEqual(
      Object.fromEntries([0, 1, 2].map((o) => [`mysql-${o}`, o === to ? "primary" : "replica"])),
    );

    // Member 0 (dead) selected until it lost its label, then nobody, then the new primary; never two, and never a
    // writable pod but the new primary.
    expect(seen.filter((s) => s.pods.length > 1 || s.writable.some((p) => p !== `mysql-${to}`))).toEqual([]);
    const changes = seen.filter((s, i) => i === 0 || s.pods.join() !== seen[i - 1].pods.join());
    expect(
      changes.map((s) => [s.request.replace("/api/v1/namespaces/db/", ""), s.pods.join(), s.writable.join()]),
    ).toEqual([
      [`PATCH configmaps/${NAMES.topology}`, "mysql-0", ""],
      ["PATCH pods/mysql-0", "", ""],
      [`PATCH pods/mysql-${to}`, `mysql-${to}`, `mysql-${to}`],
    ]);
    await leaseRenewed(api, fromAgent); // a failover can end before the first renewal
    expect(rbacReport(api.requests.slice(fromAgent))).toEqual({ forbidden: [], unused: [] });
  });
});
