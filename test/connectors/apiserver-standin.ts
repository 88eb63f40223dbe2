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
import { PORT_FORWARD_PATH, PortForwards, refuseUpgrade } from "../../local/port-forward";

export interface StandinPod {
  host: string;
  port: number;
}

export class ApiServerStandin {
  /** Pod name -> address its port-forward relays to. Delete a pod to make it "not found". */
  readonly pods = new Map<string, StandinPod>();
  private readonly forwards = new PortForwards();
  /** Accepted port-forward sessions, "namespace/pod:port", in order. */
  readonly sessions = this.forwards.sessions;
  /** Subprotocols clients negotiated. */
  readonly protocols = this.forwards.protocols;
  /** Tokens of users who authenticate but lack RBAC `create pods/portforward` (token -> user name). */
  readonly forbidden = new Map<string, string>();

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
    server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      const url = new URL(req.url ?? "/", "http://standin");
      const match = PORT_FORWARD_PATH.exec(url.pathname);
      const reject = (code: number, text: string, body: string) => refuseUpgrade(socket, code, text, body);
      const status = (code: number, reason: string, message: string) =>
        JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code });
      const bearer = (req.headers.authorization ?? "").replace(/^Bearer /, "");
      // Authentication first (401), then authorization (403), then the pod lookup (404), as the API server's filters run.
      if (bearer !== token && !standin.forbidden.has(bearer))
        return reject(401, "Unauthorized", status(401, "Unauthorized", "Unauthorized"));
      if (!match)
        return reject(404, "Not Found", status(404, "NotFound", "the server could not find the requested resource"));
      const [, ns, podName] = match;
      const user = standin.forbidden.get(bearer);
      if (user) {
        const message = `pods "${podName}" is forbidden: User "${user}" cannot create resource "pods/portforward" in API group "" in the namespace "${ns}"`;
        return reject(403, "Forbidden", status(403, "Forbidden", message));
      }
      const pod = ns === namespace ? standin.pods.get(podName) : undefined;
      if (!pod) return reject(404, "Not Found", status(404, "NotFound", `pods "${podName}" not found`));
      standin.forwards.accept(req, socket, head, ns, podName, pod);
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
    this.forwards.breakPod(name);
  }

  /** Number of port-forward WebSockets open right now. */
  get openSessions(): number {
    return this.forwards.openSessions;
  }

  async stop(): Promise<void> {
    this.forwards.closeAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
