/**
 * TLS of the members (README "TLS"): the Secret with the CA and every member's certificate and key, where it is
 * mounted, and the names each certificate carries. Pure: the certificates themselves are made in
 * components/certificates.ts.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { Settings } from "../config";
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

/** Name of the TLS Secret. */
export function tlsSecretName(names: ObjectNames): string {
  return `${names.statefulSet}-tls`;
}

/**
 * The DNS names member `ordinal`'s certificate carries: its own name through the headless Service and each client
 * Service's (a Service may send a client to any member), in every form a pod may use (short, namespaced, `.svc`, with
 * the usual cluster domain). Its own names only, so a new member adds a certificate and changes none of the others.
 */
export function tlsDnsNames(names: ObjectNames, settings: Pick<Settings, "namespace">, ordinal: number): string[] {
  const ns = settings.namespace;
  const forms = (short: string) => [short, `${short}.${ns}`, `${short}.${ns}.svc`, `${short}.${ns}.svc.cluster.local`];
  const pod = memberPodName(names.statefulSet, ordinal);
  return [...forms(`${pod}.${names.headlessService}`), ...[names.headlessService, names.primaryService, names.readService].flatMap(forms)];
}

export interface TlsSecretArgs {
  name: string;
  names: ObjectNames;
  settings: Pick<Settings, "namespace">;
  /** PEM of the CA certificate (public). */
  ca: pulumi.Input<string>;
  /** Certificate and private key (secret) of each member, by ordinal. */
  members: Array<{ cert: pulumi.Input<string>; key: pulumi.Input<string> }>;
}

/** The Secret mounted into every member: the CA, then each member's certificate and key. */
export function buildTlsSecret(args: TlsSecretArgs): k8s.core.v1.SecretArgs {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: tlsSecretName(args.names), namespace: args.settings.namespace, labels: commonLabels(args.name) },
    type: "Opaque",
    stringData: {
      [TLS_KEYS.ca]: args.ca,
      ...Object.fromEntries(args.members.flatMap((m, i) => [[TLS_KEYS.cert(i), m.cert], [TLS_KEYS.key(i), m.key]])),
    },
  };
}
