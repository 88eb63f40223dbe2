/**
 * TLS of the members (README "TLS"): the Secret with the CA (and, self-signed, every member's certificate and key),
 * the cert-manager Certificates, the pods' volume of them, and the names each certificate carries. Pure: the
 * self-signed certificates themselves are made in components/certificates.ts.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { MAX_MEMBERS, type Settings } from "../config";
import { commonLabels, memberPodName, ObjectNames } from "./names";

/** The Secret volume in the database container: the CA and every member's certificate and key. */
export const TLS_PATHS = {
  dir: "/etc/mysql-ha/tls",
  /** The CA that signed every member's certificate: replicas verify their source with it (MASTER_SSL_CA). */
  ca: "/etc/mysql-ha/tls/ca.crt",
} as const;

/** Keys of the TLS Secret; init-server.sh picks the member's own pair by its ordinal. */
export const TLS_KEYS = {
  ca: "ca.crt",
  cert: (ordinal: number) => `member-${ordinal}.crt`,
  key: (ordinal: number) => `member-${ordinal}.key`,
} as const;

/** Name of the TLS Secret: the CA, and with tls self-signed every member's pair. */
export function tlsSecretName(names: ObjectNames): string {
  return `${names.statefulSet}-tls`;
}

/** Keys of a kubernetes.io/tls Secret (the user's with tls secret, cert-manager's with tls cert-manager). */
const KUBERNETES_TLS_KEYS = { cert: "tls.crt", key: "tls.key" } as const;

/** With tls secret or cert-manager: member N's own pair is the Secret `<prefix>-N`; undefined otherwise. */
export function memberTlsSecretPrefix(
  names: ObjectNames,
  settings: Pick<Settings, "tls" | "tlsSecretPrefix">,
): string | undefined {
  if (settings.tls === "secret") return settings.tlsSecretPrefix;
  if (settings.tls === "cert-manager") return tlsSecretName(names);
  return undefined;
}

/** With tls secret or cert-manager: the Secret of member `ordinal`'s own pair. */
export function memberTlsSecretName(
  names: ObjectNames,
  settings: Pick<Settings, "tls" | "tlsSecretPrefix">,
  ordinal: number,
): string {
  const prefix = memberTlsSecretPrefix(names, settings);
  if (prefix === undefined) throw new Error(`memberTlsSecretName: tls ${settings.tls} has no Secret per member`);
  return `${prefix}-${ordinal}`;
}

/**
 * The pods' volume of TLS files, the same layout in every mode (ca.crt, member-<ordinal>.crt/.key; init-server.sh
 * and the donor pick their own pair by ordinal): the stack's Secret with tls self-signed; otherwise the CA from the
 * stack's Secret and each member's kubernetes.io/tls Secret, for every ordinal `replicas` may reach (optional:
 * missing ones are absent files, which init-server.sh names), so growing does not change the pod template. Keys
 * readable by the mysql group only (fsGroup).
 */
export function tlsVolume(
  names: ObjectNames,
  settings: Pick<Settings, "tls" | "tlsSecretPrefix">,
  volumeName: string,
): k8s.types.input.core.v1.Volume {
  if (settings.tls === "self-signed")
    return { name: volumeName, secret: { secretName: tlsSecretName(names), defaultMode: 0o440 } };
  return {
    name: volumeName,
    projected: {
      defaultMode: 0o440,
      sources: [
        { secret: { name: tlsSecretName(names), items: [{ key: TLS_KEYS.ca, path: TLS_KEYS.ca }] } },
        ...Array.from({ length: MAX_MEMBERS }, (_, i) => ({
          secret: {
            name: memberTlsSecretName(names, settings, i),
            optional: true,
            items: [
              { key: KUBERNETES_TLS_KEYS.cert, path: TLS_KEYS.cert(i) },
              { key: KUBERNETES_TLS_KEYS.key, path: TLS_KEYS.key(i) },
            ],
          },
        })),
      ],
    },
  };
}

/** The subject alternative names of a member certificate. */
export interface SubjectAltNames {
  dnsNames: string[];
  ipAddresses: string[];
}

