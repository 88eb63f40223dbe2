/**
 * TLS with real certificates (openssl) on real local members: the engine verifies every member's certificate and
 * name, replication runs over TLS verifying the source, nothing falls back to plain text, and switchover and failover
 * keep it.
 */
import * as path from "node:path";
import * as mysql from "mysql2/promise";
import {
  LOCAL_ROOT_PASSWORD,
  LOCAL_ROOT_USER,
  LocalServer,
  REPLICATION_OPTIONS,
  destroyAll,
  sleep,
  startServer,
} from "../../local/mariadbd";
import * as fs from "node:fs";
import {
  TlsSettings,
  failover,
  inspect,
  reconcile,
  reloadCertificates,
  setup,
  staleCertificates,
  switchover,
  topologyToJson,
  validityOf,
} from "../../components/replication";
import { Certificate, TestCa, makeCa, memberDnsName, restartWithTls } from "./certificates";
import { runCli } from "../cli/run-cli";
import { Lab, REPL_PASSWORD, Writer, cleanup, ids, settingsFor, setUpLab, waitReplicated } from "./support";

let ca: TestCa;
let otherCa: TestCa;

beforeAll(async () => {
  [ca, otherCa] = await Promise.all([makeCa("main"), makeCa("other")]);
});
afterAll(() => {
  ca?.remove();
  otherCa?.remove();
});

/** The engine's TLS settings: the CA, member i checked under its DNS name although it is reached on 127.0.0.1. */
function tlsWith(authority: TestCa, caPath = authority.caPath): TlsSettings {
  return { ca: authority.ca, caPath, serverName: memberDnsName };
}

/** n members with a certificate each from `ca` and TLS required; the lab's settings use TLS. `certs`: each member's files. */
async function startTlsLab(
  n: number,
  opts: { setUp?: boolean; tls?: TlsSettings; requireTls?: boolean } = {},
): Promise<Lab & { certs: Certificate[] }> {
  const certs = await Promise.all(
    Array.from({ length: n }, (_, i) => ca.issue(`m${i}-${Date.now()}`, memberDnsName(i))),
  );
  const settled = await Promise.allSettled(
    certs.map((c, i) =>
      startServer({
        serverId: 300 + i,
        clientCa: ca.ca,
        options: {
          ...REPLICATION_OPTIONS,
          ssl_ca: ca.caPath,
          ssl_cert: c.cert,
          ssl_key: c.key,
          require_secure_transport: opts.requireTls === false ? "OFF" : "ON",
          // status_by_thread shows the replication sessions' Ssl_cipher on the primary.
          performance_schema: "ON",
        },
      }),
    ),
  );
  const servers = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    await destroyAll(servers);
    throw failed.reason;
  }
  const lines: string[] = [];
  const lab = {
    certs,
    servers,
    members: servers.map((s) => ({ host: s.host, port: s.port })),
    settings: settingsFor(lines, { tls: opts.tls ?? tlsWith(ca) }),
    lines,
    writers: [],
    clientCa: ca.ca,
  };
  if (opts.setUp) await setUpLab(lab);
  return lab;
}

/** Ssl_cipher of the replicas' binlog dump sessions on the primary (the server's side of replication). */
async function dumpCiphers(primary: LocalServer): Promise<string[]> {
  const rows = await primary.query<{ c: string }>(
    `SELECT s.VARIABLE_VALUE AS c FROM performance_schema.threads t JOIN performance_schema.status_by_thread s USING (THREAD_ID)
      WHERE t.PROCESSLIST_COMMAND = 'Binlog Dump' AND s.VARIABLE_NAME = 'Ssl_cipher'`,
  );
  return rows.map((r) => r.c);
}

async function slaveSsl(server: LocalServer): Promise<{ allowed: string; verify: string; ca: string }> {
  const [rs] = await server.query("SHOW SLAVE STATUS");
  return { allowed: rs.Master_SSL_Allowed, verify: rs.Master_SSL_Verify_Server_Cert, ca: rs.Master_SSL_CA_File };
}

