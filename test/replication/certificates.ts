/**
 * Real certificates for the TLS tests, made by openssl through local/certificates.ts (the demo's @pulumi/tls
 * stand-in) and written to files in a temp directory: a CA and, per member, a server certificate whose SANs are the
 * member's DNS name and 127.0.0.1 (where the local servers listen and replicas connect).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalCertificates, TLS_TYPES } from "../../local/certificates";
import type { LocalServer } from "../../local/mariadbd";

export interface Certificate {
  cert: string;
  key: string;
}

export interface TestCa {
  dir: string;
  /** The CA certificate file (its key is ca.key beside it). */
  caPath: string;
  /** Its PEM. */
  ca: string;
  /**
   * A server and client certificate signed by this CA for `dnsName` and the IP addresses `ips`, valid for `days`
   * (0: expired as soon as it is made).
   */
  issue(name: string, dnsName: string, days?: number, ips?: string[]): Promise<Certificate>;
  remove(): void;
}

/** The DNS name the tests give member i (in its certificate and as the name the engine checks). */
export function memberDnsName(i: number): string {
  return `member-${i}.db.test`;
}

/**
 * Restarts a member serving TLS with `pair` signed by `ca`, as its pod restarts with the TLS Secret's files mounted:
 * read-only unless it is the primary, as init-server writes it.
 */
export async function restartWithTls(
  server: LocalServer,
  ca: TestCa,
  pair: Certificate,
  readOnly: boolean,
): Promise<void> {
  await server.stop();
  server.spec.options = {
    ...server.spec.options,
    ssl_ca: ca.caPath,
    ssl_cert: pair.cert,
    ssl_key: pair.key,
    "read-only": readOnly ? 1 : 0,
  };
  await server.start();
}

const KEY = { algorithm: "ECDSA", ecdsaCurve: "P256" };

export async function makeCa(label: string): Promise<TestCa> {
  const certificates = new LocalCertificates();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mysql-ha-tls-${label}-`));
  // LocalCertificates keeps a resource's outputs while its inputs stay the same: each call makes its own resources.
  let made = 0;
  const make = async (type: string, inputs: Record<string, unknown>) =>
    (await certificates.outputs(type, `r${++made}`, inputs))!;
  // mariadbd runs as this user and reads the keys itself.
  const write = (name: string, pem: unknown, mode = 0o644) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, pem as string, { mode });
    return file;
  };
  try {
    const caKey = (await make(TLS_TYPES.privateKey, KEY)).privateKeyPem as string;
    const ca = (
      await make(TLS_TYPES.selfSignedCert, {
        privateKeyPem: caKey,
        isCaCertificate: true,
        subject: { commonName: `mysql-ha test CA ${label}` },
        validityPeriodHours: 48,
        allowedUses: ["cert_signing", "crl_signing"],
      })
    ).certPem as string;
    write("ca.key", caKey, 0o600);
    return {
      dir,
      caPath: write("ca.crt", ca),
      ca,
      async issue(name, dnsName, days = 2, ips = ["127.0.0.1"]) {
        const key = (await make(TLS_TYPES.privateKey, KEY)).privateKeyPem as string;
        const request = await make(TLS_TYPES.certRequest, {
          privateKeyPem: key,
          subject: { commonName: dnsName },
          dnsNames: [dnsName],
          ipAddresses: ips,
        });
        const signed = await make(TLS_TYPES.locallySignedCert, {
          certRequestPem: request.certRequestPem,
          caCertPem: ca,
          caPrivateKeyPem: caKey,
          validityPeriodHours: days * 24,
          allowedUses: ["digital_signature", "server_auth", "client_auth"],
        });
        return { cert: write(`${name}.crt`, signed.certPem), key: write(`${name}.key`, key, 0o600) };
      },
      remove() {
        certificates.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    certificates.close();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