/**
 * The names member `ordinal`'s certificate carries (self-signed and cert-manager alike). DNS: its own name through
 * the headless Service and each client Service's (a Service may send a client to any member), in every form a pod may
 * use (short, namespaced, `.svc`, with the usual cluster domain); its own names only, so a new member adds a
 * certificate and changes none of the others. IP: 127.0.0.1, where the pod's own clients that verify (the
 * mysqld_exporter sidecar) reach their server; it names no other member, and nothing outside the pod checks it.
 */
export function tlsSubjectAltNames(
  names: ObjectNames,
  settings: Pick<Settings, "namespace">,
  ordinal: number,
): SubjectAltNames {
  const ns = settings.namespace;
  const forms = (short: string) => [short, `${short}.${ns}`, `${short}.${ns}.svc`, `${short}.${ns}.svc.cluster.local`];
  const pod = memberPodName(names.statefulSet, ordinal);
  return {
    dnsNames: [
      ...forms(`${pod}.${names.headlessService}`),
      ...[names.headlessService, names.primaryService, names.readService].flatMap(forms),
    ],
    ipAddresses: ["127.0.0.1"],
  };
}

export interface TlsSecretArgs {
  name: string;
  names: ObjectNames;
  settings: Pick<Settings, "namespace">;
  /** PEM of the CA certificate (public). */
  ca: pulumi.Input<string>;
  /** Certificate and private key (secret) of each member, by ordinal; none when the members' Secrets are elsewhere. */
  members: Array<{ cert: pulumi.Input<string>; key: pulumi.Input<string> }>;
}

/** Member certificates live a year and are renewed in their last 30 days, as the self-signed ones. */
export const MEMBER_CERTIFICATE = { hours: 365 * 24, renewBeforeHours: 30 * 24 } as const;

export interface CertificateArgs {
  name: string;
  names: ObjectNames;
  settings: Pick<Settings, "namespace" | "tls" | "tlsSecretPrefix" | "tlsIssuer">;
  ordinal: number;
}

/**
 * cert-manager's Certificate of member `ordinal` (tls cert-manager): signed by tlsIssuer into the member's Secret,
 * with the same names and uses as a self-signed member certificate (server for clients and replicas, client when it
 * replicates), an ECDSA P-256 key made anew at each renewal.
 */
export function buildCertificate(args: CertificateArgs) {
  const issuer = args.settings.tlsIssuer;
  if (!issuer) throw new Error("buildCertificate: tls cert-manager needs tlsIssuer");
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: {
      name: memberTlsSecretName(args.names, args.settings, args.ordinal),
      namespace: args.settings.namespace,
      labels: commonLabels(args.name),
    },
    spec: {
      secretName: memberTlsSecretName(args.names, args.settings, args.ordinal),
      issuerRef: { group: "cert-manager.io", kind: issuer.kind, name: issuer.name },
      commonName: memberPodName(args.names.statefulSet, args.ordinal),
      ...tlsSubjectAltNames(args.names, args.settings, args.ordinal),
      duration: `${MEMBER_CERTIFICATE.hours}h`,
      renewBefore: `${MEMBER_CERTIFICATE.renewBeforeHours}h`,
      usages: ["digital signature", "key encipherment", "server auth", "client auth"],
      privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
      subject: { organizations: ["mysql-ha"] },
    },
  };
}

/**
 * The TLS Secret: the CA, then (tls self-signed) each member's certificate and key; with tls secret or cert-manager
 * the CA alone (config tlsCa), the members' pairs being in their own Secrets.
 */
export function buildTlsSecret(args: TlsSecretArgs): k8s.core.v1.SecretArgs {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: tlsSecretName(args.names), namespace: args.settings.namespace, labels: commonLabels(args.name) },
    type: "Opaque",
    stringData: {
      [TLS_KEYS.ca]: args.ca,
      ...Object.fromEntries(
        args.members.flatMap((m, i) => [
          [TLS_KEYS.cert(i), m.cert],
          [TLS_KEYS.key(i), m.key],
        ]),
      ),
    },
  };
}
