/**
 * The replication providers with TLS, serialized and run in a separate process as `pulumi up` runs them, against
 * real members that require TLS: setup over verified TLS, and renewed member certificates loaded by the next up
 * (FLUSH SSL, no restart), which preview announces. Members are reached by this machine's host name, which their
 * certificates carry (members are verified by DNS name).
 */
import { X509Certificate } from "node:crypto";
import { lookup } from "node:dns/promises";
import * as fs from "node:fs";
import * as os from "node:os";
import { REPLICATION_TOPOLOGY_TYPE, SECRET_PROPERTIES, serializableProvider } from "../../components/providers";
import { Declaration, DynamicHost, serializeProvider } from "../../local/dynamic-host";
import {
  destroyAll,
  LOCAL_ROOT_PASSWORD,
  LOCAL_ROOT_USER,
  LocalServer,
  REPLICATION_OPTIONS,
  startServer,
} from "../../local/mariadbd";
import { Certificate, TestCa, makeCa, restartWithTls } from "../replication/certificates";

const name = os.hostname();

/** The members (started on the address this machine's name resolves to), a dynamic host and the topology provider. */
async function startStack(
  startMembers: (address: string) => Promise<LocalServer[]>,
): Promise<[LocalServer[], DynamicHost, string]> {
  const { address } = await lookup(name, { family: 4 });
  return Promise.all([
    startMembers(address),
    DynamicHost.start({ log: () => {} }),
    serializeProvider(serializableProvider("topology")),
  ]);
}

/** The topology both stacks declare: its two members by this machine's name, TLS as given (none: plain text). */
function declaration(
  provider: string,
  servers: LocalServer[],
  replicationPassword: string,
  tls?: { ca: string; caPath: string; certificates?: string[] },
): Declaration {
  return {
    type: REPLICATION_TOPOLOGY_TYPE,
    provider,
    secretOutputs: SECRET_PROPERTIES,
    inputs: {
      providerVersion: "1",
      flavor: "mariadb",
      replicas: 2,
      primary: 0,
      semiSync: true,
      semiSyncTimeoutMs: 2000,
      autoFailover: true,
      operationTimeoutSeconds: 60,
      connector: { kind: "direct", members: servers.map((s) => `${name}:${s.port}`) },
      adminUser: LOCAL_ROOT_USER,
      adminPassword: LOCAL_ROOT_PASSWORD,
      replicationUser: "repl",
      replicationPassword,
      ...(tls ? { tls } : {}),
    },
  };
}

