import { execFile, spawn } from "node:child_process";
import * as http from "node:http";
import * as path from "node:path";
import { promisify } from "node:util";
import { openConnector, parseHostPort } from "../../components/connectors";
import {
  destroyAll,
  LOCAL_ROOT_PASSWORD,
  LOCAL_ROOT_USER,
  LocalServer,
  sleep,
  startServers,
} from "../../local/mariadbd";
import { ApiServerStandin } from "./apiserver-standin";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "../..");

/** Runs query-members.ts in a plain Node process (ts-node), like the dynamic provider host would. */
async function queryMembers(spec: unknown, count: number) {
  const { stdout } = await run(
    process.execPath,
    [
      "-r",
      "ts-node/register/transpile-only",
      path.join(__dirname, "query-members.ts"),
      JSON.stringify({ spec, count, user: LOCAL_ROOT_USER, password: LOCAL_ROOT_PASSWORD }),
    ],
    { cwd: ROOT, timeout: 60000 },
  );
  return JSON.parse(stdout) as {
    members: Array<{ host: string; replicationHost?: string; replicationPort?: number }>;
    problems: string[];
    results: Array<{ ordinal: number; serverIds?: number[]; error?: string }>;
  };
}

/** A raw port-forward upgrade request: the status and body the stand-in refuses it with. */
function upgrade(url: string, path: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url + path, {
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Protocol": "v4.channel.k8s.io",
        Authorization: `Bearer ${token}`,
      },
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("upgrade", (_res, socket) => {
      socket.destroy();
      resolve({ status: 101, body: "" });
    });
    req.on("error", reject);
  });
}

