/**
 * A stand-in for the Kubernetes API server's pod port-forward endpoint, for tests (there is no cluster here).
 * It speaks the same WebSocket protocol as the kubelet behind `GET /api/v1/namespaces/<ns>/pods/<pod>/portforward`:
 * subprotocol v4.channel.k8s.io, every binary frame prefixed by a channel byte (0 = data, 1 = error for the first
 * port), and the first frame of each channel carrying the port number as a little-endian uint16. Pods map to real
 * local mariadbd addresses; the data channel is relayed to them over TCP. It refuses the upgrade as the real server
 * does: 401 for a token it does not know, 403 for a user without RBAC `create pods/portforward`, 404 for a missing pod
 * (each a metav1.Status from the API server), 400 without a `ports` query parameter (the kubelet's plain-text
 * error); and deleting a pod breaks its open tunnels.
 */
import * as http from "node:http";
import * as net from "node:net";

// `ws` ships with @kubernetes/client-node (its WebSocket client); it has no bundled types.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { WebSocketServer } = require("ws");

export interface StandinPod {
  host: string;
  port: number;
}

export class ApiServerStandin {
  /** Pod name -> address its port-forward relays to. Delete a pod to make it "not found". */
  readonly pods = new Map<string, StandinPod>();
  /** Accepted port-forward sessions, "namespace/pod:port", in order. */
  readonly sessions: string[] = [];
  /** Subprotocols clients negotiated. */
  readonly protocols: string[] = [];
  /** Tokens of users who authenticate but lack RBAC `create pods/portforward` (token -> user name). */
  readonly forbidden = new Map<string, string>();
  private readonly open = new Map<{ terminate(): void }, () => void>();

  private constructor(
    private readonly server: http.Server,
    readonly namespace: string,
    readonly token: string,
  ) {}

  static async start(namespace: string, token: string): Promise<ApiServerStandin> {
    const server = http.createServer((_req, res) => {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", status: "Failure", reason: "NotFound", code: 404 }));
    });
    const standin = new ApiServerStandin(server, namespace, token);
    const wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (offered: Set<string>) => (offered.has("v4.channel.k8s.io") ? "v4.channel.k8s.io" : false),
    });
    server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      const url = new URL(req.url ?? "/", "http://standin");
      const match = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/.exec(url.pathname);
      const reject = (code: number, text: string, body: string, type = "application/json") => {
        socket.end(`HTTP/1.1 ${code} ${text}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      };
      const status = (code: number, reason: string, message: string) => JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code });
      const bearer = (req.headers.authorization ?? "").replace(/^Bearer /, "");
      // Authentication first (401), then authorization (403), then the pod lookup (404), as the API server's filters run.
      if (bearer !== token && !standin.forbidden.has(bearer)) return reject(401, "Unauthorized", status(401, "Unauthorized", "Unauthorized"));
      if (!match) return reject(404, "Not Found", status(404, "NotFound", "the server could not find the requested resource"));
      const [, ns, podName] = match;
      const user = standin.forbidden.get(bearer);
      if (user) {
        const message = `pods "${podName}" is forbidden: User "${user}" cannot create resource "pods/portforward" in API group "" in the namespace "${ns}"`;
        return reject(403, "Forbidden", status(403, "Forbidden", message));
      }
      const pod = ns === namespace ? standin.pods.get(podName) : undefined;
      if (!pod) return reject(404, "Not Found", status(404, "NotFound", `pods "${podName}" not found`));
      // The kubelet's port-forward handler (NewV4Options) requires the port parameter.
      const port = Number(url.searchParams.get("ports"));
      if (!Number.isInteger(port) || port < 1 || port > 65535) return reject(400, "Bad Request", `query parameter "port" is required\n`, "text/plain; charset=utf-8");
      wss.handleUpgrade(req, socket, head, (ws: any) => {
        standin.sessions.push(`${ns}/${podName}:${port}`);
        standin.protocols.push(ws.protocol);
        standin.relay(ws, podName, pod, port);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    return standin;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  /** A kubeconfig pointing at the stand-in with its bearer token. */
  kubeconfig(): string {
    return JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      // Plain HTTP on loopback: the client only allows it with TLS verification off.
      clusters: [{ name: "standin", cluster: { server: this.url, "insecure-skip-tls-verify": true } }],
      users: [{ name: "standin", user: { token: this.token } }],
      contexts: [{ name: "standin", context: { cluster: "standin", user: "standin", namespace: this.namespace } }],
      "current-context": "standin",
    });
  }

  /**
   * Deletes a pod: new port-forwards get 404, and open ones break as when the kubelet tears down the pod's sandbox:
   * the reason on the error channel, then the WebSocket closes.
   */
  deletePod(name: string): void {
    this.pods.delete(name);
    for (const [ws, owner] of this.open) if ((ws as any).pod === name) owner();
  }

  private relay(ws: any, podName: string, pod: StandinPod, port: number): void {
    const header = (channel: number) => Buffer.from([channel, port & 0xff, port >> 8]);
    ws.send(header(0));
    ws.send(header(1));
    const upstream = net.connect(pod.port, pod.host);
    // Like the kubelet: the reason goes on the error channel, then the stream ends.
    const fail = (reason: string) => {
      if (ws.readyState === 1) ws.send(Buffer.concat([Buffer.from([1]), Buffer.from(`error forwarding port ${port} to pod ${podName}: ${reason}`)]));
      ws.close();
    };
    ws.pod = podName;
    this.open.set(ws, () => {
      fail("pod deleted");
      upstream.destroy();
    });
    upstream.on("data", (data: Buffer) => ws.send(Buffer.concat([Buffer.from([0]), data])));
    upstream.on("error", (err: Error) => fail(err.message));
    upstream.on("close", () => ws.close());
    ws.on("message", (data: Buffer) => {
      if (data.length > 1 && data[0] === 0) upstream.write(data.subarray(1));
    });
    ws.on("close", () => {
      this.open.delete(ws);
      upstream.destroy();
    });
  }

  /** Number of port-forward WebSockets open right now. */
  get openSessions(): number {
    return this.open.size;
  }

  async stop(): Promise<void> {
    for (const ws of this.open.keys()) ws.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
