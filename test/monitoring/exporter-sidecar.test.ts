/**
 * The rendered mysqld_exporter sidecar runs, unchanged, with Debian's mysqld_exporter 0.14 against a real MariaDB:
 * its args exactly as rendered, its env and Secret volumes resolved as the kubelet does (local/kubelet.ts) and
 * mounted at the container's own paths (a private mount namespace with an overlay on /etc), in a network namespace
 * of its own where the member listens on 127.0.0.1:3306 as in the pod; the metrics account is made with the flavor's
 * grants and the rendered password. The test scrapes its port from outside the namespace and reads mysql_up.
 *
 * With TLS (the prod stack) the member requires secure transport and the exporter must verify it against the CA of
 * the TLS Secret: the program's own @pulumi/tls resources are made for real by the demo's openssl stand-in
 * (local/certificates.ts), so the member serves the very certificate the stack makes for member 0 and the exporter
 * trusts the stack's CA; a certificate of another CA, or one of the stack's CA without 127.0.0.1 (the address the
 * exporter connects to), makes the exporter refuse the server (mysql_up 0).
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as mysql from "mysql2/promise";
import { specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { mariadb } from "../../components/replication";
import { Sql } from "../../components/replication/connection";
import { ACCOUNTS } from "../../components/kubernetes/secret";
import { tlsSecretName, tlsSubjectAltNames, TLS_KEYS } from "../../components/kubernetes/tls";
import { EXPORTER_PORT, objectNames } from "../../components/kubernetes/names";
import { kubernetesManifests, renderStack } from "../../offline/render";
import { projectVolume, resolveEnv } from "../../local/kubelet";
import {
  LOCAL_ROOT_PASSWORD,
  LOCAL_ROOT_USER,
  LocalServer,
  ServerOptions,
  sleep,
  startServer,
} from "../../local/mariadbd";
import { NetworkLab } from "../../local/netns";
import { LocalCertificates, TLS_TYPES } from "../../local/certificates";
import { makeCa, memberDnsName } from "../replication/certificates";

const MONITORED = { metrics: "true", monitoring: "prometheus-operator" };
const POD = "mysql-0";
const names = objectNames("mysql");

function unwrap(value: any): any {
  const v = value && typeof value === "object" && value[specialSigKey] !== undefined ? unwrap(value.value) : value;
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  return v;
}

/**
 * The rendered pod of the members, and every Secret's and ConfigMap's data as the API server would hold it; the
 * program's @pulumi/tls resources made for real by `certificates` (their outputs by resource name in `tls`).
 */
async function renderPod(set: Record<string, string>, certificates: LocalCertificates) {
  const secrets = new Map<string, Record<string, string>>();
  const tls = new Map<string, Record<string, any>>();
  const r = await renderStack({
    stack: "prod",
    set,
    onResource: async (args) => {
      const made = await certificates.outputs(args.type, args.name, unwrap(args.inputs));
      if (made) {
        tls.set(args.name, made);
        return { id: args.name, state: { ...args.inputs, ...made } };
      }
      // The Secrets' values before the render redacts them (the passwords the mocks generated, the keys made).
      if (args.type === "kubernetes:core/v1:Secret") {
        const inputs = unwrap(args.inputs);
        secrets.set(inputs.metadata.name, inputs.stringData);
      }
      return undefined;
    },
  });
  expect(r.errors).toEqual([]);
  const manifests = kubernetesManifests(r).map((m) => m.manifest);
  const configMaps = new Map(manifests.filter((m) => m.kind === "ConfigMap").map((m) => [m.metadata.name, m.data]));
  const pod = manifests.find((m) => m.kind === "StatefulSet")!.spec.template.spec;
  return { pod, secrets, configMaps, tls };
}

/** A member as the pod has it: 127.0.0.1:3306 in a network namespace of its own (the test reaches it by its socket). */
async function startMember(lab: NetworkLab, serverId: number, options: ServerOptions): Promise<LocalServer> {
  const host = await lab.addHost(`member-${serverId}`);
  return startServer({ serverId, netns: host.netns, port: 3306, options: { "log-bin": "mysql-bin", ...options } });
}