describe("replication providers with TLS", () => {
  let ca: TestCa;
  let servers: LocalServer[] = [];
  let certs: Certificate[] = [];
  let host: DynamicHost;
  let provider: string;

  beforeAll(async () => {
    ca = await makeCa("providers");
    certs = await Promise.all([0, 1].map((i) => ca.issue(`provider-${i}`, name)));
    [servers, host, provider] = await startStack((address) =>
      Promise.all(
        certs.map((c, i) =>
          startServer({
            serverId: 700 + i,
            host: address,
            clientCa: ca.ca,
            options: {
              ...REPLICATION_OPTIONS,
              "read-only": 1,
              ssl_ca: ca.caPath,
              ssl_cert: c.cert,
              ssl_key: c.key,
              require_secure_transport: "ON",
            },
          }),
        ),
      ),
    );
  });
  afterAll(async () => {
    await host?.stop();
    await destroyAll(servers);
    ca?.remove();
  });

  const pem = (c: Certificate) => fs.readFileSync(c.cert, "utf8");
  const topology = (certificates: string[]) =>
    declaration(provider, servers, "repl-Pw-tls-1", { ca: ca.ca, caPath: ca.caPath, certificates });

  test("sets up replication over verified TLS; a renewed certificate is announced by preview and loaded by up without a restart", async () => {
    const created = await host.up("db-topology", topology(certs.map(pem)));
    expect(created.outputs.primaryOrdinal).toBe(0);
    const [status] = await servers[1].query("SHOW SLAVE STATUS");
    expect([
      status.Slave_IO_Running,
      status.Master_SSL_Allowed,
      status.Master_SSL_Verify_Server_Cert,
      status.Master_Host,
    ]).toEqual(["Yes", "Yes", "Yes", name]);
    expect((await host.preview("db-topology", topology(certs.map(pem)))).diff!.changes).toBe(false);

    // The stack renewed member 1's certificate; the kubelet wrote the new files.
    const renewed = await ca.issue("provider-1-renewed", name, 5);
    const certificates = [pem(certs[0]), pem(renewed)];
    const preview = await host.preview("db-topology", topology(certificates));
    expect(preview.op).toBe("update");
    expect(preview.outputs.plan).toBe(
      "no change: the topology is healthy and as configured; renew certificates: FLUSH SSL on member 1 (no restart)",
    );
    fs.copyFileSync(renewed.key, certs[1].key);
    fs.copyFileSync(renewed.cert, certs[1].cert);
    const pid = servers[1].process!.pid;
    const updated = await host.up("db-topology", topology(certificates));
    expect(updated.outputs.plan).toBe("renewed certificates loaded: FLUSH SSL on member 1");
    expect(servers[1].process!.pid).toBe(pid);
    const [{ Value: notAfter }] = await servers[1].query("SHOW GLOBAL STATUS LIKE 'Ssl_server_not_after'");
    expect(new Date(notAfter).getTime()).toBe(new Date(new X509Certificate(certificates[1]).validTo).getTime());
    expect((await host.preview("db-topology", topology(certificates))).diff!.changes).toBe(false);
  });
});

describe("turning TLS on for a stack that ran without it", () => {
  let ca: TestCa;
  let servers: LocalServer[] = [];
  let host: DynamicHost;
  let provider: string;

  beforeAll(async () => {
    ca = await makeCa("providers-enable");
    [servers, host, provider] = await startStack((address) =>
      Promise.all(
        [0, 1].map((i) =>
          startServer({ serverId: 720 + i, host: address, options: { ...REPLICATION_OPTIONS, "read-only": 1 } }),
        ),
      ),
    );
  });
  afterAll(async () => {
    await host?.stop();
    await destroyAll(servers);
    ca?.remove();
  });

  const topology = (tls?: { ca: string; caPath: string }) => declaration(provider, servers, "repl-Pw-tls-2", tls);

  test("the first up with TLS reaches the members that do not serve it yet in plain text, saying so, and moves replication to verified TLS once they do", async () => {
    await host.up("db-topology", topology());
    const tls = { ca: ca.ca, caPath: ca.caPath };
    // The preview of the up that turns TLS on, before the pods restart with their certificates.
    const preview = await host.preview("db-topology", topology(tls));
    expect(preview.outputs.plan).toBe(
      "no change: the topology is healthy and as configured; enable TLS: members 0, 1 do not serve TLS yet (reached in plain text until restarted with their certificates)",
    );

    // The rolling restart gives every member its certificate (replica first), as the StatefulSet's new template does.
    for (const i of [1, 0]) await restartWithTls(servers[i], ca, await ca.issue(`enable-provider-${i}`, name), i !== 0);
    const updated = await host.up("db-topology", topology(tls));
    expect(updated.outputs.plan).toBe("attach member 1");
    const [status] = await servers[1].query("SHOW SLAVE STATUS");
    expect([status.Slave_IO_Running, status.Master_SSL_Allowed, status.Master_SSL_Verify_Server_Cert]).toEqual([
      "Yes",
      "Yes",
      "Yes",
    ]);
    // From now on TLS is strict: nothing left to do, and a member in plain text would be unreachable.
    expect((await host.preview("db-topology", topology(tls))).diff!.changes).toBe(false);
  });
});
