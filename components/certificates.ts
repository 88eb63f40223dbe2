/**
 * The members' certificates by config `tls`: the stack's own (self-signed: a CA and one certificate per member, made
 * with @pulumi/tls; private keys are secret outputs in state), the user's Secrets (secret) or cert-manager
 * Certificates (cert-manager), with the CA (public: the engine and the replicas verify the members with it) in the
 * TLS Secret. Children of the ReplicatedDatabase, named `${name}-tls-<part>`.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import type { Settings } from "./config";
import { memberPodName, ObjectNames } from "./kubernetes/names";
import {
  buildCertificate,
  buildTlsSecret,
  MEMBER_CERTIFICATE,
  SubjectAltNames,
  tlsSubjectAltNames,
} from "./kubernetes/tls";

/** ECDSA P-256: small, fast handshakes, and what MariaDB's OpenSSL and Node both take. */
const KEY = { algorithm: "ECDSA", ecdsaCurve: "P256" } as const;
/** The CA lives ten years; a member certificate one year and is renewed by the `up` in its last 30 days. */
const CA_HOURS = 10 * 365 * 24;
const MEMBER_HOURS = MEMBER_CERTIFICATE.hours;
const MEMBER_EARLY_RENEWAL_HOURS = MEMBER_CERTIFICATE.renewBeforeHours;

export interface StackCertificates {
  /** PEM of the trusted CA certificates (one, or several while a CA change is staged). */
  ca: pulumi.Output<string>;
  /** Certificate and key (secret) of each member, by ordinal. */
  members: Array<{ cert: pulumi.Output<string>; key: pulumi.Output<string> }>;
}

/** The CA generations of a stack: which one signs, which ones are trusted (config tlsCaGeneration, tlsTrustedCaGenerations). */
export interface CaGenerations {
  signing: number;
  /** Empty: the signing one alone. */
  trusted: number[];
}

/**
 * One certificate per member (`members[ordinal]` is its common name and the names it carries), signed by the CA
 * of generation `generations.signing`; every trusted generation has its CA (generation 1 keeps the first CA's names,
 * so stacks from before generations keep theirs), and `ca` lists them all: a CA change is staged by trusting old and
 * new first, then signing with the new, then trusting the new alone (README "TLS").
 */
export function createSelfSignedCertificates(
  parent: pulumi.Resource,
  name: string,
  members: Array<{ commonName: string } & SubjectAltNames>,
  generations: CaGenerations = { signing: 1, trusted: [] },
): StackCertificates {
  const opts = { parent };
  const trusted = generations.trusted.length > 0 ? generations.trusted : [generations.signing];
  const cas = new Map(
    trusted.map((generation) => {
      const suffix = generation === 1 ? "" : `-${generation}`;
      // Keys are secret outputs of PrivateKey; wrapping them again keeps every input made from them secret too.
      const key = pulumi.secret(new tls.PrivateKey(`${name}-tls-ca${suffix}-key`, KEY, opts).privateKeyPem);
      const cert = new tls.SelfSignedCert(
        `${name}-tls-ca${suffix}`,
        {
          privateKeyPem: key,
          isCaCertificate: true,
          subject: {
            commonName: `${name} mysql-ha CA${generation === 1 ? "" : ` ${generation}`}`,
            organization: "mysql-ha",
          },
          validityPeriodHours: CA_HOURS,
          allowedUses: ["cert_signing", "crl_signing"],
        },
        opts,
      );
      return [generation, { key, cert }] as const;
    }),
  );
  const { key: caKey, cert: ca } = cas.get(generations.signing)!;
  const pairs = members.map(({ commonName, dnsNames, ipAddresses }, i) => {
    const key = pulumi.secret(new tls.PrivateKey(`${name}-tls-member-${i}-key`, KEY, opts).privateKeyPem);
    const request = new tls.CertRequest(
      `${name}-tls-member-${i}-request`,
      {
        privateKeyPem: key,
        subject: { commonName, organization: "mysql-ha" },
        dnsNames,
        ipAddresses,
      },
      opts,
    );
    const cert = new tls.LocallySignedCert(
      `${name}-tls-member-${i}`,
      {
        certRequestPem: request.certRequestPem,
        caPrivateKeyPem: caKey,
        caCertPem: ca.certPem,
        validityPeriodHours: MEMBER_HOURS,
        earlyRenewalHours: MEMBER_EARLY_RENEWAL_HOURS,
        // Server for clients and replicas, client when the member replicates from another.
        allowedUses: ["digital_signature", "key_encipherment", "server_auth", "client_auth"],
      },
      opts,
    );
    return { cert: cert.certPem, key };
  });
  // A PEM is always there from the tls provider; unit tests' mocks that echo inputs as state have none (certPem is
  // an output only), and the bundle must not break a user's own tests of a program that uses the component.
  const bundle = (pems: (string | undefined)[]) =>
    pems
      .filter((p): p is string => typeof p === "string")
      .map((p) => p.trimEnd() + "\n")
      .join("");
  return { ca: pulumi.all([...cas.values()].map((c) => c.cert.certPem)).apply(bundle), members: pairs };
}

export interface StackTls {
  /** PEM of the CA (or CAs) the members are verified against. */
  ca: pulumi.Input<string>;
  /** Each member's certificate when the stack makes them: the next up loads a renewed one (FLUSH SSL). */
  certificates?: pulumi.Output<string>[];
  /** The TLS Secret and the cert-manager Certificates: the members start after them. */
  resources: pulumi.Resource[];
}

/** The members' certificates and the TLS Secret for config `tls`; undefined with tls off. */
export function stackTls(
  parent: pulumi.Resource,
  name: string,
  names: ObjectNames,
  settings: Settings,
  opts: pulumi.CustomResourceOptions,
): StackTls | undefined {
  if (settings.tls === "off") return undefined;
  const base = { name, names, settings };
  if (settings.tls === "self-signed") {
    const made = createSelfSignedCertificates(
      parent,
      name,
      Array.from({ length: settings.replicas }, (_, i) => ({
        commonName: memberPodName(names.statefulSet, i),
        ...tlsSubjectAltNames(names, settings, i),
      })),
      { signing: settings.tlsCaGeneration, trusted: settings.tlsTrustedCaGenerations },
    );
    const secret = new k8s.core.v1.Secret(`${name}-tls`, buildTlsSecret({ ...base, ...made }), opts);
    return { ca: made.ca, certificates: made.members.map((m) => m.cert), resources: [secret] };
  }
  // The members' pairs are in their own Secrets (the user's, or cert-manager's from these Certificates).
  const ca = settings.tlsCa!;
  const secret = new k8s.core.v1.Secret(`${name}-tls`, buildTlsSecret({ ...base, ca, members: [] }), opts);
  const certificates =
    settings.tls === "cert-manager"
      ? Array.from(
          { length: settings.replicas },
          (_, ordinal) =>
            new k8s.apiextensions.CustomResource(
              `${name}-tls-${ordinal}`,
              buildCertificate({ ...base, ordinal }),
              opts,
            ),
        )
      : [];
  return { ca, resources: [secret, ...certificates] };
}