/** `fn` on a root session over the member's socket (the test is outside the member's network namespace). */
async function asRoot(server: LocalServer, fn: (sql: Sql) => Promise<unknown>): Promise<void> {
  const conn = await mysql.createConnection({
    socketPath: server.socket,
    user: LOCAL_ROOT_USER,
    password: LOCAL_ROOT_PASSWORD,
  });
  const sql: Sql = {
    index: 0,
    address: server.socket,
    tls: false,
    query: async (statement, params) => (await conn.query(statement, params))[0] as any,
    close: () => conn.end(),
    destroy: () => conn.destroy(),
  };
  try {
    await fn(sql);
  } finally {
    await sql.close();
  }
}

/** The metrics account with the flavor's grants, as setup makes it. */
function createMetricsAccount(server: LocalServer, password: string): Promise<void> {
  return asRoot(server, (sql) =>
    mariadb.ensureAccount(sql, { role: "metrics", user: ACCOUNTS.metrics.user, password }),
  );
}

/**
 * Runs the container's args with Debian's exporter in the member's network namespace, its env resolved and its
 * volumes projected as the kubelet does and bound at their mount paths (all under /etc: an overlay of /etc in a
 * private mount namespace takes the mount points, so the host's /etc is untouched).
 */
function runExporter(
  container: any,
  pod: any,
  netns: string,
  dir: string,
  data: { secrets: Map<string, any>; configMaps: Map<string, any> },
): ChildProcess {
  const lookup = { secrets: (n: string) => data.secrets.get(n), configMaps: (n: string) => data.configMaps.get(n) };
  const env = Object.fromEntries(resolveEnv(container, POD, lookup.secrets));
  const binds: string[] = [];
  for (const mount of container.volumeMounts ?? []) {
    if (!mount.mountPath.startsWith("/etc/"))
      throw new Error(`mount ${mount.mountPath} is outside /etc, which this test overlays`);
    const local = path.join(dir, "volumes", mount.name);
    const volume = pod.volumes.find((v: any) => v.name === mount.name);
    if (!projectVolume(volume, local, POD, lookup))
      throw new Error(`volume ${mount.name} is neither a ConfigMap nor a Secret`);
    binds.push(local, mount.mountPath);
  }
  for (const d of ["upper", "work"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const script = [
    "set -e",
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${dir}/upper,workdir=${dir}/work /etc`,
    `while [ "$1" != -- ]; do mkdir -p "$2"; mount --bind "$1" "$2"; mount -o remount,bind,ro "$2"; shift 2; done; shift`,
    'exec prometheus-mysqld-exporter "$@"',
  ].join("\n");
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      netns,
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      script,
      "sh",
      ...binds,
      "--",
      ...container.args,
    ],
    { env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr!.on("data", (d) => (log = (log + d).slice(-4000)));
  (child as any).log = () => log;
  return child;
}

/**
 * Scrapes the exporter's port (the pod's port, from outside its namespace) until mysql_up is `want` (or, without
 * `want`, present) or 20 s passed; returns the last mysql_up and page. The exporter's log if it exits.
 */
async function scrapeUp(
  child: ChildProcess,
  ip: string,
  want?: string,
): Promise<{ up: string | undefined; body: string }> {
  const end = Date.now() + 20000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exporter exited with ${child.exitCode}: ${(child as any).log()}`);
    const body = await fetch(`http://${ip}:${EXPORTER_PORT}/metrics`)
      .then((r) => r.text())
      .catch(() => "");
    const up = /^mysql_up (\S+)$/m.exec(body)?.[1];
    if (up !== undefined && (want === undefined || up === want)) return { up, body };
    if (Date.now() > end) {
      if (up !== undefined) return { up, body };
      throw new Error(`no mysql_up from the exporter within 20 s: ${(child as any).log()}`);
    }
    await sleep(200);
  }
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

describe("the rendered mysqld_exporter sidecar, run by Debian's mysqld_exporter 0.14 against a real member", () => {
  let lab: NetworkLab | undefined;
  let server: LocalServer | undefined;
  let exporter: ChildProcess | undefined;
  let dir = "";
  let certificates: LocalCertificates | undefined;
  beforeEach(async () => {
    lab = await NetworkLab.create();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-exporter-"));
    certificates = new LocalCertificates();
  });
  afterEach(async () => {
    await stop(exporter);
    exporter = undefined;
    await server?.destroy();
    server = undefined;
    await lab?.destroy();
    certificates?.close();
    certificates = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("TLS off: as rendered, the metrics account over 127.0.0.1:3306, mysql_up 1 and the binlog sizes", async () => {
    const { pod, secrets, configMaps } = await renderPod(
      { ...MONITORED, tls: "off", tlsRequired: "false" },
      certificates!,
    );
    const container = pod.containers.find((c: any) => c.name === "mysqld-exporter");
    server = await startMember(lab!, 3101, {});
    await createMetricsAccount(server, secrets.get(names.secret)![ACCOUNTS.metrics.secretKey]);
    exporter = runExporter(container, pod, server.spec.netns!, dir, { secrets, configMaps });
    const { up, body } = await scrapeUp(exporter, lab!.host("member-3101").ip);
    expect(up).toBe("1");
    expect(body).toMatch(/^mysql_binlog_files 1$/m);
    expect(body).toMatch(/^mysql_global_status_uptime \d+/m);
  }, 90000);
  it("TLS required (prod): the member serves the certificate the stack made for it, the exporter verifies it against the stack's CA (mysql_up 1); another CA's or one without 127.0.0.1 gets mysql_up 0", async () => {
    const { pod, secrets, configMaps, tls } = await renderPod(MONITORED, certificates!);
    const container = pod.containers.find((c: any) => c.name === "mysqld-exporter");
    const stackTls = secrets.get(tlsSecretName(names))!;
    const write = (name: string, pem: string) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, pem, { mode: 0o600 });
      return file;
    };
    const stack = {
      cert: write("stack-member-0.crt", stackTls[TLS_KEYS.cert(0)]),
      key: write("stack-member-0.key", stackTls[TLS_KEYS.key(0)]),
    };
    const other = await makeCa("exporter-other");
    const wrongCa = await other.issue("member-0", memberDnsName(0));
    // Signed by the stack's CA with member 0's DNS names alone, not 127.0.0.1.
    const make = async (type: string, name: string, inputs: Record<string, unknown>) =>
      (await certificates!.outputs(type, name, inputs))!;
    const key = (await make(TLS_TYPES.privateKey, "dns-only-key", { algorithm: "ECDSA", ecdsaCurve: "P256" }))
      .privateKeyPem as string;
    const request = await make(TLS_TYPES.certRequest, "dns-only-request", {
      privateKeyPem: key,
      subject: { commonName: "mysql-0" },
      dnsNames: tlsSubjectAltNames(names, { namespace: "mysql-ha" }, 0).dnsNames,
    });
    const dnsOnly = await make(TLS_TYPES.locallySignedCert, "dns-only", {
      certRequestPem: request.certRequestPem,
      caCertPem: tls.get("mysql-tls-ca")!.certPem,
      caPrivateKeyPem: tls.get("mysql-tls-ca-key")!.privateKeyPem,
      validityPeriodHours: 48,
      allowedUses: ["digital_signature", "server_auth", "client_auth"],
    });
    const wrongName = { cert: write("dns-only.crt", dnsOnly.certPem as string), key: write("dns-only.key", key) };
    // The member's files, swapped between the certificates and reloaded with FLUSH SSL.
    const served = { cert: path.join(dir, "server.crt"), key: path.join(dir, "server.key") };
    const serve = async (pair: { cert: string; key: string }, reload: boolean) => {
      fs.copyFileSync(pair.cert, served.cert);
      fs.copyFileSync(pair.key, served.key);
      if (reload) await asRoot(server!, (sql) => sql.query("FLUSH LOCAL SSL"));
    };
    try {
      await serve(stack, false);
      server = await startMember(lab!, 3102, {
        "ssl-ca": write("ca.crt", stackTls[TLS_KEYS.ca]),
        "ssl-cert": served.cert,
        "ssl-key": served.key,
        "require-secure-transport": 1,
      });
      await createMetricsAccount(server, secrets.get(names.secret)![ACCOUNTS.metrics.secretKey]);
      exporter = runExporter(container, pod, server.spec.netns!, dir, { secrets, configMaps });
      const ip = lab!.host("member-3102").ip;
      expect((await scrapeUp(exporter, ip)).up).toBe("1");
      // Each refused certificate, then the stack's again: the same exporter connects once more.
      for (const bad of [wrongCa, wrongName]) {
        await serve(bad, true);
        expect((await scrapeUp(exporter, ip, "0")).up).toBe("0");
        await serve(stack, true);
        expect((await scrapeUp(exporter, ip, "1")).up).toBe("1");
      }
    } finally {
      other.remove();
    }
  }, 90000);
});
