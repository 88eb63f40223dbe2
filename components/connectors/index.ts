import { openDirect } from "./direct";
import { openKubernetes } from "./kubernetes";
import { CONNECTOR_KINDS, ConnectorSpec, MemberEndpoint, OpenConnector } from "./types";

export * from "./types";
export { parseHostPort } from "./direct";
export * from "./kube-config";
export * from "./primary-objects";

/** Opens the connector for members 0..count-1. */
export async function openConnector(spec: ConnectorSpec, count: number): Promise<OpenConnector> {
  switch (spec.kind) {
    case "direct":
      return openDirect(spec, count);
    case "kubernetes":
      return openKubernetes(spec, count);
    default:
      throw new Error(
        `connector.kind: "${(spec as { kind: string }).kind}" is not one of ${CONNECTOR_KINDS.join(", ")}`,
      );
  }
}

/** Runs `fn` with the members' loopback addresses and always closes the tunnels afterwards. */
export async function withMembers<T>(
  spec: ConnectorSpec,
  count: number,
  fn: (members: MemberEndpoint[]) => Promise<T>,
): Promise<T> {
  const open = await openConnector(spec, count);
  try {
    return await fn(open.members);
  } finally {
    await open.close();
  }
}
