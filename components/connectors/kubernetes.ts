import * as net from "node:net";
import { Writable } from "node:stream";
import type * as k8s from "@kubernetes/client-node";
import { kubeConfigFor, loadKubernetesClient } from "./kube-config";
import { KubernetesConnectorSpec, MemberEndpoint, OpenConnector } from "./types";

export const DEFAULT_DATABASE_PORT = 3306;

/**
 * Kubernetes connector: a loopback listener per pod; every TCP connection accepted there becomes one port-forward
 * WebSocket to `<statefulSet>-<ordinal>` through the API server (what `kubectl port-forward` does). A pod that does
 * not exist, or refuses the port, shows up to the engine as a member whose connection fails: unreachable.
 */
export async function openKubernetes(spec: KubernetesConnectorSpec, count: number): Promise<OpenConnector> {
  // Loaded here, not at module scope: the package is ESM and only needed when this connector is chosen.
  const client = loadKubernetesClient();
  const forward = new client.PortForward(kubeConfigFor(client, spec), true);
  const port = spec.port ?? DEFAULT_DATABASE_PORT;

  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  const members: MemberEndpoint[] = [];
  const problems = new Set<string>();
  const close = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  };
  try {
    for (let ordinal = 0; ordinal < count; ordinal++) {
      const pod = `${spec.statefulSet}-${ordinal}`;
      const server = net.createServer((socket) => {
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
        tunnel(forward, spec.namespace, pod, port, socket, problems);
      });
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
      });
      members.push({
        host: "127.0.0.1",
        port: (server.address() as net.AddressInfo).port,
        replicationHost: `${pod}.${spec.service ?? spec.statefulSet}.${spec.namespace}.svc${spec.clusterDomain ? `.${spec.clusterDomain}` : ""}`,
        replicationPort: port,
      });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { members, close, problems: () => [...problems] };
}

/** Relays one local TCP connection over one port-forward WebSocket; either side closing closes the other. */
function tunnel(
  forward: k8s.PortForward,
  namespace: string,
  pod: string,
  port: number,
  socket: net.Socket,
  problems: Set<string>,
): void {
  // The error channel carries text such as "error forwarding port 3306 to pod ...", also when the pod goes away
  // under an open tunnel: end the connection with it.
  const errors = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (chunk.length > 0) {
        problems.add(`${pod}: ${chunk.toString("utf8")}`);
        socket.destroy();
      }
      done();
    },
  });
  socket.on("error", () => undefined); // surfaced to the engine as a failed or closed connection
  forward
    .portForward(namespace, pod, [port], socket, errors, socket)
    .then((opened) => {
      const ws = opened as unknown as { on(event: string, fn: (...args: unknown[]) => void): void; close(): void };
      ws.on("close", () => socket.end());
      ws.on("error", () => socket.destroy());
      socket.once("close", () => ws.close());
    })
    .catch((err: Error) => {
      problems.add(`${pod}: ${refusal(err.message, namespace, pod)}`);
      socket.destroy();
    });
}

/**
 * What a refused port-forward upgrade means. The WebSocket client only reports "Unexpected server response: <code>";
 * the codes are the API server's (authentication 401, RBAC 403, pod lookup 404) and the kubelet's (400).
 */
function refusal(message: string, namespace: string, pod: string): string {
  const code = /Unexpected server response: (\d+)/.exec(message)?.[1];
  switch (code) {
    case "400":
      return `port-forward refused (400 Bad Request): the request named no port`;
    case "401":
      return `port-forward refused (401 Unauthorized): the API server did not accept the kubeconfig's credentials`;
    case "403":
      // A WebSocket port-forward is a GET (verb get), and since Kubernetes 1.35 it needs create as well.
      return `port-forward refused (403 Forbidden): the kubeconfig's user lacks verbs get and create on pods/portforward in namespace ${namespace}`;
    case "404":
      return `port-forward refused (404 Not Found): no pod ${namespace}/${pod}`;
    default:
      return message;
  }
}
