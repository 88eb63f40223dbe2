/**
 * The clone stream over TLS (clone-serve.sh with TLS_DIR, clone.sh with TLS_CA) with real certificates (openssl) and
 * a real donor: the joiner verifies the donor's certificate against the CA and its DNS name before it sends the
 * token; a wrong CA, a wrong name or a plain-text donor are refused with nothing written; the donor refuses to serve
 * without a usable pair of its own, never in plain text; a renewed pair is served without restarting the sidecar.
 * The donor is reached by this machine's host name (in its certificate), as a pod reaches its peer's DNS name.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { lookup } from "node:dns/promises";
import { destroyAll, LocalServer, REPLICATION_OPTIONS, sleep, startServer } from "../../local/mariadbd";
import { execFileSync, spawn } from "node:child_process";
import * as net from "node:net";
import { Donor, freePort, runScript, ScriptError, startDonor } from "../../cli/scripts";
import { makeCa, TestCa } from "../replication/certificates";
import { ACCOUNT_GRANTS } from "../../components/replication/flavor/mariadb";

jest.setTimeout(120000);

const TOKEN = "clone-token-for-tls-tests";
const HOST = os.hostname();

let ca: TestCa;
let otherCa: TestCa;
let server: LocalServer;
/** The donor's TLS Secret volume: member-0.crt and member-0.key from `ca`. */
let tlsDir: string;

beforeAll(async () => {
  [ca, otherCa] = await Promise.all([makeCa("clone"), makeCa("clone-other")]);
  const { address } = await lookup(HOST, { family: 4 });
  server = await startServer({ serverId: 260, host: address, options: REPLICATION_OPTIONS });
  await server.query("CREATE DATABASE app");
  await server.query("CREATE TABLE app.t (id INT PRIMARY KEY)");
  await server.query("INSERT INTO app.t VALUES (1), (2), (3)");
  tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-clone-tls-"));
  await writePair(tlsDir, await ca.issue("donor", HOST));
});
afterAll(async () => {
  await destroyAll(server ? [server] : []);
  ca?.remove();
  otherCa?.remove();
  if (tlsDir) fs.rmSync(tlsDir, { recursive: true, force: true });
});

async function writePair(dir: string, pair: { cert: string; key: string }): Promise<void> {
  fs.copyFileSync(pair.cert, path.join(dir, "member-0.crt"));
  fs.copyFileSync(pair.key, path.join(dir, "member-0.key"));
}

/** The donor sidecar of pod db-0 with TLS on: its Secret volume `dir`. */
const tlsDonor = (dir = tlsDir) => startDonor(server, TOKEN, undefined, { TLS_DIR: dir, POD_NAME: "db-0" });

function joinerDir(): string {
  return fs.mkdtempSync(path.join(server.dir, "joiner-"));
}

function clone(donor: Donor, datadir: string, env: Record<string, string> = {}) {
  return runScript("clone.sh", {
    DONOR_HOST: HOST,
    DONOR_PORT: String(donor.port),
    CLONE_TOKEN: TOKEN,
    DATADIR: datadir,
    ...env,
  });
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Streams the donor started (its log names each stream it served). */
const streamsServed = (donor: Donor) =>
  donor
    .log()
    .split("\n")
    .filter((l) => /streaming a backup/.test(l)).length;

/** The serial number of the certificate the donor presents now. */
function servedSerial(donor: Donor): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: donor.host, port: donor.port, ca: ca.ca, servername: HOST }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.once("error", reject);
  });
}

