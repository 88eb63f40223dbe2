/**
 * Real certificates for the TLS tests, made by `openssl` in a temp directory: a CA and, per member, a server
 * certificate whose SANs are the member's DNS name and 127.0.0.1 (where the local servers listen and replicas connect).
 */
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Certificate {
  cert: string;
  key: string;
}

export interface TestCa {
  dir: string;
  /** The CA certificate file. */
  caPath: string;
  /** Its PEM. */
  ca: string;
  /** A server certificate signed by this CA for `dnsName` and 127.0.0.1, valid for `days`. */
  issue(name: string, dnsName: string, days?: number): Promise<Certificate>;
  remove(): void;
}

/** The DNS name the tests give member i (in its certificate and as the name the engine checks). */
export function memberDnsName(i: number): string {
  return `member-${i}.db.test`;
}

export async function makeCa(label: string): Promise<TestCa> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mysql-ha-tls-${label}-`));
  const caPath = path.join(dir, "ca.crt");
  const caKey = path.join(dir, "ca.key");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", ["req", "-x509", ...ec, "-keyout", caKey, "-out", caPath, "-days", "2", "-subj", `/CN=mysql-ha test CA ${label}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  return {
    dir,
    caPath,
    ca: fs.readFileSync(caPath, "utf8"),
    async issue(name, dnsName, days = 2) {
      const [key, csr, cert, ext] = ["key", "csr", "crt", "ext"].map((e) => path.join(dir, `${name}.${e}`));
      fs.writeFileSync(ext, `subjectAltName=DNS:${dnsName},IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n`);
      await run("openssl", ["req", ...ec, "-keyout", key, "-out", csr, "-subj", `/CN=${dnsName}`]);
      await run("openssl", ["x509", "-req", "-in", csr, "-CA", caPath, "-CAkey", caKey, "-set_serial", `0x${randomBytes(12).toString("hex")}`, "-out", cert, "-days", String(days), "-extfile", ext]);
      // mariadbd runs as this user and reads the key itself.
      fs.chmodSync(key, 0o600);
      return { cert, key };
    },
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
