/**
 * The program's @pulumi/tls resources made for real with openssl, for the local stand-in of the Pulumi engine (the
 * demo): keys, a self-signed CA, certificate requests with their DNS names, and certificates signed by the CA with
 * the requested uses. Like state, a resource keeps its outputs until its inputs change.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The @pulumi/tls resource types this stand-in makes. */
export const TLS_TYPES = {
  privateKey: "tls:index/privateKey:PrivateKey",
  selfSignedCert: "tls:index/selfSignedCert:SelfSignedCert",
  certRequest: "tls:index/certRequest:CertRequest",
  locallySignedCert: "tls:index/locallySignedCert:LocallySignedCert",
} as const;

/** @pulumi/tls allowed_uses -> openssl keyUsage / extendedKeyUsage names. */
const KEY_USAGE: Record<string, string> = {
  digital_signature: "digitalSignature",
  key_encipherment: "keyEncipherment",
  cert_signing: "keyCertSign",
  crl_signing: "cRLSign",
};
const EXTENDED_KEY_USAGE: Record<string, string> = { server_auth: "serverAuth", client_auth: "clientAuth" };

export class LocalCertificates {
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-certificates-"));
  private readonly made = new Map<string, { inputs: string; outputs: Record<string, unknown> }>();

  /** The resource's outputs, or undefined when `type` is not a @pulumi/tls resource this stand-in makes. */
  async outputs(type: string, name: string, inputs: Record<string, any>): Promise<Record<string, unknown> | undefined> {
    if (!Object.values(TLS_TYPES).includes(type as never)) return undefined;
    const key = JSON.stringify(inputs);
    const kept = this.made.get(name);
    if (kept && kept.inputs === key) return kept.outputs;
    const outputs = await this.make(type, inputs);
    this.made.set(name, { inputs: key, outputs });
    return outputs;
  }

  close(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async make(type: string, inputs: Record<string, any>): Promise<Record<string, unknown>> {
    const work = fs.mkdtempSync(path.join(this.dir, "r-"));
    const file = (name: string, content?: string) => {
      const p = path.join(work, name);
      if (content !== undefined) fs.writeFileSync(p, content, { mode: 0o600 });
      return p;
    };
    const subject = (s: any) => `/CN=${s?.commonName ?? ""}${s?.organization ? `/O=${s.organization}` : ""}`;
    // Whole days, as openssl counts; 0 hours: expired at once (as @pulumi/tls makes it).
    const days = (hours: number) => String(Math.ceil(hours / 24));
    const uses = (list: string[]) => ({
      key: list.filter((u) => KEY_USAGE[u]).map((u) => KEY_USAGE[u]),
      extended: list.filter((u) => EXTENDED_KEY_USAGE[u]).map((u) => EXTENDED_KEY_USAGE[u]),
    });
    try {
      switch (type) {
        case TLS_TYPES.privateKey: {
          if (inputs.algorithm !== "ECDSA" || inputs.ecdsaCurve !== "P256")
            throw new Error(`only ECDSA P256 keys are made here, not ${inputs.algorithm} ${inputs.ecdsaCurve ?? ""}`);
          const { stdout } = await run("openssl", ["ecparam", "-genkey", "-name", "prime256v1", "-noout"]);
          const pub = await run("openssl", ["ec", "-in", file("key.pem", stdout), "-pubout"]);
          return { privateKeyPem: stdout, publicKeyPem: pub.stdout };
        }
        case TLS_TYPES.selfSignedCert: {
          const { key } = uses(inputs.allowedUses ?? []);
          const args = [
            "req",
            "-x509",
            "-new",
            "-key",
            file("key.pem", inputs.privateKeyPem),
            "-subj",
            subject(inputs.subject),
            "-days",
            days(inputs.validityPeriodHours),
            "-addext",
            `basicConstraints=critical,CA:${inputs.isCaCertificate ? "TRUE" : "FALSE"}`,
          ];
          if (key.length) args.push("-addext", `keyUsage=critical,${key.join(",")}`);
          return { certPem: (await run("openssl", args)).stdout };
        }
        case TLS_TYPES.certRequest: {
          const san = [
            ...(inputs.dnsNames ?? []).map((n: string) => `DNS:${n}`),
            ...(inputs.ipAddresses ?? []).map((a: string) => `IP:${a}`),
          ];
          const args = ["req", "-new", "-key", file("key.pem", inputs.privateKeyPem), "-subj", subject(inputs.subject)];
          if (san.length) args.push("-addext", `subjectAltName=${san.join(",")}`);
          return { certRequestPem: (await run("openssl", args)).stdout };
        }
        default: {
          const { key, extended } = uses(inputs.allowedUses ?? []);
          const ext = [
            "basicConstraints=critical,CA:FALSE",
            ...(key.length ? [`keyUsage=critical,${key.join(",")}`] : []),
            ...(extended.length ? [`extendedKeyUsage=${extended.join(",")}`] : []),
          ];
          const { stdout } = await run("openssl", [
            "x509",
            "-req",
            "-in",
            file("request.pem", inputs.certRequestPem),
            "-CA",
            file("ca.pem", inputs.caCertPem),
            "-CAkey",
            file("ca-key.pem", inputs.caPrivateKeyPem),
            "-set_serial",
            `0x${randomBytes(12).toString("hex")}`,
            "-days",
            days(inputs.validityPeriodHours),
            "-copy_extensions",
            "copyall",
            "-extfile",
            file("ext.cnf", ext.join("\n") + "\n"),
          ]);
          const end = new Date(Date.now() + inputs.validityPeriodHours * 3600_000);
          return {
            certPem: stdout,
            readyForRenewal: false,
            validityStartTime: new Date().toISOString(),
            validityEndTime: end.toISOString(),
          };
        }
      }
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
}
