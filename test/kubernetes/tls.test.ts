/**
 * What the pods do with TLS on: init-server.sh points each member at its own certificate from the mounted Secret
 * (or refuses to start without it), and a real mariadbd started with the rendered options serves only TLS, verified
 * by the engine under the member's DNS name.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as mysql from "mysql2/promise";
import {
  LOCAL_ROOT_PASSWORD,
  LOCAL_ROOT_USER,
  LocalServer,
  REPLICATION_OPTIONS,
  startServer,
} from "../../local/mariadbd";
import { SCRIPTS_DIR } from "../../components/kubernetes/scripts";
import { renderServerCnf } from "../../components/kubernetes/server-config";
import { TLS_KEYS } from "../../components/kubernetes/tls";
import { parseCnf } from "../../components/kubernetes/config-hash";
import { validateConfig } from "../../components/config";
import { inspect } from "../../components/replication";
import { TestCa, makeCa, memberDnsName } from "../replication/certificates";
import { settingsFor } from "../replication/support";

let ca: TestCa;
let dir: string;
beforeAll(async () => {
  ca = await makeCa("pods");
});
afterAll(() => ca?.remove());
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-init-tls-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The TLS Secret as the kubelet projects it: ca.crt and each member's pair, by the Secret's keys. */
async function tlsVolume(members: number[]): Promise<string> {
  const volume = path.join(dir, "tls");
  fs.mkdirSync(volume);
  fs.copyFileSync(ca.caPath, path.join(volume, TLS_KEYS.ca));
  for (const i of members) {
    const pair = await ca.issue(`pod-${i}-${path.basename(dir)}`, memberDnsName(i));
    fs.copyFileSync(pair.cert, path.join(volume, TLS_KEYS.cert(i)));
    fs.copyFileSync(pair.key, path.join(volume, TLS_KEYS.key(i)));
  }
  return volume;
}

/** Runs init-server.sh for `pod` with the shared options rendered for `config`; returns its status, output and the files it wrote. */
function initServer(pod: string, tlsDir: string | undefined, config: Record<string, unknown>) {
  const { settings, errors } = validateConfig(config);
  if (!settings) throw new Error(errors.map((e) => e.message).join("; "));
  fs.mkdirSync(path.join(dir, "config"), { recursive: true });
  fs.writeFileSync(path.join(dir, "config", "50-mysql-ha.cnf"), renderServerCnf(settings));
  const confOut = path.join(dir, "conf.d");
  const r = spawnSync("bash", [path.join(SCRIPTS_DIR, "init-server.sh")], {
    env: {
      PATH: process.env.PATH!,
      POD_NAME: pod,
      CONFIG_DIR: path.join(dir, "config"),
      CONF_OUT: confOut,
      ...(tlsDir ? { TLS_DIR: tlsDir } : {}),
    },
    encoding: "utf8",
  });
  const text = fs.existsSync(confOut)
    ? fs
        .readdirSync(confOut)
        .sort()
        .map((f) => fs.readFileSync(path.join(confOut, f), "utf8"))
        .join("\n")
    : "";
  return { status: r.status, out: (r.stdout + r.stderr).trim(), options: parseCnf(text) };
}

describe("init-server.sh with TLS", () => {
  it("points the member at its own certificate and key by ordinal", async () => {
    const volume = await tlsVolume([0, 1, 2]);
    const r = initServer("mysql-2", volume, { tlsRequired: true });
    expect(r.status).toBe(0);
    expect(r.options).toMatchObject({
      ssl_ca: "/etc/mysql-ha/tls/ca.crt",
      require_secure_transport: "ON",
      ssl_cert: `${volume}/member-2.crt`,
      ssl_key: `${volume}/member-2.key`,
    });
  });

  it("refuses to start a member whose key is missing from the Secret, naming the key", async () => {
    const volume = await tlsVolume([0]);
    const r = initServer("mysql-1", volume, {});
    expect(r.status).not.toBe(0);
    expect(r.out).toBe(
      `init-server: TLS is on but ${volume}/member-1.crt is missing or empty (the TLS Secret has no key member-1.crt for member 1)`,
    );
  });

  it("refuses a key that is not the certificate's, and a certificate another CA signed, naming the files", async () => {
    const volume = await tlsVolume([0, 1]);
    fs.copyFileSync(path.join(volume, TLS_KEYS.key(0)), path.join(volume, TLS_KEYS.key(1)));
    const mismatched = initServer("mysql-1", volume, {});
    expect([mismatched.status, mismatched.out]).toEqual([
      1,
      `init-server: TLS: ${volume}/member-1.key is not the private key of ${volume}/member-1.crt (a mismatched pair in the TLS Secret): mariadbd would not start with it`,
    ]);

    const other = await makeCa("pods-other");
    try {
      const foreign = await other.issue("foreign", memberDnsName(0));
      fs.copyFileSync(foreign.cert, path.join(volume, TLS_KEYS.cert(0)));
      fs.copyFileSync(foreign.key, path.join(volume, TLS_KEYS.key(0)));
      const r = initServer("mysql-0", volume, {});
      expect([r.status, r.out]).toEqual([
        1,
        `init-server: TLS: ${volume}/member-0.crt is not signed by the CA in ${volume}/ca.crt (replicas and the engine would refuse it): error 20 at 0 depth lookup: unable to get local issuer certificate`,
      ]);
    } finally {
      other.remove();
    }
  });

  it("starts a member whose certificate expired, warning that it is refused until renewed", async () => {
    const volume = await tlsVolume([]);
    const expired = await ca.issue(`pod-expired-${path.basename(dir)}`, memberDnsName(0), 0);
    fs.copyFileSync(expired.cert, path.join(volume, TLS_KEYS.cert(0)));
    fs.copyFileSync(expired.key, path.join(volume, TLS_KEYS.key(0)));
    await new Promise((r) => setTimeout(r, 1100)); // -days 0: it expires the second it was made
    const r = initServer("mysql-0", volume, {});
    expect(r.status).toBe(0);
    expect(r.out).toMatch(
      new RegExp(
        `^init-server: WARNING: TLS: ${volume}/member-0\\.crt has expired \\(notAfter=.*\\): replicas and the engine will refuse this member until pulumi up renews it$`,
        "m",
      ),
    );
    expect(r.options.ssl_cert).toBe(`${volume}/member-0.crt`);
  });

  it("starts a member whose certificate lacks 127.0.0.1, warning that its metrics sidecar will refuse it; no warning with it", async () => {
    const volume = await tlsVolume([1]);
    const withLoopback = initServer("mysql-1", volume, {});
    expect(withLoopback.status).toBe(0);
    expect(withLoopback.out).not.toMatch(/WARNING/);
    const dnsOnly = await ca.issue(`pod-dns-only-${path.basename(dir)}`, memberDnsName(0), 2, []);
    fs.copyFileSync(dnsOnly.cert, path.join(volume, TLS_KEYS.cert(1)));
    fs.copyFileSync(dnsOnly.key, path.join(volume, TLS_KEYS.key(1)));
    const r = initServer("mysql-1", volume, {});
    expect(r.status).toBe(0);
    expect(r.out.split("\n")).toContain(
      `init-server: WARNING: TLS: ${volume}/member-1.crt does not carry the IP address 127.0.0.1 (a subject alternative name): the mysqld_exporter sidecar (config metrics) verifies its member at 127.0.0.1 and will refuse it (mysql_up 0); clients, replication and the engine verify DNS names and are not affected`,
    );
    expect(r.options.ssl_cert).toBe(`${volume}/member-1.crt`);
  });

  it("writes no TLS option with tls off", () => {
    const r = initServer("mysql-0", undefined, { tls: "off" });
    expect(r.status).toBe(0);
    expect(Object.keys(r.options).filter((k) => /ssl|secure/.test(k))).toEqual([]);
  });
});