/** Every reachable replica replicates from `primary` over TLS verifying it, and the primary sees encrypted sessions. */
async function expectTlsEverywhere(lab: Lab, primary: number, replicas: number[]): Promise<void> {
  const t = await inspect(lab.members, lab.settings);
  expect(t.problems).toEqual([]);
  expect(t.primary).toBe(primary);
  for (const i of replicas) {
    expect(t.members[i].replica).toMatchObject({ sourceIndex: primary, tls: true });
    expect(await slaveSsl(lab.servers[i])).toEqual({ allowed: "Yes", verify: "Yes", ca: ca.caPath });
  }
  for (const m of t.members.filter((m) => m.reachable)) expect(m.tls).toBe(true);
  // The dump threads' sessions may still be starting right after a repoint.
  for (let i = 0; i < 50 && (await dumpCiphers(lab.servers[primary])).length < replicas.length; i++) await sleep(100);
  const ciphers = await dumpCiphers(lab.servers[primary]);
  expect(ciphers).toHaveLength(replicas.length);
  for (const c of ciphers) expect(c).toMatch(/^TLS_|^ECDHE-|AES/);
}

describe("TLS", () => {
  let lab: Lab | undefined;
  afterEach(async () => cleanup(lab));

  it("replicates over TLS with verification, refuses plain clients, and keeps TLS through switchover and failover under a writer", async () => {
    lab = await startTlsLab(3, { setUp: true });
    expect(lab.lines.join("\n")).toMatch(
      /member 1: replicating from member 0 \(GTID auto-positioning, semi-sync, TLS verified\)/,
    );
    await expectTlsEverywhere(lab, 0, [1, 2]);
    const json = topologyToJson(await inspect(lab.members, lab.settings));
    expect(json.members.map((m) => [m.tls, m.replicationTls])).toEqual([
      [true, null],
      [true, true],
      [true, true],
    ]);

    // A plain-text client with the right password is refused; the same account over TLS is let in.
    const plain = mysql.createConnection({
      host: "127.0.0.1",
      port: lab.servers[0].port,
      user: LOCAL_ROOT_USER,
      password: LOCAL_ROOT_PASSWORD,
    });
    await expect(plain).rejects.toThrow(/Access denied|insecure transport/i);
    expect(await lab.servers[0].query("SELECT 1 AS one")).toEqual([{ one: 1 }]);

    const writer = new Writer(lab, 0);
    await sleep(400);
    await switchover(lab.members, 2, lab.settings);
    await sleep(300);
    await expectTlsEverywhere(lab, 2, [0, 1]);

    await lab.servers[2].signal("SIGKILL");
    const acked = writer.acked.slice();
    const r = await failover(lab.members, undefined, lab.settings);
    await sleep(300);
    await writer.stop();
    const survivor = r.chosen === 0 ? 1 : 0;
    const t = await inspect(lab.members, lab.settings);
    expect(t.primary).toBe(r.chosen);
    expect(t.members[survivor].replica).toMatchObject({ sourceIndex: r.chosen, tls: true });
    expect(await slaveSsl(lab.servers[survivor])).toEqual({ allowed: "Yes", verify: "Yes", ca: ca.caPath });
    expect(await dumpCiphers(lab.servers[r.chosen!])).toHaveLength(1);
    const onNew = await ids(lab.servers[r.chosen!]);
    expect(acked.length).toBeGreaterThan(20);
    expect(writer.acked.filter((id) => !onNew.has(id))).toEqual([]);
  });

  it("refuses a member whose certificate comes from another CA or names another host, and a member without TLS, naming the member", async () => {
    lab = await startTlsLab(2, { setUp: true });
    const foreign = await inspect(lab.members, settingsFor([], { tls: tlsWith(otherCa) }));
    for (const m of foreign.members) {
      expect(m.reachable).toBe(false);
      expect(m.error).toBe(
        `TLS: the member's certificate did not verify as '${memberDnsName(m.index)}' against the configured CA: self-signed certificate in certificate chain`,
      );
    }
    expect(foreign.problems[0].message).toMatch(/^member 0 \(127\.0\.0\.1:\d+\) is unreachable: TLS: /);
    await expect(setup(lab.members, 0, settingsFor([], { tls: tlsWith(otherCa) }))).rejects.toThrow(/member 0 .*TLS: /);

    const wrongName = await inspect(
      lab.members,
      settingsFor([], { tls: { ...tlsWith(ca), serverName: () => "someone-else.db.test" } }),
    );
    expect(wrongName.members[1].error).toMatch(
      /did not verify as 'someone-else\.db\.test' against the configured CA: Hostname\/IP does not match certificate's altnames: Host: someone-else\.db\.test\. is not in the cert's altnames: DNS:member-1\.db\.test, IP Address:127\.0\.0\.1$/,
    );

    const byIp = await inspect(lab.members, settingsFor([], { tls: { ca: ca.ca, caPath: ca.caPath } }));
    expect(byIp.members[0].error).toMatch(/IP address 127\.0\.0\.1.*give its DNS name/);

    const plainServer = await startServer({ serverId: 399, options: REPLICATION_OPTIONS });
    lab.servers.push(plainServer);
    const noTls = await inspect(
      [{ host: plainServer.host, port: plainServer.port }],
      settingsFor([], { tls: tlsWith(ca) }),
    );
    expect(noTls.members[0].error).toMatch(/^TLS: the member does not offer TLS .*never falls back to plain text$/);
  });

  it("refuses a member serving an expired certificate, saying so", async () => {
    const expired = await ca.issue(`expired-${Date.now()}`, memberDnsName(0), 0);
    await sleep(1100); // -days 0: it expires the second it was made
    const server = await startServer({
      serverId: 398,
      options: { ...REPLICATION_OPTIONS, ssl_ca: ca.caPath, ssl_cert: expired.cert, ssl_key: expired.key },
    });
    lab = { servers: [server], writers: [] } as unknown as Lab; // for the clean-up
    const t = await inspect([{ host: server.host, port: server.port }], settingsFor([], { tls: tlsWith(ca) }));
    expect(t.members[0].error).toBe(
      "TLS: the member's certificate did not verify as 'member-0.db.test' against the configured CA: certificate has expired",
    );
    expect(t.problems[0].message).toMatch(
      /^member 0 \(127\.0\.0\.1:\d+\) is unreachable: TLS: .*certificate has expired$/,
    );
  });

  it("replication refuses a source whose certificate the replica's CA did not sign; nothing replicates in plain text", async () => {
    // The engine trusts the members' CA, the replicas are told to verify their source against another one.
    lab = await startTlsLab(2, { tls: tlsWith(ca, otherCa.caPath) });
    await expect(setup(lab.members, 0, lab.settings)).rejects.toThrow(
      /member 1: replication from member 0 failed: .*SSL/i,
    );
    const [rs] = await lab.servers[1].query("SHOW SLAVE STATUS");
    expect(rs.Slave_IO_Running).not.toBe("Yes");
    expect(rs.Master_SSL_Verify_Server_Cert).toBe("Yes");
    expect(await dumpCiphers(lab.servers[0])).toEqual([]);
  });

  it("an up with TLS re-attaches a replica that replicates in plain text", async () => {
    lab = await startTlsLab(2, { setUp: true, requireTls: false });
    // As a stack from before TLS left it: the replica streams in plain text.
    await lab.servers[1].query("STOP SLAVE");
    await lab.servers[1].query("CHANGE MASTER TO MASTER_SSL = 0, MASTER_SSL_VERIFY_SERVER_CERT = 0");
    await lab.servers[1].query("START SLAVE");
    const before = await inspect(lab.members, lab.settings);
    expect(before.members[1].replica).toMatchObject({ sourceIndex: 0, ioThread: expect.any(String), tls: false });
    expect(before.problems).toEqual([
      {
        kind: "replication-without-tls",
        message: expect.stringMatching(/^member 1 .* replicates without TLS verifying its source's certificate$/),
      },
    ]);

    const { plan } = await reconcile(lab.members, { members: 2, allowFailover: false }, lab.settings);
    expect(plan.steps.map((s) => `${s.describe}: ${s.reason}`)).toEqual([
      "attach member 1: it replicates without TLS verifying the source's certificate",
    ]);
    const after = await inspect(lab.members, lab.settings);
    expect(after.problems).toEqual([]);
    expect(await slaveSsl(lab.servers[1])).toEqual({ allowed: "Yes", verify: "Yes", ca: ca.caPath });
  });

  it("renewed certificates are loaded with FLUSH SSL under a writer: no restart, no acknowledged write lost, replication over TLS throughout", async () => {
    const tlsLab = await startTlsLab(2, { setUp: true });
    lab = tlsLab;
    const pids = tlsLab.servers.map((s) => s.process!.pid);
    const writer = new Writer(tlsLab, 0);
    // Renewed certificates (another validity period), written over the files the members read, as the kubelet does.
    const renewed = await Promise.all([0, 1].map((i) => ca.issue(`renewed-${i}-${Date.now()}`, memberDnsName(i), 3)));
    const pems = renewed.map((c) => fs.readFileSync(c.cert, "utf8"));
    // What preview reports: both members serve their first certificates.
    expect((await staleCertificates(tlsLab.members, pems, tlsLab.settings)).map((s) => s.index)).toEqual([0, 1]);
    tlsLab.certs.forEach((c, i) => {
      fs.copyFileSync(renewed[i].key, c.key);
      fs.copyFileSync(renewed[i].cert, c.cert);
    });
    expect(await reloadCertificates(tlsLab.members, pems, tlsLab.settings, 100)).toEqual([0, 1]);
    await sleep(300);
    await writer.stop();

    expect(await staleCertificates(tlsLab.members, pems, tlsLab.settings)).toEqual([]);
    for (const [i, server] of tlsLab.servers.entries()) {
      const [{ Value: notAfter }] = await server.query("SHOW GLOBAL STATUS LIKE 'Ssl_server_not_after'");
      expect(new Date(notAfter).toISOString()).toBe(validityOf(pems[i]).notAfter);
      expect(server.process!.pid).toBe(pids[i]);
      expect(server.running).toBe(true);
    }
    expect(tlsLab.lines.join("\n")).toMatch(/member 1: serves its renewed certificate \(valid .*\) after FLUSH SSL/);
    // New connections, the engine's included, verify the renewed certificates; replication never stopped.
    await expectTlsEverywhere(tlsLab, 0, [1]);
    await waitReplicated(tlsLab);
    const [onPrimary, onReplica] = await Promise.all([ids(tlsLab.servers[0]), ids(tlsLab.servers[1])]);
    expect(writer.acked.length).toBeGreaterThan(20);
    expect(writer.acked.filter((id) => !onPrimary.has(id))).toEqual([]);
    expect(writer.acked.filter((id) => !onReplica.has(id))).toEqual([]);
  });

  it("a CA change staged with a bundle of old and new CA: members move to the new CA one by one under a writer, replication and the engine verifying throughout; then the new CA alone", async () => {
    // ca.crt as the stack writes it while both are trusted (tlsTrustedCaGenerations [1, 2]).
    const bundlePath = path.join(ca.dir, `bundle-${Date.now()}.crt`);
    fs.writeFileSync(bundlePath, ca.ca + otherCa.ca);
    const bundle = { ca: ca.ca + otherCa.ca, caPath: bundlePath, serverName: memberDnsName };
    const tlsLab = await startTlsLab(2, { setUp: true, tls: bundle });
    lab = tlsLab;
    // The test's own clients trust both too.
    tlsLab.clientCa = bundle.ca;
    for (const server of tlsLab.servers) server.spec.clientCa = bundle.ca;
    const writer = new Writer(tlsLab, 0);
    const pids = tlsLab.servers.map((s) => s.process!.pid);

    // Signed by the new CA now (tlsCaGeneration 2): the replica first, then the primary, each loaded by FLUSH SSL.
    const moved: string[] = [];
    for (const i of [1, 0]) {
      const pair = await otherCa.issue(`moved-${i}-${Date.now()}`, memberDnsName(i), 3);
      fs.copyFileSync(pair.key, tlsLab.certs[i].key);
      fs.copyFileSync(pair.cert, tlsLab.certs[i].cert);
      moved[i] = fs.readFileSync(pair.cert, "utf8");
      const expected = tlsLab.certs.map((c, j) => moved[j] ?? fs.readFileSync(c.cert, "utf8"));
      expect(await reloadCertificates(tlsLab.members, expected, tlsLab.settings, 100)).toEqual([i]);
      // The replica connects to its source again, verifying whichever CA signed it against the bundle.
      await tlsLab.servers[1].query("STOP SLAVE");
      await tlsLab.servers[1].query("START SLAVE");
      await waitReplicated(tlsLab);
      const t = await inspect(tlsLab.members, tlsLab.settings);
      expect(t.problems).toEqual([]);
      expect(t.members.map((m) => [m.reachable, m.tls])).toEqual([
        [true, true],
        [true, true],
      ]);
    }
    await sleep(300);
    await writer.stop();
    await waitReplicated(tlsLab);
    expect(tlsLab.servers.map((s) => s.process!.pid)).toEqual(pids);
    const [onPrimary, onReplica] = await Promise.all([ids(tlsLab.servers[0]), ids(tlsLab.servers[1])]);
    expect(writer.acked.length).toBeGreaterThan(20);
    expect(writer.acked.filter((id) => !onPrimary.has(id) || !onReplica.has(id))).toEqual([]);

    // Every member serves the new CA's certificate: the old CA no longer lets the engine in; the new one alone does.
    expect(
      (await inspect(tlsLab.members, settingsFor([], { tls: tlsWith(ca) }))).members.map((m) => m.reachable),
    ).toEqual([false, false]);
    fs.writeFileSync(bundlePath, otherCa.ca);
    const newOnly = settingsFor([], { tls: { ...tlsWith(otherCa), caPath: bundlePath } });
    await tlsLab.servers[1].query("STOP SLAVE");
    await tlsLab.servers[1].query("START SLAVE");
    // The IO thread says "connecting" until its TLS handshake with the source is done (longer on a busy machine).
    let after = await inspect(tlsLab.members, newOnly);
    for (let i = 0; i < 100 && after.problems.length > 0; i++) {
      await sleep(100);
      after = await inspect(tlsLab.members, newOnly);
    }
    expect(after.problems).toEqual([]);
    expect(after.members[1].replica).toMatchObject({ sourceIndex: 0, tls: true });

    // Without the new CA in the replica's file (no staging), the moved source is refused: the roll would break replication.
    fs.writeFileSync(bundlePath, ca.ca);
    await tlsLab.servers[1].query("STOP SLAVE");
    await tlsLab.servers[1].query("START SLAVE");
    let status: Record<string, any> = {};
    for (let i = 0; i < 100 && !status.Last_IO_Error; i++) {
      await sleep(100);
      [status] = await tlsLab.servers[1].query("SHOW SLAVE STATUS");
    }
    expect(status.Slave_IO_Running).not.toBe("Yes");
    expect(status.Last_IO_Error).toMatch(/SSL|certificate/i);
  });

  it("turns TLS on for members that ran without it: plain text only while a member does not serve TLS yet, replication moved to verified TLS once both ends do", async () => {
    const servers = await Promise.all(
      [0, 1].map((i) => startServer({ serverId: 380 + i, options: REPLICATION_OPTIONS })),
    );
    const members = servers.map((sv) => ({ host: sv.host, port: sv.port }));
    const lines: string[] = [];
    lab = { servers, members, settings: settingsFor(lines), lines, writers: [] } as unknown as Lab;
    await setup(members, 0, settingsFor(lines));
    await servers[0].query("CREATE DATABASE IF NOT EXISTS app");
    await servers[0].query("CREATE TABLE app.t (id INT PRIMARY KEY)");

    // What an up met before: TLS is on in the config, the members do not serve it yet, so none is reachable.
    const strict = settingsFor(lines, { tls: tlsWith(ca) });
    expect((await inspect(members, strict)).members.map((m) => m.error)).toEqual(
      [0, 1].map(() => expect.stringMatching(/^TLS: the member does not offer TLS/)),
    );

    const enabling = settingsFor(lines, { tls: { ...tlsWith(ca), enabling: true } });
    // Member 0 is the primary the topology names.
    const enableTls = async (i: number) =>
      restartWithTls(servers[i], ca, await ca.issue(`enable-${i}-${Date.now()}`, memberDnsName(i)), i !== 0);
    const state = async () => {
      const t = await inspect(members, enabling);
      return {
        tls: t.members.map((m) => m.tls),
        replicaTls: t.members[1].replica?.tls,
        problems: t.problems.map((p) => p.kind),
      };
    };
    expect(await state()).toEqual({ tls: [false, false], replicaTls: false, problems: [] });

    // The replica's pod restarted with its certificate first: its source still has none, so it stays in plain text.
    await enableTls(1);
    await reconcile(members, { members: 2, allowFailover: false }, enabling);
    expect(await state()).toEqual({ tls: [false, true], replicaTls: false, problems: [] });
    expect(await slaveSsl(servers[1])).toMatchObject({ allowed: "No" });

    // Then the primary: both serve TLS, the plain-text replication is a problem, and the next up moves it to TLS.
    await enableTls(0);
    // (The replica may still be reconnecting to its restarted source: an io-thread problem beside it.)
    expect(await state()).toMatchObject({
      tls: [true, true],
      replicaTls: false,
      problems: expect.arrayContaining(["replication-without-tls"]),
    });
    const { plan } = await reconcile(members, { members: 2, allowFailover: false }, enabling);
    expect(plan.steps.map((s) => `${s.describe}: ${s.reason}`)).toEqual([
      "attach member 1: it replicates without TLS verifying the source's certificate",
    ]);
    expect(await slaveSsl(servers[1])).toEqual({ allowed: "Yes", verify: "Yes", ca: ca.caPath });
    // Done: TLS as for a stack that always had it, nothing in plain text.
    const after = await inspect(members, strict);
    expect(after.problems).toEqual([]);
    expect(after.members.map((m) => [m.tls, m.replica?.tls ?? null])).toEqual([
      [true, null],
      [true, true],
    ]);
    await servers[0].query("INSERT INTO app.t VALUES (1)");
    await waitReplicated(lab!);
    expect(await servers[1].query("SELECT id FROM app.t")).toEqual([{ id: 1 }]);
  });

  it("says which member does not serve its renewed certificate when the new files never arrive", async () => {
    const tlsLab = await startTlsLab(1, { setUp: true });
    lab = tlsLab;
    const renewed = await ca.issue(`never-${Date.now()}`, memberDnsName(0), 5);
    const pem = fs.readFileSync(renewed.cert, "utf8");
    expect((await staleCertificates(tlsLab.members, [pem], tlsLab.settings)).map((s) => s.index)).toEqual([0]);
    await expect(
      reloadCertificates(tlsLab.members, [pem], { ...tlsLab.settings, deadlineMs: 500 }, 100),
    ).rejects.toThrow(
      /^certificates not reloaded within 500 ms: member 0 serves a certificate valid .* to .*, not the renewed one valid .*: its files have not changed yet$/,
    );
  });

  it("mysql-ha setup and status take --tls-ca (or MYSQL_HA_TLS_CA): status --json reports tls and replicationTls per member", async () => {
    lab = await startTlsLab(2);
    const members = lab.members.map((m) => `${m.host}:${m.port}`).join(",");
    const names = [0, 1].map(memberDnsName).join(",");
    const env = {
      MYSQL_HA_PASSWORD: LOCAL_ROOT_PASSWORD,
      MYSQL_HA_REPLICATION_USER: "repl",
      MYSQL_HA_REPLICATION_PASSWORD: REPL_PASSWORD,
    };
    const set = await cli(
      ["setup", "--members", members, "--tls-ca", ca.caPath, "--tls-member-ca", ca.caPath, "--tls-server-names", names],
      env,
    );
    expect(set.stderr).toBe("");
    expect(set.stdout).toMatch(/member 1: replicating from member 0 \(.*TLS verified\)/);

    const status = await cli(["status", "--members", members, "--tls-server-names", names, "--json"], {
      ...env,
      MYSQL_HA_TLS_CA: ca.caPath,
    });
    expect(status.code).toBe(0);
    const json = JSON.parse(status.stdout);
    expect(
      json.members.map((m: { tls: boolean; replicationTls: boolean | null }) => [m.tls, m.replicationTls]),
    ).toEqual([
      [true, null],
      [true, true],
    ]);

    const foreign = await cli(["status", "--members", members, "--tls-server-names", names, "--json"], {
      ...env,
      MYSQL_HA_TLS_CA: otherCa.caPath,
    });
    expect(foreign.code).toBe(1);
    expect(JSON.parse(foreign.stdout).problems[0]).toMatch(
      /^member 0 \(127\.0\.0\.1:\d+\) is unreachable: TLS: the member's certificate did not verify as 'member-0\.db\.test'/,
    );

    const byIp = await cli(["status", "--members", members, "--tls-ca", ca.caPath], env);
    expect(JSON.stringify(byIp.stdout)).toMatch(/IP address 127\.0\.0\.1.*give its DNS name/);
    const notPem = await cli(["status", "--members", members, "--tls-ca", path.join(ca.dir, "m0-none")], env);
    expect(notPem.code).toBe(2);
    expect(notPem.stderr).toMatch(/--tls-ca .*m0-none: cannot read it \(ENOENT\)/);
  });
});

const cli = (args: string[], env: Record<string, string>) => runCli(args, { env });
