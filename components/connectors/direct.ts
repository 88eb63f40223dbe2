import { DirectConnectorSpec, MemberEndpoint, OpenConnector } from "./types";

/** Parses "host:port" (IPv6 as "[::1]:3306"); the error names the member and the expected form. */
export function parseHostPort(value: string, field: string): MemberEndpoint {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value ?? "");
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new Error(`${field}: "${value}" is not host:port (e.g. "10.0.0.5:3306" or "[::1]:3306")`);
  }
  return { host: match[1] ?? match[2], port };
}

/** Direct connector: nothing to open, the configured addresses are used as they are. */
export function openDirect(spec: DirectConnectorSpec, count: number): OpenConnector {
  if (spec.members.length < count) {
    throw new Error(`connector.members: ${count} members needed, ${spec.members.length} given`);
  }
  const members = spec.members.slice(0, count).map((m, i) => parseHostPort(m, `connector.members[${i}]`));
  return { members, close: async () => undefined, problems: () => [] };
}