describe("connectors", () => {
  let servers: LocalServer[] = [];
  let standin: ApiServerStandin | undefined;
  afterEach(async () => {
    await standin?.stop();
    standin = undefined;
    await destroyAll(servers);
    servers = [];
  });

  test("direct connector parses host:port per member and names the bad member", async () => {
    expect(parseHostPort("[::1]:3307", "m")).toEqual({ host: "::1", port: 3307 });
    const open = await openConnector({ kind: "direct", members: ["127.0.0.1:3306", "db-1:3307"] }, 2);
    expect(open.members).toEqual([
      { host: "127.0.0.1", port: 3306 },
      { host: "db-1", port: 3307 },
    ]);
    await open.close();
    await expect(openConnector({ kind: "direct", members: ["127.0.0.1:3306", "db-1"] }, 2)).rejects.toThrow(
      /connector.members\[1\]: "db-1" is not host:port/,
    );
    await expect(openConnector({ kind: "direct", members: ["127.0.0.1:3306"] }, 3)).rejects.toThrow(
      /3 members needed, 1 given/,
    );
  });

  test("kubernetes connector reaches every pod through the port-forward WebSocket protocol and closes its tunnels", async () => {
    servers = await startServers(2, {}, 700);
    standin = await ApiServerStandin.start("db", "t0ken");
    servers.forEach((s, i) => standin!.pods.set(`mysql-${i}`, { host: s.host, port: s.port }));
    const spec = {
      kind: "kubernetes",
      namespace: "db",
      statefulSet: "mysql",
      port: 3306,
      kubeconfig: standin.kubeconfig(),
    };

    const out = await queryMembers(spec, 2);

    // The engine connects over loopback; the members replicate from each other by pod DNS name.
    expect(out.members.map((m) => m.host)).toEqual(["127.0.0.1", "127.0.0.1"]);
    expect(out.members.map((m) => `${m.replicationHost}:${m.replicationPort}`)).toEqual([
      "mysql-0.mysql.db.svc:3306",
      "mysql-1.mysql.db.svc:3306",
    ]);
    expect(out.results).toEqual([
      { ordinal: 0, serverIds: [700, 700] },
      { ordinal: 1, serverIds: [701, 701] },
    ]);
    // One WebSocket per TCP connection, to the pod's database port, negotiated as v4.channel.k8s.io.
    expect(standin.sessions).toEqual(["db/mysql-0:3306", "db/mysql-0:3306", "db/mysql-1:3306", "db/mysql-1:3306"]);
    expect(new Set(standin.protocols)).toEqual(new Set(["v4.channel.k8s.io"]));
    for (let i = 0; i < 50 && standin.openSessions > 0; i++) await sleep(20);
    expect(standin.openSessions).toBe(0);
  });

  test("kubernetes connector reports a missing pod or a dead database as an unreachable member", async () => {
    servers = await startServers(2, {}, 710);
    standin = await ApiServerStandin.start("db", "t0ken");
    servers.forEach((s, i) => standin!.pods.set(`mysql-${i}`, { host: s.host, port: s.port }));
    await servers[1].signal("SIGKILL");
    const spec = { kind: "kubernetes", namespace: "db", statefulSet: "mysql", kubeconfig: standin.kubeconfig() };

    const out = await queryMembers(spec, 3);

    expect(out.results[0]).toEqual({ ordinal: 0, serverIds: [710, 710] });
    expect(out.results[1].error).toBeDefined(); // pod exists, database refuses: error channel, then closed
    expect(out.results[2].error).toBeDefined(); // no pod mysql-2: the upgrade is refused with 404
    expect(standin.sessions.filter((s) => s.startsWith("db/mysql-2"))).toEqual([]);
    // The reasons are kept for the provider's error messages.
    expect(out.problems.some((p) => p.startsWith("mysql-1: error forwarding port 3306"))).toBe(true);
    expect(out.problems).toContain("mysql-2: port-forward refused (404 Not Found): no pod db/mysql-2");
  });

  test("port-forward stand-in refuses an upgrade as the API server does: 401, 403, 404 Status, 400 without ports", async () => {
    servers = await startServers(1, {}, 720);
    standin = await ApiServerStandin.start("db", "t0ken");
    standin.pods.set("mysql-0", { host: servers[0].host, port: servers[0].port });
    standin.forbidden.set("v1ewer", "viewer");
    const path = "/api/v1/namespaces/db/pods/mysql-0/portforward";
    expect(await upgrade(standin.url, `${path}?ports=3306`, "t0ken")).toEqual({ status: 101, body: "" });
    expect(await upgrade(standin.url, `${path}?ports=3306`, "wrong")).toMatchObject({ status: 401 });
    const forbidden = await upgrade(standin.url, `${path}?ports=3306`, "v1ewer");
    expect([forbidden.status, JSON.parse(forbidden.body)]).toEqual([
      403,
      expect.objectContaining({
        kind: "Status",
        status: "Failure",
        reason: "Forbidden",
        code: 403,
        message:
          'pods "mysql-0" is forbidden: User "viewer" cannot create resource "pods/portforward" in API group "" in the namespace "db"',
      }),
    ]);
    const missing = await upgrade(standin.url, "/api/v1/namespaces/db/pods/mysql-9/portforward?ports=3306", "t0ken");
    expect([missing.status, JSON.parse(missing.body).message]).toEqual([404, 'pods "mysql-9" not found']);
    expect(await upgrade(standin.url, path, "t0ken")).toEqual({
      status: 400,
      body: 'query parameter "port" is required\n',
    });
  });

  test("kubernetes connector says why the API server refused the tunnel: bad credentials, no RBAC permission", async () => {
    servers = await startServers(1, {}, 730);
    standin = await ApiServerStandin.start("db", "t0ken");
    standin.pods.set("mysql-0", { host: servers[0].host, port: servers[0].port });
    standin.forbidden.set("v1ewer", "viewer");
    const spec = (token: string) => ({
      kind: "kubernetes",
      namespace: "db",
      statefulSet: "mysql",
      kubeconfig: standin!.kubeconfig().replace('"t0ken"', `"${token}"`),
    });

    const unauthorized = await queryMembers(spec("wrong"), 1);
    expect(unauthorized.results[0].error).toBeDefined();
    expect(unauthorized.problems).toEqual([
      "mysql-0: port-forward refused (401 Unauthorized): the API server did not accept the kubeconfig's credentials",
    ]);
    const forbidden = await queryMembers(spec("v1ewer"), 1);
    expect(forbidden.problems).toEqual([
      "mysql-0: port-forward refused (403 Forbidden): the kubeconfig's user lacks verbs get and create on pods/portforward in namespace db",
    ]);
    expect(standin.sessions).toEqual([]);
  });

  test("kubernetes connector: deleting the pod breaks its open tunnel with the kubelet's reason, and new ones get 404", async () => {
    servers = await startServers(1, {}, 740);
    standin = await ApiServerStandin.start("db", "t0ken");
    standin.pods.set("mysql-0", { host: servers[0].host, port: servers[0].port });
    const spec = { kind: "kubernetes", namespace: "db", statefulSet: "mysql", kubeconfig: standin.kubeconfig() };
    const child = spawn(
      process.execPath,
      [
        "-r",
        "ts-node/register/transpile-only",
        path.join(__dirname, "hold-tunnel.ts"),
        JSON.stringify({ spec, user: LOCAL_ROOT_USER, password: LOCAL_ROOT_PASSWORD }),
      ],
      { cwd: ROOT },
    );
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (c) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (c) => {
        stdout += c;
        if (stdout.includes("connected\n")) resolve();
      });
      exited.then(() => reject(new Error(`hold-tunnel exited: ${stderr}`)));
    });
    expect(standin.openSessions).toBe(1);
    standin.deletePod("mysql-0");
    for (let i = 0; i < 50 && standin.openSessions > 0; i++) await sleep(20);
    child.stdin.write("go\n");
    expect(await exited).toBe(0);
    const out = JSON.parse(stdout.slice(stdout.indexOf("{")));
    expect(out.sameConnection).toMatch(/^error: /);
    expect(out.newConnection).toMatch(/^error: /);
    expect(out.problems).toEqual([
      "mysql-0: error forwarding port 3306 to pod mysql-0: pod deleted",
      "mysql-0: port-forward refused (404 Not Found): no pod db/mysql-0",
    ]);
  });
});
