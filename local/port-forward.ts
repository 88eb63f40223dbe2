/**
 * The pod port-forward endpoint of the stand-in API servers (there is no cluster here). It speaks the protocol of
 * `GET /api/v1/namespaces/<ns>/pods/<pod>/portforward` upgraded to a WebSocket, as the API server proxies it to the
 * kubelet: subprotocol v4.channel.k8s.io, every binary frame prefixed by a channel byte (0 = data, 1 = error for the
 * first port), and the first frame of each channel carrying the port number as a little-endian uint16. The data
 * channel is relayed over TCP to the address that stands in for the pod; the kubelet's failures (the pod's port
 * refused, the pod deleted) go on the error channel as text before the stream ends.
 */
import type * as http from "node:http";
import * as net from "node:net";

// `ws` ships with @kubernetes/client-node (its WebSocket client); it has no bundled types.
const { WebSocketServer } = require("ws");

export const PORT_FORWARD_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/;

/** Where a pod's port-forward goes: the local server that stands in for the pod. */
export interface PodAddress {
  host: string;
  port: number;
}

/** Answers a refused upgrade as the API server does: a status line and a body (a metav1.Status, or the kubelet's text). */
export function refuseUpgrade(
  socket: net.Socket,
  code: number,
  text: string,
  body: string,
  type = "application/json",
): void {
  socket.end(
    `HTTP/1.1 ${code} ${text}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export class PortForwards {
  /** Accepted port-forward sessions, "namespace/pod:port", in order. */
  readonly sessions: string[] = [];
  /** Subprotocols clients negotiated. */
  readonly protocols: string[] = [];
  private readonly open = new Map<{ terminate(): void; pod?: string }, () => void>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered: Set<string>) => (offered.has("v4.channel.k8s.io") ? "v4.channel.k8s.io" : false),
  });

  /**
   * Accepts an authorized upgrade for `pod` (found): checks the port as the kubelet's handler does (400 without it)
   * and relays.
   */
  accept(
    req: http.IncomingMessage,
    socket: net.Socket,
    head: Buffer,
    namespace: string,
    podName: string,
    pod: PodAddress,
  ): void {
    const url = new URL(req.url ?? "/", "http://standin");
    // The kubelet's port-forward handler (NewV4Options) requires the port parameter.
    const port = Number(url.searchParams.get("ports"));
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      return refuseUpgrade(
        socket,
        400,
        "Bad Request",
        `query parameter "port" is required\n`,
        "text/plain; charset=utf-8",
      );
    this.wss.handleUpgrade(req, socket, head, (ws: any) => {
      this.sessions.push(`${namespace}/${podName}:${port}`);
      this.protocols.push(ws.protocol);
      this.relay(ws, podName, pod, port);
    });
  }

  /** Breaks the pod's open tunnels as when the kubelet tears down its sandbox: the reason, then the close. */
  breakPod(name: string): void {
    for (const [ws, owner] of this.open) if (ws.pod === name) owner();
  }

  /** Number of port-forward WebSockets open right now. */
  get openSessions(): number {
    return this.open.size;
  }

  closeAll(): void {
    for (const ws of this.open.keys()) ws.terminate();
  }

  private relay(ws: any, podName: string, pod: PodAddress, port: number): void {
    const header = (channel: number) => Buffer.from([channel, port & 0xff, port >> 8]);
    ws.send(header(0));
    ws.send(header(1));
    const upstream = net.connect(pod.port, pod.host);
    // Like the kubelet: the reason goes on the error channel, then the stream ends.
    const fail = (reason: string) => {
      if (ws.readyState === 1)
        ws.send(
          Buffer.concat([Buffer.from([1]), Buffer.from(`error forwarding port ${port} to pod ${podName}: ${reason}`)]),
        );
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
}