describe("clone stream over TLS", () => {
  let donor: Donor | undefined;
  afterEach(async () => {
    await donor?.stop();
    donor = undefined;
  });

  test("a joiner verifying the donor with the CA and its DNS name gets the copy; a plain-text client with the right token gets nothing", async () => {
    donor = await tlsDonor();
    const datadir = joinerDir();
    const { stdout } = await clone(donor, datadir, { TLS_CA: ca.caPath });
    expect(stdout).toMatch(/^GTID=0-260-\d+$/m);
    expect(fs.existsSync(path.join(datadir, "app", "t.ibd"))).toBe(true);
    expect(streamsServed(donor)).toBe(1);

    // The token sent in clear (TLS off on the joiner) never reaches the donor's stream: its TLS handshake fails first.
    const plain = joinerDir();
    const err = await clone(donor, plain).catch((e) => e);
    expect(err).toBeInstanceOf(ScriptError);
    expect(fs.readdirSync(plain)).toEqual([]);
    expect(streamsServed(donor)).toBe(1);
    expect(donor.log()).not.toMatch(/wrong token|no token/);
  });

  test("a donor whose certificate another CA signed is refused before the token is sent; nothing is written", async () => {
    donor = await tlsDonor();
    const datadir = joinerDir();
    const err = await clone(donor, datadir, { TLS_CA: otherCa.caPath }).catch((e) => e);
    expect(err).toBeInstanceOf(ScriptError);
    expect(err.stderr).toMatch(
      new RegExp(
        `the donor ${HOST}:${donor.port} is refused: its TLS certificate is not signed by the CA in ${otherCa.caPath} \\(it comes from another CA\\); the token was not sent`,
      ),
    );
    expect(fs.readdirSync(datadir)).toEqual([]);
    expect(streamsServed(donor)).toBe(0);
  });

  test("a donor whose certificate does not carry the name asked for is refused; nothing is written", async () => {
    donor = await tlsDonor();
    const datadir = joinerDir();
    const err = await clone(donor, datadir, { TLS_CA: ca.caPath, DONOR_TLS_NAME: "member-9.db.test" }).catch((e) => e);
    expect(err.stderr).toMatch(
      /its TLS certificate does not name member-9\.db\.test \(the name it must carry\); the token was not sent/,
    );
    expect(fs.readdirSync(datadir)).toEqual([]);
    expect(streamsServed(donor)).toBe(0);
  });

  test("a donor serving an expired certificate is refused, saying so; nothing is written", async () => {
    // clone-serve.sh will not serve an expired pair: a bare TLS listener stands for a donor whose pair expired while it ran.
    const expired = await ca.issue("donor-expired-served", HOST, 0);
    await sleep(1100); // -days 0: it expires the second it was made
    const port = await freePort();
    const listener = spawn(
      "socat",
      [
        `OPENSSL-LISTEN:${port},bind=${server.host},reuseaddr,fork,cert=${expired.cert},key=${expired.key},verify=0`,
        "SYSTEM:cat >/dev/null",
      ],
      { stdio: "ignore" },
    );
    try {
      for (let i = 0; i < 100 && !(await canConnect(server.host, port)); i++) await sleep(50);
      const datadir = joinerDir();
      const err = await runScript("clone.sh", {
        DONOR_HOST: HOST,
        DONOR_PORT: String(port),
        CLONE_TOKEN: TOKEN,
        DATADIR: datadir,
        TLS_CA: ca.caPath,
      }).catch((e) => e);
      expect(err.stderr).toMatch(
        new RegExp(`the donor ${HOST}:${port} is refused: its TLS certificate has expired; the token was not sent`),
      );
      expect(fs.readdirSync(datadir)).toEqual([]);
    } finally {
      listener.kill();
    }
  });

  test("a joiner with TLS on refuses a donor serving plain text", async () => {
    donor = await startDonor(server, TOKEN);
    const datadir = joinerDir();
    const err = await clone(donor, datadir, { TLS_CA: ca.caPath }).catch((e) => e);
    expect(err.stderr).toMatch(
      new RegExp(
        `the donor ${HOST}:${donor.port} does not speak TLS \\(is TLS off on it\\?\\): refusing to send it the token in plain text`,
      ),
    );
    expect(fs.readdirSync(datadir)).toEqual([]);
    expect(donor.log()).not.toMatch(/streaming a backup/);
  });

  test("a joiner with TLS on and no CA file refuses to connect", async () => {
    donor = await tlsDonor();
    const datadir = joinerDir();
    const err = await clone(donor, datadir, { TLS_CA: path.join(tlsDir, "ca.crt") }).catch((e) => e);
    expect(err.stderr).toMatch(/TLS is on but the CA file TLS_CA=\S+ca\.crt is missing or empty/);
    expect(fs.readdirSync(datadir)).toEqual([]);
  });

  test("a renewed pair in the Secret's files is served to the next joiner without restarting the donor", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-clone-tls-renew-"));
    try {
      await writePair(dir, await ca.issue("donor-old", HOST));
      donor = await tlsDonor(dir);
      const before = await servedSerial(donor);
      const renewed = await ca.issue("donor-renewed", HOST, 5);
      await writePair(dir, renewed);
      let after = before;
      for (let i = 0; i < 100 && after === before; i++) {
        await sleep(200);
        after = await servedSerial(donor).catch(() => before); // the listener is being replaced
      }
      expect(after).not.toBe(before);
      expect(donor.log()).toMatch(/the certificate files changed \(renewed\): listening again with them/);
      const { stdout } = await clone(donor, joinerDir(), { TLS_CA: ca.caPath });
      expect(stdout).toMatch(/^GTID=/m);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("the donor has its member load a renewed pair (FLUSH SSL), whoever renewed the Secret's files", async () => {
  // A member serving TLS from the files of its Secret volume, as init-server.sh configures it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-clone-tls-flush-"));
  await writePair(dir, await ca.issue("member-old", HOST, 2));
  fs.copyFileSync(ca.caPath, path.join(dir, "ca.crt"));
  // On 127.0.0.1, where the pod's donor reaches its own server as the backup account (which exists only there).
  const address = "127.0.0.1";
  const member = await startServer({
    serverId: 261,
    host: address,
    options: {
      ...REPLICATION_OPTIONS,
      ssl_ca: path.join(dir, "ca.crt"),
      ssl_cert: path.join(dir, "member-0.crt"),
      ssl_key: path.join(dir, "member-0.key"),
    },
  });
  // The end date of the certificate mariadbd presents to a new connection (openssl's STARTTLS for MySQL).
  const notAfter = async () => {
    const shell = `openssl s_client -starttls mysql -connect ${address}:${member.port} </dev/null 2>/dev/null | openssl x509 -noout -enddate`;
    const stdout = execFileSync("bash", ["-c", shell], { encoding: "utf8" });
    return stdout.replace(/^notAfter=/, "").trim();
  };
  // The donor runs as the stack's backup account with exactly its grants (FLUSH SSL needs RELOAD), not as root.
  const backup = { user: "mysql-ha-backup", password: "backup-password-for-the-flush-test" };
  await member.query(`CREATE USER '${backup.user}'@'${ACCOUNT_GRANTS.backup.host}' IDENTIFIED BY '${backup.password}'`);
  for (const grant of ACCOUNT_GRANTS.backup.grants)
    await member.query(`GRANT ${grant} TO '${backup.user}'@'${ACCOUNT_GRANTS.backup.host}'`);
  const donor = await startDonor(member, TOKEN, undefined, {
    TLS_DIR: dir,
    POD_NAME: "db-0",
    MYSQL_USER: backup.user,
    MYSQL_PASSWORD: backup.password,
  });
  try {
    const before = await notAfter();
    await writePair(dir, await ca.issue("member-renewed", HOST, 9));
    for (let i = 0; i < 100 && !/FLUSH SSL/.test(donor.log()); i++) await sleep(200);
    expect(donor.log()).toMatch(/mariadbd loaded the renewed certificate \(FLUSH SSL\)/);
    const after = await notAfter();
    expect(after).not.toBe(before);
    expect(new Date(after).getTime() - new Date(before).getTime()).toBeGreaterThan(6 * 86400_000); // 9 days, not 2
  } finally {
    await donor.stop();
    await destroyAll([member]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe("the donor refuses to serve without a usable certificate of its own (never plain text)", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-clone-tls-bad-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("missing key", async () => {
    fs.copyFileSync(path.join(tlsDir, "member-0.crt"), path.join(dir, "member-0.crt"));
    await expect(tlsDonor(dir)).rejects.toThrow(
      /TLS is on but \S+\/member-0\.key is missing or empty \(the TLS Secret has no key member-0\.key for member 0\): refusing to serve streams/,
    );
  });

  test("expired certificate", async () => {
    await writePair(dir, await ca.issue("donor-expired", HOST, 0));
    await sleep(1100); // -days 0: it expires the second it was made
    await expect(tlsDonor(dir)).rejects.toThrow(
      /TLS: \S+\/member-0\.crt has expired \(notAfter=.*\): refusing to serve streams with it/,
    );
  });

  test("a key that is not the certificate's", async () => {
    const other = await ca.issue("donor-other", HOST);
    fs.copyFileSync(path.join(tlsDir, "member-0.crt"), path.join(dir, "member-0.crt"));
    fs.copyFileSync(other.key, path.join(dir, "member-0.key"));
    await expect(tlsDonor(dir)).rejects.toThrow(
      /TLS: \S+\/member-0\.key is not the private key of \S+\/member-0\.crt \(mismatched pair\)/,
    );
  });
});