describe("a member started with the rendered TLS options", () => {
  let server: LocalServer | undefined;
  afterEach(async () => server?.destroy());

  it("serves only TLS, and the engine verifies it under the member's DNS name", async () => {
    const volume = await tlsVolume([0]);
    const { options } = initServer("mysql-0", volume, { tlsRequired: true });
    const tlsOptions = Object.fromEntries(
      Object.entries(options).filter(([k]) => /^ssl_|^require_secure_transport$/.test(k)),
    );
    // The CA path of the pod, mapped to where this test's volume is.
    tlsOptions.ssl_ca = path.join(volume, TLS_KEYS.ca);
    server = await startServer({ serverId: 500, clientCa: ca.ca, options: { ...REPLICATION_OPTIONS, ...tlsOptions } });

    const t = await inspect(
      [{ host: server.host, port: server.port }],
      settingsFor([], { tls: { ca: ca.ca, caPath: tlsOptions.ssl_ca as string, serverName: memberDnsName } }),
    );
    expect(t.members[0]).toMatchObject({ reachable: true, tls: true });
    await expect(
      mysql.createConnection({
        host: server.host,
        port: server.port,
        user: LOCAL_ROOT_USER,
        password: LOCAL_ROOT_PASSWORD,
      }),
    ).rejects.toThrow();

    // The pod's own clients on loopback (probes; the archiver's mariadb and mariadb-binlog, the donor's mariadb-backup
    // through backup-lib.sh's option file) need nothing more: MariaDB 10.11's clients use TLS whenever the server offers it.
    const env = {
      PATH: process.env.PATH!,
      MYSQL_HA_HOST: server.host,
      MYSQL_HA_PORT: String(server.port),
      PROBE_USER: LOCAL_ROOT_USER,
      MYSQL_PWD: LOCAL_ROOT_PASSWORD,
    };
    expect(spawnSync("bash", [path.join(SCRIPTS_DIR, "probe-liveness.sh")], { env, encoding: "utf8" }).status).toBe(0);
    const sidecar = (command: string) =>
      spawnSync(
        "bash",
        [
          "-c",
          `. "${SCRIPTS_DIR}/backup-lib.sh"; work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; defaults=$(mysql_defaults "$work"); ${command}`,
        ],
        {
          env: { PATH: process.env.PATH!, MYSQL_USER: LOCAL_ROOT_USER, MYSQL_PASSWORD: LOCAL_ROOT_PASSWORD },
          encoding: "utf8",
        },
      );
    const client = `--defaults-extra-file="$defaults" --host=${server.host} --port=${server.port}`;
    expect(sidecar(`mariadb ${client} -N -B -e "SHOW SESSION STATUS LIKE 'Ssl_cipher'"`).stdout).toMatch(
      /^Ssl_cipher\t\S+/,
    );
    expect(sidecar(`mariadb-binlog ${client} --read-from-remote-server mysql-bin.000001 >/dev/null`).status).toBe(0);
    const backup = sidecar(
      `mariadb-backup ${client} --backup --target-dir=${path.join(dir, "backup")} --datadir=${server.datadir}`,
    );
    expect([
      backup.status,
      backup.stderr
        .split("\n")
        .filter((l) => /completed OK|error/i.test(l))
        .pop(),
    ]).toEqual([0, expect.stringMatching(/completed OK!/)]);
  });
});
