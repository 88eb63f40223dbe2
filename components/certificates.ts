/**
 * The stack's own certificates (config `tls: self-signed`): a CA and one certificate per member, made with
 * @pulumi/tls. Private keys are secret outputs in state; the CA certificate is public (the engine and the replicas
 * verify the members with it). Children of the ReplicatedDatabase, named `${name}-tls-<part>`.
 */
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

/** ECDSA P-256: small, fast handshakes, and what MariaDB's OpenSSL and Node both take. */
const KEY = { algorithm: "ECDSA", ecdsaCurve: "P256" } as const;
/** The CA lives ten years; a member certificate one year and is renewed by the `up` in its last 30 days. */
const CA_HOURS = 10 * 365 * 24;
const MEMBER_HOURS = 365 * 24;
const MEMBER_EARLY_RENEWAL_HOURS = 30 * 24;

export interface StackCertificates {
  /** PEM of the CA certificate. */
  ca: pulumi.Output<string>;
  /** Certificate and key (secret) of each member, by ordinal. */
  members: Array<{ cert: pulumi.Output<string>; key: pulumi.Output<string> }>;
}

/** One certificate per member: `members[ordinal]` is its common name and the DNS names it carries. */
export function createSelfSignedCertificates(parent: pulumi.Resource, name: string, members: Array<{ commonName: string; dnsNames: string[] }>): StackCertificates {
  const opts = { parent };
  // Keys are secret outputs of PrivateKey; wrapping them again keeps every input made from them secret too.
  const caKey = pulumi.secret(new tls.PrivateKey(`${name}-tls-ca-key`, KEY, opts).privateKeyPem);
  const ca = new tls.SelfSignedCert(`${name}-tls-ca`, {
    privateKeyPem: caKey,
    isCaCertificate: true,
    subject: { commonName: `${name} mysql-ha CA`, organization: "mysql-ha" },
    validityPeriodHours: CA_HOURS,
    allowedUses: ["cert_signing", "crl_signing"],
  }, opts);
  const pairs = members.map(({ commonName, dnsNames }, i) => {
    const key = pulumi.secret(new tls.PrivateKey(`${name}-tls-member-${i}-key`, KEY, opts).privateKeyPem);
    const request = new tls.CertRequest(`${name}-tls-member-${i}-request`, {
      privateKeyPem: key,
      subject: { commonName, organization: "mysql-ha" },
      dnsNames,
    }, opts);
    const cert = new tls.LocallySignedCert(`${name}-tls-member-${i}`, {
      certRequestPem: request.certRequestPem,
      caPrivateKeyPem: caKey,
      caCertPem: ca.certPem,
      validityPeriodHours: MEMBER_HOURS,
      earlyRenewalHours: MEMBER_EARLY_RENEWAL_HOURS,
      // Server for clients and replicas, client when the member replicates from another.
      allowedUses: ["digital_signature", "key_encipherment", "server_auth", "client_auth"],
    }, opts);
    return { cert: cert.certPem, key };
  });
  return { ca: ca.certPem, members: pairs };
}
