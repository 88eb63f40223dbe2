/**
 * Stack configuration: the one table of every `mysql-ha:*` key (type, default, description, and its parser, which
 * validates the key's value), the rules between keys, the pure validation from raw config to typed
 * {@link Settings}, and `loadSettings()` for the Pulumi program.
 *
 * Pulumi.yaml's `config:` block is generated from {@link CONFIG_KEYS} (see {@link projectConfigBlock}); a test
 * checks that the two agree, so defaults live here and nowhere else.
 */

import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { CronScheduleError, longestGapSeconds } from "./cron";
import { normalizeOptionName, optionTargets } from "./server-options";

/** Name of the Pulumi project and of the config namespace (`mysql-ha:<key>`). */
export const PROJECT = "mysql-ha";

/** Flavors the program knows about; only "mariadb" can be deployed today. */
export type Flavor = "mariadb";
export type AntiAffinity = "none" | "preferred" | "required";
export type Connector = "kubernetes" | "direct";
export type ServiceType = "ClusterIP" | "NodePort" | "LoadBalancer";
export type Monitoring = "none" | "prometheus-operator";
/** Where the members' certificates come from; off: no TLS at all. */
export type TlsMode = "self-signed" | "secret" | "cert-manager" | "off";
/** The cert-manager issuer of `tls: cert-manager`: an Issuer in the stack's namespace or a ClusterIssuer. */
export interface TlsIssuer {
  kind: "Issuer" | "ClusterIssuer";
  name: string;
}
/** Upper bound of `replicas`. */
export const MAX_MEMBERS = 9;
/** Value of one extra my.cnf option. */
export type ServerOptionValue = string | number | boolean;

/** Validated, typed settings of one stack. Every field is set (defaults applied) unless marked optional. */
export interface Settings {
  /** Number of database members (StatefulSet replicas), 1..9. */
  replicas: number;
  /** Ordinal of the member that should be the primary (source); 0 <= primary < replicas. */
  primary: number;
  /** Container image with a pinned tag or digest (never `latest`). */
  image: string;
  /** Database flavor; selects the engine's SQL dialect and server options. */
  flavor: Flavor;
  /** Kubernetes namespace of every object (DNS-1123 label). */
  namespace: string;
  /** Create the namespace (never `default`, which always exists); false when it is managed elsewhere. */
  createNamespace: boolean;
  /** Size of each member's data volume (Kubernetes quantity, e.g. `10Gi`). */
  storageSize: string;
  /** StorageClass of the data volumes; undefined uses the cluster default. */
  storageClass?: string;
  /** CPU request of the database container (Kubernetes quantity). */
  cpuRequest: string;
  /** CPU limit of the database container; >= cpuRequest. */
  cpuLimit: string;
  /** Memory request of the database container (Kubernetes quantity). */
  memoryRequest: string;
  /** Memory limit of the database container; >= memoryRequest. */
  memoryLimit: string;
  /** Pod anti-affinity across nodes: none, preferred (soft) or required (hard). */
  antiAffinity: AntiAffinity;
  /** A replica is ready (and in the read Service) only while its lag is at most this many seconds. */
  readMaxLagSeconds: number;
  /** Semi-synchronous replication: a commit waits until one replica has received it. */
  semiSync: boolean;
  /** How long a semi-sync primary waits for a replica's ack before falling back to async (ms). */
  semiSyncTimeoutMs: number;
  /**
   * Whether a replica is promoted when the primary is unreachable: by the in-cluster agent (a Deployment, built only
   * then) between runs, and by `pulumi up`.
   */
  autoFailover: boolean;
  /** Image of the failover agent: a public Node image with a pinned tag or digest (the agent's code is in a ConfigMap). */
  agentImage: string;
  /** Milliseconds between the agent's checks of the primary. */
  agentIntervalMs: number;
  /** Consecutive failed checks of the primary before the agent fails over. */
  agentFailureThreshold: number;
  /** Seconds after a failover before the agent may fail over again. */
  agentCooldownSeconds: number;
  /** Deadline of one replication operation (setup, switchover, failover), seconds. */
  operationTimeoutSeconds: number;
  /** How the engine reaches members: Kubernetes port-forward per pod, or direct host:port addresses. */
  connector: Connector;
  /** host:port of each member by ordinal when connector = direct (length = replicas); empty otherwise. */
  directMembers: string[];
  /** Extra my.cnf options for the [mariadb] section (option name -> value). */
  serverConfig: Record<string, ServerOptionValue>;
  /**
   * Certificates of the members: a CA and one certificate per member made by the stack (self-signed), the user's
   * Secrets (secret), cert-manager Certificates (cert-manager), or none.
   */
  tls: TlsMode;
  /** tls self-signed: the generation of the stack's CA that signs the member certificates. */
  tlsCaGeneration: number;
  /**
   * tls self-signed: the CA generations the members, the replicas and the engine trust (ca.crt holds each); a CA
   * change is staged through it (README "TLS"). Includes tlsCaGeneration; empty: tlsCaGeneration alone.
   */
  tlsTrustedCaGenerations: number[];
  /** tls secret: member N's pair is the Secret `<tlsSecretPrefix>-N` (kubernetes.io/tls: tls.crt, tls.key). */
  tlsSecretPrefix?: string;
  /** tls cert-manager: who signs the members' Certificates. */
  tlsIssuer?: TlsIssuer;
  /** tls secret and cert-manager: PEM of the CA (or CAs) the members' certificates are verified against. */
  tlsCa?: string;
  /** Members refuse connections without TLS (require_secure_transport); needs tls. */
  tlsRequired: boolean;
  /** Type of the primary and read Services. */
  serviceType: ServiceType;
  /** Source CIDRs a LoadBalancer Service admits (spec.loadBalancerSourceRanges); empty: no restriction set. */
  loadBalancerSourceRanges: string[];
  /** Labels of the namespaces whose pods may reach the database port; empty: the stack's namespace. */
  clientNamespaceSelector: Record<string, string>;
  /** Labels of the application pods (in those namespaces) that may reach the database port; empty: every pod. */
  clientPodSelector: Record<string, string>;
  /** Application user created with full rights on appDatabase. */
  appUser: string;
  /** Application database created at setup. */
  appDatabase: string;
  /** Whether scheduled physical backups to S3 are deployed. */
  backupEnabled: boolean;
  /**
   * Image of the backup containers (clone donor, binlog archiver, seed, backup job): the database image plus
   * rclone (components/backup/Dockerfile builds it; the official image has socat and zstd). Undefined: the database
   * image itself.
   */
  backupImage?: string;
  /** Cron schedule (5 fields) of the backup CronJob. */
  backupSchedule: string;
  /**
   * Age in hours past which the newest complete base backup is too old (alert MysqlHaBackupTooOld); undefined: two of
   * backupSchedule's periods (components/cron.ts).
   */
  backupMaxAgeHours?: number;
  /** Existing bucket for backups; undefined creates one. */
  backupBucket?: string;
  /** URL of an S3-compatible endpoint; undefined uses AWS S3. */
  backupEndpoint?: string;
  /** Allow an http:// backupEndpoint (backups and keys in clear text on the network); https otherwise. */
  backupEndpointAllowHttp: boolean;
  /** KMS key (ARN or id) for SSE-KMS of the backups; undefined: SSE-S3 (AES256). */
  backupKmsKeyId?: string;
  /** The cluster's IAM OIDC provider (EKS IRSA): S3 access through IAM roles the stack creates, no static keys. */
  backupIrsa?: { oidcProviderArn: string; oidcIssuer: string };
  /** Region of the backup bucket. */
  backupRegion: string;
  /** Base backups older than this many days are pruned. */
  backupRetentionDays: number;
  /** At least this many most recent base backups are always kept. */
  backupRetentionCount: number;
  /** Whether binlogs are archived continuously to S3 (point-in-time recovery). */
  binlogArchive: boolean;
  /** s3:// URL of a base backup to restore member 0 from; undefined starts empty. */
  restoreFrom?: string;
  /** A mysqld_exporter sidecar on every member (its own least-privilege account). */
  metrics: boolean;
  /** Image of the mysqld_exporter sidecar (pinned). */
  metricsImage: string;
  /** Monitoring objects to create: none, or the Prometheus Operator's PodMonitors and PrometheusRule. */
  monitoring: Monitoring;
  /** Namespace of the Prometheus that scrapes the members (the NetworkPolicy admits the exporter port from it only). */
  monitoringNamespace: string;
  /** Labels on the monitoring objects, for the Prometheus' selectors (e.g. {"release": "kube-prometheus-stack"}). */
  monitoringLabels: Record<string, string>;
}

/** Types a key can have; keys of type object are not declared in Pulumi.yaml (see {@link projectConfigBlock}). */
type KeyType = "string" | "integer" | "boolean" | "array" | "object";

/** What a key's parser is given besides the value: the key, and where to report what is wrong with it. */
interface KeyCheck {
  key: string;
  /** Records that `value` (of this key, or of `key` when given, e.g. `serverConfig.port`) is not allowed. */
  fail(value: unknown, allowed: string, hint?: string, key?: string): undefined;
}

/** Turns a key's value (its default when unset; JSON already parsed for arrays and objects) into its setting. */
type Parse<T> = (value: unknown, c: KeyCheck) => T | undefined;

interface KeySpec<T = unknown> {
  type: KeyType;
  /** Default as written in Pulumi.yaml ("" = unset for optional strings). */
  default: unknown;
  description: string;
  /** The key's own validation; rules between keys are in {@link RULES}. */
  parse: Parse<T>;
}

// Parsers the table is made of. A key is valid when its parser reported nothing.

function integer(min: number, max: number, allowed: string): Parse<number> {
  return (v, c) => {
    const n = typeof v === "number" ? v : typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
    return Number.isInteger(n) && n >= min && n <= max ? n : c.fail(v, allowed);
  };
}

const boolean: Parse<boolean> = (v, c) => {
  if (typeof v === "boolean") return v;
  if (v === "true" || v === "false") return v === "true";
  return c.fail(v, "true or false");
};

/** A string; `problem` says what is allowed when the string is not (`allowed` instead, when given). */
function text(problem: (v: string, key: string) => string | undefined, allowed?: string): Parse<string> {
  return (v, c) => {
    if (typeof v !== "string") return c.fail(v, "a string");
    const wrong = problem(v, c.key);
    if (wrong) c.fail(v, allowed ?? wrong);
    return v;
  };
}

/** An optional string: empty is unset (undefined). */
function optional(check: (v: string) => boolean, allowed: string): Parse<string | undefined> {
  return (v, c) => {
    if (typeof v !== "string") return c.fail(v, "a string");
    if (v === "") return undefined;
    return check(v) ? v : c.fail(v, allowed);
  };
}

/** One of `allowed`; `reserved` values are refused with their own reason. */
function oneOf<T extends string>(allowed: readonly T[], reserved: Record<string, string> = {}): Parse<T> {
  return (v, c) => {
    if (typeof v === "string" && (allowed as readonly string[]).includes(v)) return v as T;
    if (typeof v === "string" && reserved[v]) return c.fail(v, `one of ${allowed.join(", ")}`, ` (${reserved[v]})`);
    const guess = typeof v === "string" ? closest(v, allowed) : undefined;
    return c.fail(v, `one of ${allowed.join(", ")}`, guess ? ` (did you mean ${guess}?)` : "");
  };
}

/** A positive Kubernetes quantity; the key's default is the example. */
function quantity(what: string): Parse<string> {
  return (v, c) => {
    if (typeof v !== "string") return c.fail(v, "a string");
    const n = parseQuantity(v);
    if (n === undefined || n <= 0)
      return c.fail(v, `a positive Kubernetes ${what} quantity such as ${defaultOf(c.key)}`, quantityHint(v));
    return v;
  };
}

/** A pinned image reference; the key's default is the example. */
const image: Parse<string> = text((v, key) => checkImage(v, String(defaultOf(key))));

function namespaceName(v: string): string | undefined {
  return DNS1123_LABEL.test(v) && v.length <= 63
    ? undefined
    : "a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";
}

/** The image of the backup containers: pinned, or empty for the database image (undefined). */
const backupImage: Parse<string | undefined> = (v, c) => {
  if (v === "") return undefined;
  return text((i) => {
    const problem = checkImage(i);
    return problem && `${problem}, or empty for the database image`;
  })(v, c);
};

/** tlsTrustedCaGenerations: distinct generations (integers 1..1000), in order of trust (the file lists them so). */
const caGenerations: Parse<number[]> = (v, c) => {
  const ok =
    Array.isArray(v) && v.every((g) => Number.isInteger(g) && g >= 1 && g <= 1000) && new Set(v).size === v.length;
  return ok ? (v as number[]) : c.fail(v, "a list of distinct CA generations (integers from 1 to 1000), e.g. [1, 2]");
};

/** tlsIssuer: "Issuer/<name>" or "ClusterIssuer/<name>" (or the component's argument {kind, name}); empty is unset. */
const tlsIssuer: Parse<TlsIssuer | undefined> = (v, c) => {
  if (v === "") return undefined;
  const given = typeof v === "object" && v !== null ? `${(v as TlsIssuer).kind}/${(v as TlsIssuer).name}` : v;
  const match = typeof given === "string" ? /^(Issuer|ClusterIssuer)\/(.+)$/.exec(given) : null;
  if (!match || !DNS1123_SUBDOMAIN.test(match[2]) || match[2].length > 253) {
    return c.fail(v, "Issuer/<name> or ClusterIssuer/<name> (a cert-manager issuer's kind and name)");
  }
  return { kind: match[1] as TlsIssuer["kind"], name: match[2] };
};

/** tlsCa: one or more PEM CA certificates (each with basicConstraints CA:TRUE); empty is unset. */
const caBundle: Parse<string | undefined> = (v, c) => {
  if (v === "") return undefined;
  if (typeof v !== "string") return c.fail(v, "a string");
  const pems = v.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0)
    return c.fail("(not PEM)", "one or more PEM certificates (-----BEGIN CERTIFICATE----- ...) of the CA");
  for (const [i, pem] of pems.entries()) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch (err) {
      return c.fail(`(certificate ${i + 1}: ${(err as Error).message})`, "PEM certificates that parse");
    }
    if (!cert.ca)
      return c.fail(
        `(certificate ${i + 1}: ${cert.subject.replace(/\n/g, ", ")})`,
        "CA certificates (basicConstraints CA:TRUE), not a member's certificate",
      );
  }
  return v;
};

/** directMembers: "host:port" strings (how many, and whether they are names, is checked against other keys). */
const hostPorts: Parse<string[]> = (v, c) => {
  if (!Array.isArray(v) || v.some((m) => typeof m !== "string")) return c.fail(v, 'a list of "host:port" strings');
  for (const m of v as string[]) {
    const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d+)$/.exec(m);
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535)
      c.fail(m, '"host:port" with a port from 1 to 65535');
  }
  return v as string[];
};

/** serverConfig: my.cnf options, none of them one the component manages or relies on. */
const serverOptions: Parse<Record<string, ServerOptionValue>> = (v, c) => {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    return c.fail(v, 'an object of my.cnf options, e.g. {"max_connections": 500}');
  const options: Record<string, ServerOptionValue> = {};
  for (const [name, value] of Object.entries(v as Record<string, unknown>)) {
    const key = `${c.key}.${name}`;
    if (!OPTION_NAME.test(name)) {
      c.fail(name, "an option name of lowercase letters, digits, '_' and '-'", "", key);
      continue;
    }
    const problem = protectedOptionProblem(name);
    if (
      !(typeof value === "string" && !/[\n\r]/.test(value)) &&
      !(typeof value === "number" && Number.isFinite(value)) &&
      typeof value !== "boolean"
    ) {
      c.fail(value, "a single-line string, a number or a boolean", "", key);
    } else if (problem) {
      c.fail(value, "an option the component does not manage or rely on", ` (${problem})`, key);
    } else {
      options[name] = value;
    }
  }
  return options;
};

/** loadBalancerSourceRanges: IPv4 or IPv6 CIDRs. */
const cidrs: Parse<string[]> = (v, c) => {
  if (!Array.isArray(v) || v.some((r) => typeof r !== "string"))
    return c.fail(v, 'a list of CIDR strings, e.g. ["10.0.0.0/8"]');
  for (const r of v as string[]) if (!isCidr(r)) c.fail(r, "an IPv4 or IPv6 CIDR such as 10.0.0.0/8 or fd00::/8");
  return v as string[];
};

/** A Kubernetes label selector's matchLabels: every key and value as the API server accepts them. */
const labels: Parse<Record<string, string>> = (v, c) => {
  if (!v || typeof v !== "object" || Array.isArray(v))
    return c.fail(v, 'an object of label key -> value, e.g. {"app.kubernetes.io/part-of": "shop"}');
  for (const [k, value] of Object.entries(v)) {
    if (!isLabelKey(k))
      c.fail(
        k,
        "a label key: [prefix/]name, the name at most 63 characters of letters, digits, '-', '_', '.'",
        "",
        `${c.key}.${k}`,
      );
    else if (typeof value !== "string" || !LABEL_VALUE.test(value)) {
      c.fail(
        value,
        "a label value: at most 63 characters of letters, digits, '-', '_', '.', starting and ending alphanumeric",
        "",
        `${c.key}.${k}`,
      );
    }
  }
  return v as Record<string, string>;
};

/** backupEndpoint: an http(s) URL without credentials (whether http is allowed depends on another key). */
const endpoint: Parse<string | undefined> = (v, c) => {
  const url = optional(isHttpUrl, "an https:// URL of an S3-compatible endpoint or empty for AWS S3")(v, c);
  if (url === undefined) return undefined;
  const { username, password } = new URL(url);
  // Keys in the URL would sit in the manifests, the state and every pod's environment (and are not repeated here).
  if (username || password)
    return c.fail(
      "(a URL with credentials)",
      "a URL without user or password: S3 keys come from the backup Secret or IRSA",
    );
  return url;
};

/**
 * Every config key. Order is the order of Pulumi.yaml and of the README table.
 * Optional strings default to "" because Pulumi treats a declared key without a default as required.
 */
export const CONFIG_KEYS = {
  replicas: {
    type: "integer",
    default: 3,
    description: `Number of database members (1..${MAX_MEMBERS}).`,
    parse: integer(1, MAX_MEMBERS, `an integer from 1 to ${MAX_MEMBERS}`),
  },
  primary: {
    type: "integer",
    default: 0,
    description: "Ordinal of the primary member (0 <= primary < replicas); change it for a planned switchover.",
    parse: integer(0, Number.MAX_SAFE_INTEGER, "an integer >= 0 and < replicas"),
  },
  image: {
    type: "string",
    default: "mariadb:10.11.10",
    description: "Database image with a pinned tag or digest (`latest` is refused).",
    parse: image,
  },
  flavor: {
    type: "string",
    default: "mariadb",
    description: "Database flavor: mariadb (mysql is reserved for a later release).",
    parse: oneOf<Flavor>(["mariadb"], { mysql: "mysql is reserved: the MySQL 8.4 flavor is not deployable yet" }),
  },
  namespace: {
    type: "string",
    default: "default",
    description: "Kubernetes namespace (DNS-1123 label).",
    parse: text(namespaceName),
  },
  createNamespace: {
    type: "boolean",
    default: true,
    description: "Create the namespace (never `default`); false when it exists already or is managed elsewhere.",
    parse: boolean,
  },
  storageSize: {
    type: "string",
    default: "10Gi",
    description: "Data volume size per member (Kubernetes quantity, e.g. 20Gi).",
    parse: quantity("storage"),
  },
  storageClass: {
    type: "string",
    default: "",
    description: "StorageClass of the data volumes; empty uses the cluster default.",
    parse: optional(
      (v) => /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(v) && v.length <= 253,
      "a StorageClass name (DNS-1123 subdomain) or empty for the cluster default",
    ),
  },
  cpuRequest: {
    type: "string",
    default: "250m",
    description: "CPU request of the database container.",
    parse: quantity("CPU"),
  },
  cpuLimit: {
    type: "string",
    default: "1",
    description: "CPU limit of the database container (>= cpuRequest).",
    parse: quantity("CPU"),
  },
  memoryRequest: {
    type: "string",
    default: "512Mi",
    description: "Memory request of the database container.",
    parse: quantity("memory"),
  },
  memoryLimit: {
    type: "string",
    default: "1Gi",
    description: "Memory limit of the database container (>= memoryRequest).",
    parse: quantity("memory"),
  },
  antiAffinity: {
    type: "string",
    default: "preferred",
    description: "Spread members over nodes: none, preferred or required.",
    parse: oneOf<AntiAffinity>(["none", "preferred", "required"]),
  },
  readMaxLagSeconds: {
    type: "integer",
    default: 10,
    description: "Replicas lagging more than this many seconds leave the read Service (> 0).",
    parse: integer(
      1,
      Number.MAX_SAFE_INTEGER,
      "a whole number of seconds > 0 (replication lag is measured in seconds)",
    ),
  },
  semiSync: {
    type: "boolean",
    default: true,
    description: "Semi-synchronous replication (a commit waits for one replica's ack).",
    parse: boolean,
  },
  semiSyncTimeoutMs: {
    type: "integer",
    default: 10000,
    description: "Semi-sync ack timeout in ms before falling back to async (> 0).",
    parse: integer(1, Number.MAX_SAFE_INTEGER, "an integer number of milliseconds > 0"),
  },
  autoFailover: {
    type: "boolean",
    default: true,
    description:
      "Promote the most advanced replica when the primary is unreachable: an agent in the cluster does it within seconds, and `pulumi up` does it too.",
    parse: boolean,
  },
  agentImage: {
    type: "string",
    default: "node:20.19.5-bookworm-slim",
    description:
      "Image of the failover agent: a public Node (>= 20.19) image with a pinned tag or digest (`latest` is refused); the agent's compiled code comes in a ConfigMap, so there is no image to build.",
    parse: image,
  },
  agentIntervalMs: {
    type: "integer",
    default: 1000,
    description: "Milliseconds between the agent's checks of the primary (> 0).",
    parse: integer(1, Number.MAX_SAFE_INTEGER, "an integer number of milliseconds > 0"),
  },
  agentFailureThreshold: {
    type: "integer",
    default: 3,
    description: "Consecutive failed checks of the primary before the agent fails over (>= 1).",
    parse: integer(1, Number.MAX_SAFE_INTEGER, "an integer >= 1 (consecutive failed checks)"),
  },
  agentCooldownSeconds: {
    type: "integer",
    default: 300,
    description: "Seconds after a failover before the agent may fail over again (>= 0).",
    parse: integer(0, Number.MAX_SAFE_INTEGER, "an integer number of seconds >= 0"),
  },
  operationTimeoutSeconds: {
    type: "integer",
    default: 120,
    description: "Deadline of one replication operation in seconds (> 0).",
    parse: integer(1, Number.MAX_SAFE_INTEGER, "an integer number of seconds > 0"),
  },
  connector: {
    type: "string",
    default: "kubernetes",
    description: "How the engine reaches members: kubernetes (port-forward) or direct (directMembers).",
    parse: oneOf<Connector>(["kubernetes", "direct"]),
  },
  directMembers: {
    type: "array",
    default: [],
    description: "host:port of each member by ordinal; required when connector is direct (length = replicas).",
    parse: hostPorts,
  },
  serverConfig: {
    type: "object",
    default: {},
    description: "Extra my.cnf options, e.g. `pulumi config set --path serverConfig.max_connections 500`.",
    parse: serverOptions,
  },
  tls: {
    type: "string",
    default: "self-signed",
    description:
      "TLS of the members: self-signed (a CA and one certificate per member made by the stack, keys secret in state), secret (your Secrets, tlsSecretPrefix), cert-manager (Certificates from tlsIssuer) or off; replication and the engine verify the members against the CA.",
    parse: oneOf<TlsMode>(["self-signed", "secret", "cert-manager", "off"]),
  },
  tlsCaGeneration: {
    type: "integer",
    default: 1,
    description:
      "tls self-signed: the generation of the stack's CA that signs the member certificates; a new one makes a new CA (stage it with tlsTrustedCaGenerations, README TLS).",
    parse: integer(1, 1000, "an integer from 1 to 1000"),
  },
  tlsTrustedCaGenerations: {
    type: "array",
    default: [],
    description:
      "tls self-signed: the CA generations trusted (each in ca.crt), e.g. [1, 2] while the members move from CA 1 to CA 2; must include tlsCaGeneration; empty: tlsCaGeneration alone.",
    parse: caGenerations,
  },
  tlsSecretPrefix: {
    type: "string",
    default: "",
    description:
      "tls secret: member N's certificate and key are the Secret <tlsSecretPrefix>-N in the namespace (kubernetes.io/tls: tls.crt, tls.key), for every member; the certificate must carry the member's DNS names.",
    parse: optional(
      (v) => DNS1123_SUBDOMAIN.test(v) && v.length <= 240,
      "a Secret name prefix (lowercase letters, digits, '-' and '.'; at most 240 characters)",
    ),
  },
  tlsIssuer: {
    type: "string",
    default: "",
    description:
      "tls cert-manager: Issuer/<name> (in the namespace) or ClusterIssuer/<name> that signs the members' Certificates.",
    parse: tlsIssuer,
  },
  tlsCa: {
    type: "string",
    default: "",
    description:
      "tls secret and cert-manager: PEM of the CA that signs the members' certificates (public), or of several (old and new, while a new CA rolls out).",
    parse: caBundle,
  },
  tlsRequired: {
    type: "boolean",
    default: false,
    description:
      "Members refuse connections without TLS (require_secure_transport); needs tls on. Pulumi.prod.yaml sets it.",
    parse: boolean,
  },
  serviceType: {
    type: "string",
    default: "ClusterIP",
    description: "Type of the primary and read Services: ClusterIP, NodePort or LoadBalancer.",
    parse: oneOf<ServiceType>(["ClusterIP", "NodePort", "LoadBalancer"]),
  },
  loadBalancerSourceRanges: {
    type: "array",
    default: [],
    description:
      'CIDRs a LoadBalancer Service admits (e.g. ["10.0.0.0/8"]); required by policy in production when serviceType is LoadBalancer.',
    parse: cidrs,
  },
  clientNamespaceSelector: {
    type: "object",
    default: {},
    description:
      "Labels of the namespaces whose pods may connect to the database port (NetworkPolicy); empty: the stack's namespace.",
    parse: labels,
  },
  clientPodSelector: {
    type: "object",
    default: {},
    description: "Labels of the application pods in those namespaces that may connect; empty: every pod there.",
    parse: labels,
  },
  appUser: {
    type: "string",
    default: "app",
    description: "Application user (its password is generated).",
    parse: text((v) =>
      SQL_IDENTIFIER.test(v) && !["root", "replication", "mariadb.sys"].includes(v)
        ? undefined
        : "a user name of letters, digits and '_' (at most 32, not starting with a digit), other than root or replication",
    ),
  },
  appDatabase: {
    type: "string",
    default: "app",
    description: "Application database.",
    parse: text((v) =>
      SQL_IDENTIFIER.test(v) && !["mysql", "sys", "information_schema", "performance_schema"].includes(v.toLowerCase())
        ? undefined
        : "a database name of letters, digits and '_' (at most 32, not starting with a digit), not a system schema",
    ),
  },
  backupEnabled: {
    type: "boolean",
    default: true,
    description: "Deploy scheduled physical backups to S3.",
    parse: boolean,
  },
  backupImage: {
    type: "string",
    default: "",
    description:
      "Image of the backup containers (clone donor, binlog archiver, seed, backup job): the database image with rclone added, as components/backup/Dockerfile builds it, pinned like image. Empty uses image itself: seeding works on the official mariadb image (it has socat and zstd), backups, the binlog archive and restoreFrom need rclone (the program warns).",
    parse: backupImage,
  },
  backupSchedule: {
    type: "string",
    default: "0 3 * * *",
    description: "Cron schedule (5 fields) of base backups.",
    parse: text((v) =>
      isCron(v)
        ? undefined
        : 'a cron expression with 5 fields (minute hour day-of-month month day-of-week), e.g. "0 3 * * *"',
    ),
  },
  backupMaxAgeHours: {
    type: "integer",
    default: 0,
    description:
      "With monitoring and binlogArchive, the alert MysqlHaBackupTooOld fires when the newest complete base backup is older than this many hours (1 to 8784); 0: two periods of backupSchedule (the longest time between two of its runs; 48 for the default daily schedule).",
    parse: (v, c) =>
      integer(0, 8784, "an integer number of hours from 1 to 8784, or 0 for two periods of backupSchedule")(v, c) ||
      undefined,
  },
  backupBucket: {
    type: "string",
    default: "",
    description: "Existing S3 bucket for backups; empty creates one.",
    parse: optional(
      isBucketName,
      "an S3 bucket name (3-63 lowercase letters, digits, '.' or '-') or empty to create one",
    ),
  },
  backupEndpoint: {
    type: "string",
    default: "",
    description: "https:// URL of an S3-compatible endpoint (no credentials in it); empty uses AWS S3.",
    parse: endpoint,
  },
  backupEndpointAllowHttp: {
    type: "boolean",
    default: false,
    description: "Allow an http:// backupEndpoint (backups travel unencrypted; e.g. a MinIO inside the cluster).",
    parse: boolean,
  },
  backupKmsKeyId: {
    type: "string",
    default: "",
    description: "KMS key ARN or id: backups are encrypted with SSE-KMS under it instead of SSE-S3 (AES256).",
    parse: optional(
      (v) =>
        /^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+|[0-9a-f-]{36}|alias\/[A-Za-z0-9/_-]+)$/.test(
          v,
        ),
      "a KMS key ARN, key id or alias/<name>, or empty for SSE-S3",
    ),
  },
  backupIrsaOidcProviderArn: {
    type: "string",
    default: "",
    description:
      "ARN of the cluster's IAM OIDC provider (EKS): S3 access through IRSA roles the stack creates (members write, only the backup Job deletes); empty: static keys from the backup Secret.",
    parse: optional(
      (v) => /^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/[A-Za-z0-9./_-]+$/.test(v),
      "an IAM OIDC provider ARN (arn:aws:iam::<account>:oidc-provider/<issuer host and path>) or empty",
    ),
  },
  backupIrsaOidcIssuer: {
    type: "string",
    default: "",
    description:
      "The cluster's OIDC issuer URL (https://oidc.eks.<region>.amazonaws.com/id/<id>); required with backupIrsaOidcProviderArn.",
    parse: optional(
      (v) => /^https:\/\/[A-Za-z0-9./_-]+$/.test(v),
      "the https:// OIDC issuer URL of the cluster or empty",
    ),
  },
  backupRegion: {
    type: "string",
    default: "us-east-1",
    description: "Region of the backup bucket.",
    parse: text((v) => (/^[a-z0-9][a-z0-9-]{0,62}$/.test(v) ? undefined : "a region name such as us-east-1")),
  },
  backupRetentionDays: {
    type: "integer",
    default: 30,
    description: "Prune base backups older than this many days (>= 1).",
    parse: integer(1, 36500, "an integer number of days from 1 to 36500"),
  },
  backupRetentionCount: {
    type: "integer",
    default: 7,
    description: "Always keep at least this many recent base backups (>= 1).",
    parse: integer(1, 10000, "an integer from 1 to 10000"),
  },
  binlogArchive: {
    type: "boolean",
    default: true,
    description: "Archive binlogs continuously to S3 for point-in-time recovery.",
    parse: boolean,
  },
  restoreFrom: {
    type: "string",
    default: "",
    description: "s3:// URL of a base backup to build member 0 from; empty starts empty.",
    parse: optional(
      (v) => /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/\S*)?$/.test(v) && isBucketName(v.slice(5).split("/")[0]),
      "an s3://bucket/path URL of a base backup, or empty",
    ),
  },
  metrics: {
    type: "boolean",
    default: false,
    description:
      "A mysqld_exporter sidecar (port 9104) on every member, as the least-privilege account mysql_ha_metrics; the NetworkPolicy admits it from monitoringNamespace only. Existing members get it at their next restart.",
    parse: boolean,
  },
  metricsImage: {
    type: "string",
    default: "prom/mysqld-exporter:v0.15.1",
    description:
      "Image of the mysqld_exporter sidecar (0.14 or newer: it is configured by an option file alone), pinned like image.",
    parse: image,
  },
  monitoring: {
    type: "string",
    default: "none",
    description:
      "Monitoring objects: none, or prometheus-operator (PodMonitors for the agent and, with metrics, the members; a PrometheusRule with the alerts of README, Observability). Needs autoFailover (the agent exports the topology).",
    parse: oneOf<Monitoring>(["none", "prometheus-operator"]),
  },
  monitoringNamespace: {
    type: "string",
    default: "monitoring",
    description:
      "Namespace of the Prometheus that scrapes the members: the only one the NetworkPolicy admits to the exporter port.",
    parse: text(namespaceName, "a namespace name (DNS-1123 label)"),
  },
  monitoringLabels: {
    type: "object",
    default: {},
    description:
      'Labels on the PodMonitors and the PrometheusRule, so the Prometheus\' selectors pick them, e.g. {"release": "kube-prometheus-stack"}.',
    parse: labels,
  },
} satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;
export const CONFIG_KEY_NAMES = Object.keys(CONFIG_KEYS) as ConfigKey[];

/**
 * The `config:` block of Pulumi.yaml for {@link CONFIG_KEYS}. Keys of type object are left out: project config has
 * `type: object` only since Pulumi CLI 3.186, and an older CLI refuses the whole Pulumi.yaml over a type it does not
 * know; an undeclared key is still accepted in stack config, and the program validates it like every key.
 */
export function projectConfigBlock(): Record<
  string,
  { type: string; default: unknown; description: string; items?: { type: string } }
> {
  const block: ReturnType<typeof projectConfigBlock> = {};
  for (const key of CONFIG_KEY_NAMES) {
    const spec: KeySpec = CONFIG_KEYS[key];
    if (spec.type === "object") continue;
    block[key] =
      spec.type === "array"
        ? { type: "array", items: { type: "string" }, default: spec.default, description: spec.description }
        : { type: spec.type, default: spec.default, description: spec.description };
  }
  return block;
}

/** One validation failure: the key, the value given, what is allowed, and a full message to print. */
export interface ConfigError {
  key: string;
  value: unknown;
  allowed: string;
  message: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Small pure helpers (exported where other modules or tests use them)

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

/** The closest candidate within a small distance (case-insensitive), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  // A shortened or lengthened key ("readMaxLag", "replicasCount") is a typo too.
  const partial = candidates.find(
    (c) => lower.length >= 4 && (c.toLowerCase().startsWith(lower) || lower.startsWith(c.toLowerCase())),
  );
  if (partial) return partial;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

const QUANTITY = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))((?:[KMGTPE]i)|[numkMGTPE]|(?:[eE][+-]?\d+))?$/;
const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Value of a Kubernetes quantity ("250m" -> 0.25, "1Gi" -> 1073741824), or undefined if it is not one. */
export function parseQuantity(q: string): number | undefined {
  const m = QUANTITY.exec(q);
  if (!m) return undefined;
  const suffix = m[2] ?? "";
  const factor = /^[eE][+-]?\d+$/.test(suffix) ? 10 ** Number(suffix.slice(1)) : SUFFIX[suffix];
  return Number(m[1]) * factor;
}

/** Hint for quantities written the way people write disk sizes ("20GB" -> "20Gi"). */
function quantityHint(q: string): string {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgGtTpPeE])i?[bB]?$/.exec(q.trim());
  return m ? ` (did you mean ${m[1]}${m[2].toUpperCase()}i?)` : "";
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** A label key as the API server accepts it: an optional DNS subdomain prefix and `/`, then a name. */
function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const prefixOk =
    prefix === undefined || (prefix.length <= 253 && prefix.split(".").every((p) => DNS1123_LABEL.test(p)));
  return prefixOk && LABEL_NAME.test(name);
}

/** An IPv4 or IPv6 CIDR (address/prefix length), as Kubernetes validates loadBalancerSourceRanges. */
function isCidr(value: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(value);
  if (!m) return false;
  const bits = Number(m[2]);
  if (isIP(m[1]) === 4) return bits <= 32;
  if (isIP(m[1]) === 6) return bits <= 128;
  return false;
}
const OPTION_NAME = /^[a-z][a-z0-9_-]*$/;
const SQL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;

const BINLOG = "the binary log that replication, failover, seeding and the binlog archive read";
const APPLY_ALL =
  "replicas applying every event of their source (a filter or a skipped error lets a replica silently diverge)";
const DATA_VOLUME =
  "data files on the data volume (anything elsewhere is lost at a restart and missed by backups and seeding)";
const TLS = "TLS as config tls sets it up (the members' certificates, which the engine and replication verify)";
const REACHABLE = "port 3306 on every interface, where the Services, probes and peers connect";

/**
 * Options serverConfig may not set in any spelling, with what setting them would undo; they are written after the
 * managed lines, so they would win. A key ending in `_` stands for every option starting with it. Not listed, on
 * purpose: tuning, binlog_row_image (MINIMAL rows replicate and replay correctly), sync_binlog and
 * innodb_flush_log_at_trx_commit (durability trade-offs, live-tunable), log files, plugin_load_add (an auth plugin
 * only applies to accounts created to use it; the stack's accounts use passwords) and secure_file_priv (unset by
 * default, so setting it can only narrow file access). sql_log_bin and super_read_only are no startup options of
 * MariaDB; init_connect is what could turn sql_log_bin off. test/config-protected.test.ts checks these names and
 * what their spellings do against the real mariadbd.
 */
export const PROTECTED_SERVER_OPTIONS: Readonly<Record<string, string>> = {
  log_bin: BINLOG,
  log_basename: BINLOG,
  log_bin_index: BINLOG,
  binlog_do_db: `${BINLOG} (a filter leaves writes out of it)`,
  binlog_ignore_db: `${BINLOG} (a filter leaves writes out of it)`,
  binlog_format: "row-based binary logging (statement-based events can apply differently on a replica)",
  log_slave_updates: "replicas logging what they apply, so any member can become the source of the others",
  // MySQL's name of log_slave_updates (the reserved mysql flavor).
  log_replica_updates: "replicas logging what they apply, so any member can become the source of the others",
  replicate_: APPLY_ALL,
  slave_skip_errors: APPLY_ALL,
  slave_exec_mode: APPLY_ALL,
  skip_slave_start: "replicas resuming replication by themselves after a restart",
  relay_log_recovery: "crash-safe replicas (relay logs fetched again after a crash)",
  slave_net_timeout: "replicas noticing a lost primary within seconds, which the failover agent's failure rule needs",
  gtid_strict_mode: "GTID strict mode, which keeps failover and switchover from losing or duplicating transactions",
  gtid_domain_id: "the single GTID domain that failover and switchover compare positions in",
  server_id: "the unique server_id init-server.sh gives each member",
  read_only: "the read-only start of every member but the primary (an old primary must not take writes)",
  rpl_semi_sync_: "lossless semi-synchronous replication as semiSync and semiSyncTimeoutMs set it",
  wsrep_: "the component's GTID replication (wsrep turns on Galera, which the component does not manage)",
  skip_grant_tables: "authentication (every client would connect with all privileges and no password)",
  init_file: "authentication and the component's accounts (the file's SQL runs with all privileges at every start)",
  init_connect:
    "binary logging and the settings of every application session (it runs SQL such as SET sql_log_bin = 0 on each connection)",
  secure_auth: "authentication (it allows the old, broken password hash)",
  plugin_dir: "which server code is loaded (plugins from another directory)",
  ssl: TLS,
  ssl_: TLS,
  tls_version: TLS,
  require_secure_transport: "TLS as config tlsRequired sets it",
  datadir: DATA_VOLUME,
  innodb_data_home_dir: DATA_VOLUME,
  innodb_log_group_home_dir: DATA_VOLUME,
  innodb_undo_directory: DATA_VOLUME,
  aria_log_dir_path: DATA_VOLUME,
  tmpdir: "the size-limited tmp volume mariadbd spills to (elsewhere it fills the data volume or the node)",
  socket: "the socket the probes and scripts connect to (/run/mysqld/mysqld.sock)",
  port: REACHABLE,
  bind_address: REACHABLE,
  skip_networking: REACHABLE,
  log_error: "the error log on stderr, where kubectl logs shows it",
};

/**
 * Real mariadbd options that begin a protected name. mariadbd also accepts a unique prefix of an option name
 * (`gtid-strict = 0` turns gtid_strict_mode off), so any other name that begins a protected one is refused: it is
 * either such an abbreviation or ambiguous, and today's unique prefix can stop being unique in a later version.
 */
export const COMPLETE_OPTIONS_BEGINNING_PROTECTED: ReadonlySet<string> = new Set(["innodb", "relay_log"]);

/** Why serverConfig may not set `name` (in whatever spelling), or undefined when it may. */
export function protectedOptionProblem(name: string): string | undefined {
  const protects = (target: string) =>
    Object.keys(PROTECTED_SERVER_OPTIONS).find((p) => target === p || (p.endsWith("_") && target.startsWith(p)));
  for (const target of optionTargets(name)) {
    const exact = protects(target);
    if (exact !== undefined) {
      const sets = target === normalizeOptionName(name) ? "it" : `it sets ${target} and`;
      return `${sets} would undo ${PROTECTED_SERVER_OPTIONS[exact]}`;
    }
    if (COMPLETE_OPTIONS_BEGINNING_PROTECTED.has(target)) continue;
    const begun = Object.keys(PROTECTED_SERVER_OPTIONS).find((p) => p.startsWith(target));
    if (begun !== undefined) {
      const option = begun.endsWith("_") ? `${begun}*` : begun;
      return `mariadbd reads a unique beginning of an option name as that option: ${target} may set ${option}, which would undo ${PROTECTED_SERVER_OPTIONS[begun]}`;
    }
  }
  return undefined;
}

/**
 * Image references must pin a version: `repo:tag` (tag not `latest`) or `repo@sha256:<64 hex>`. `example` is a
 * pinned reference of the key's default (`repo:tag`), shown when the tag is missing.
 */
function checkImage(image: string, example: string = CONFIG_KEYS.image.default): string | undefined {
  if (/\s/.test(image) || image === "") return "an image reference without spaces";
  const digest = /^[a-z0-9][a-z0-9._\-/:]*@sha256:[a-f0-9]{64}$/.exec(image);
  if (digest) return undefined;
  const lastSlash = image.lastIndexOf("/");
  const colon = image.indexOf(":", lastSlash + 1);
  if (colon < 0)
    return `an image with a pinned tag or digest, e.g. ${example} or ${example.split(":")[0]}@sha256:<digest>`;
  const tag = image.slice(colon + 1);
  if (tag === "latest") return "a pinned tag or digest (`latest` changes under you and breaks reproducible deploys)";
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) return "a valid tag ([A-Za-z0-9_.-], at most 128 characters)";
  return undefined;
}

/** 5-field cron expression (minute hour day-of-month month day-of-week), as Kubernetes CronJob accepts. */
export function isCron(expr: string): boolean {
  if (/^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$/.test(expr)) return true;
  const fields = expr.trim().split(/\s+/);
  return fields.length === 5 && fields.every((f) => /^[\d*?/,\-A-Za-z]+$/.test(f));
}

/** S3 bucket naming rules (3-63 chars, lowercase letters, digits, dots, hyphens; not an IP address). */
export function isBucketName(name: string): boolean {
  return (
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) &&
    !name.includes("..") &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name) &&
    !name.includes(".-") &&
    !name.includes("-.") &&
    !name.startsWith("xn--")
  );
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Validation

/** What each key parses to (undefined: an optional key left empty). */
export type ConfigValues = { -readonly [K in ConfigKey]: (typeof CONFIG_KEYS)[K] extends KeySpec<infer T> ? T : never };

function defaultOf(key: string): unknown {
  return (CONFIG_KEYS as Record<string, KeySpec>)[key].default;
}

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
}

/** A rule between keys: judged only when every key it reads is valid on its own, so a problem is reported once. */
interface Rule {
  reads: readonly ConfigKey[];
  check(v: ConfigValues, fail: (key: ConfigKey, value: unknown, allowed: string) => void): void;
}

const RULES: readonly Rule[] = [
  {
    reads: ["replicas", "primary"],
    check: (v, fail) => {
      if (v.primary >= v.replicas)
        fail("primary", v.primary, `an integer from 0 to ${v.replicas - 1} (replicas is ${v.replicas})`);
    },
  },
  ...(
    [
      ["cpuRequest", "cpuLimit"],
      ["memoryRequest", "memoryLimit"],
    ] as const
  ).map(([request, limit]): Rule => ({
    reads: [request, limit],
    check: (v, fail) => {
      if (parseQuantity(v[limit])! < parseQuantity(v[request])!)
        fail(limit, v[limit], `a quantity >= ${request} (${v[request]})`);
    },
  })),
  {
    reads: ["connector", "directMembers", "replicas"],
    check: (v, fail) => {
      if (v.connector === "direct" && v.directMembers.length !== v.replicas) {
        fail(
          "directMembers",
          v.directMembers,
          `exactly one "host:port" per member (${v.replicas}, as replicas) when connector is direct`,
        );
      }
      if (v.connector === "kubernetes" && v.directMembers.length > 0) {
        fail(
          "directMembers",
          v.directMembers,
          "an empty list when connector is kubernetes (set connector to direct to use these addresses)",
        );
      }
    },
  },
  {
    reads: ["tls", "tlsRequired"],
    check: (v, fail) => {
      if (v.tls === "off" && v.tlsRequired)
        fail("tlsRequired", true, "false when tls is off (members cannot require TLS they do not have)");
    },
  },
  {
    reads: ["tls", "tlsCaGeneration", "tlsTrustedCaGenerations"],
    check: (v, fail) => {
      const trusted = v.tlsTrustedCaGenerations;
      if (trusted.length > 0 && !trusted.includes(v.tlsCaGeneration)) {
        fail(
          "tlsTrustedCaGenerations",
          trusted,
          `a list that includes tlsCaGeneration (${v.tlsCaGeneration}): the members' certificates must be trusted`,
        );
      }
      if (v.tls !== "self-signed" && (v.tlsCaGeneration !== 1 || trusted.length > 0)) {
        fail(
          v.tlsCaGeneration !== 1 ? "tlsCaGeneration" : "tlsTrustedCaGenerations",
          v.tlsCaGeneration !== 1 ? v.tlsCaGeneration : trusted,
          `unset when tls is ${v.tls} (the stack's own CA exists only with tls self-signed; with secret or cert-manager stage a CA change in tlsCa)`,
        );
      }
    },
  },
  {
    // Each mode's own keys: required by it, refused by the others (they would be ignored).
    reads: ["tls", "tlsSecretPrefix", "tlsIssuer", "tlsCa"],
    check: (v, fail) => {
      const uses = {
        tlsSecretPrefix: ["secret"],
        tlsIssuer: ["cert-manager"],
        tlsCa: ["secret", "cert-manager"],
      } as const;
      const what = {
        tlsSecretPrefix: "the prefix of the members' Secrets",
        tlsIssuer: "Issuer/<name> or ClusterIssuer/<name>",
        tlsCa: "the PEM of the CA that signs the members' certificates",
      };
      for (const key of ["tlsSecretPrefix", "tlsIssuer", "tlsCa"] as const) {
        const needed = (uses[key] as readonly string[]).includes(v.tls);
        if (needed && v[key] === undefined) fail(key, "", `${what[key]} (tls is ${v.tls})`);
        if (!needed && v[key] !== undefined)
          fail(
            key,
            key === "tlsCa" ? "(a PEM)" : v[key],
            `empty when tls is ${v.tls} (it is used only with tls ${uses[key].join(" or ")})`,
          );
      }
    },
  },
  {
    // The engine verifies each member's certificate under the name it connects to, and verifies names only.
    reads: ["connector", "directMembers", "tls"],
    check: (v, fail) => {
      const byAddress = v.directMembers.filter((m) => isIP(m.replace(/:\d+$/, "").replace(/^\[|\]$/g, "")));
      if (v.connector === "direct" && v.tls !== "off" && byAddress.length > 0) {
        fail(
          "directMembers",
          byAddress,
          "host names in the members' certificates (TLS verifies members by DNS name), or tls off",
        );
      }
    },
  },
  {
    reads: ["backupEndpoint", "backupEndpointAllowHttp"],
    check: (v, fail) => {
      if (v.backupEndpoint?.startsWith("http:") && !v.backupEndpointAllowHttp) {
        fail(
          "backupEndpoint",
          v.backupEndpoint,
          "an https:// URL (set backupEndpointAllowHttp to true to send backups unencrypted over http)",
        );
      }
    },
  },
  {
    reads: ["backupIrsaOidcProviderArn", "backupIrsaOidcIssuer"],
    check: (v, fail) => {
      if ((v.backupIrsaOidcProviderArn === undefined) !== (v.backupIrsaOidcIssuer === undefined)) {
        const missing =
          v.backupIrsaOidcProviderArn === undefined ? "backupIrsaOidcProviderArn" : "backupIrsaOidcIssuer";
        fail(
          missing,
          "",
          "set together with the other IRSA key (the provider ARN and the issuer URL name the same OIDC provider)",
        );
      }
    },
  },
  {
    reads: ["backupIrsaOidcProviderArn", "backupIrsaOidcIssuer", "backupEndpoint"],
    check: (v, fail) => {
      if (v.backupIrsaOidcProviderArn && v.backupIrsaOidcIssuer && v.backupEndpoint !== undefined) {
        fail(
          "backupIrsaOidcProviderArn",
          v.backupIrsaOidcProviderArn,
          "empty with backupEndpoint: IRSA roles are AWS IAM's, an S3-compatible endpoint takes keys from the backup Secret",
        );
      }
    },
  },
  {
    reads: ["backupEnabled", "backupEndpoint", "backupBucket"],
    check: (v, fail) => {
      if (v.backupEnabled && v.backupEndpoint !== undefined && v.backupBucket === undefined) {
        fail(
          "backupBucket",
          "",
          `the name of an existing bucket on backupEndpoint ${v.backupEndpoint} (buckets are created only on AWS S3: create it there and set backupBucket)`,
        );
      }
    },
  },
  {
    // The backup age alert's threshold defaults to two of the schedule's periods, which must be computable then.
    reads: ["monitoring", "backupEnabled", "binlogArchive", "backupSchedule", "backupMaxAgeHours"],
    check: (v, fail) => {
      if (
        v.monitoring !== "prometheus-operator" ||
        !v.backupEnabled ||
        !v.binlogArchive ||
        v.backupMaxAgeHours !== undefined
      )
        return;
      try {
        longestGapSeconds(v.backupSchedule);
      } catch (err) {
        if (!(err instanceof CronScheduleError)) throw err;
        fail(
          "backupSchedule",
          v.backupSchedule,
          `a schedule whose period can be computed (${err.message}), or set backupMaxAgeHours`,
        );
      }
    },
  },
  {
    // The alerts are about the topology, which only the agent exports: without it they would never fire.
    reads: ["monitoring", "autoFailover"],
    check: (v, fail) => {
      if (v.monitoring === "prometheus-operator" && !v.autoFailover) {
        fail(
          "monitoring",
          v.monitoring,
          "none when autoFailover is false (the failover agent exports the topology metrics the alerts read)",
        );
      }
    },
  },
];

/**
 * Validates raw config (keys without the `mysql-ha:` prefix; values as Pulumi stores them: strings, or
 * already-typed values, as the component's arguments are) and applies defaults: each key by its parser in
 * {@link CONFIG_KEYS}, then the {@link RULES} between keys. Returns each key's value only when there are no errors;
 * all errors are collected, each naming the key, the bad value and what is allowed.
 */
export function parseConfig(raw: Record<string, unknown>): { values?: ConfigValues; errors: ConfigError[] } {
  const errors: ConfigError[] = [];
  const fail = (key: string, value: unknown, allowed: string, hint = ""): undefined => {
    errors.push({
      key,
      value,
      allowed,
      message: `${PROJECT}:${key}: ${show(value)} is not allowed; expected ${allowed}${hint}`,
    });
    return undefined;
  };

  for (const key of Object.keys(raw)) {
    if (!(key in CONFIG_KEYS)) {
      const guess = closest(key, CONFIG_KEY_NAMES);
      errors.push({
        key,
        value: raw[key],
        allowed: `one of the known keys`,
        message: `${PROJECT}:${key}: unknown config key${guess ? ` (did you mean ${guess}?)` : ""}; known keys: ${CONFIG_KEY_NAMES.join(", ")}`,
      });
    }
  }

  const values: Partial<Record<ConfigKey, unknown>> = {};
  const valid = new Set<ConfigKey>();
  for (const key of CONFIG_KEY_NAMES) {
    const spec: KeySpec = CONFIG_KEYS[key];
    let value = raw[key] ?? spec.default;
    // Pulumi hands lists and objects over as JSON text.
    if ((spec.type === "array" || spec.type === "object") && typeof value === "string") {
      try {
        value = JSON.parse(value);
      } catch {
        // Left as the string, which the parser refuses.
      }
    }
    const before = errors.length;
    values[key] = spec.parse(value, { key, fail: (bad, allowed, hint, at = key) => fail(at, bad, allowed, hint) });
    if (errors.length === before) valid.add(key);
  }
  const v = values as ConfigValues;
  for (const rule of RULES) if (rule.reads.every((k) => valid.has(k))) rule.check(v, fail);

  return errors.length > 0 ? { errors } : { errors, values: v };
}

/** {@link parseConfig}, then the settings the component is built from. */
export function validateConfig(raw: Record<string, unknown>): { settings?: Settings; errors: ConfigError[] } {
  const { values, errors } = parseConfig(raw);
  if (!values) return { errors };
  const { backupIrsaOidcProviderArn: oidcProviderArn, backupIrsaOidcIssuer: oidcIssuer, ...settings } = values;
  return {
    errors,
    settings: { ...settings, backupIrsa: oidcProviderArn && oidcIssuer ? { oidcProviderArn, oidcIssuer } : undefined },
  };
}
/** Thrown by {@link loadSettings}; `errors` holds every validation failure, `message` lists them all. */
export class ConfigValidationError extends Error {
  constructor(readonly errors: ConfigError[]) {
    super(
      `invalid ${PROJECT} stack configuration (${errors.length} problem${errors.length === 1 ? "" : "s"}):\n` +
        errors.map((e) => `  - ${e.message}`).join("\n"),
    );
    this.name = "ConfigValidationError";
  }
}

/**
 * Raw `mysql-ha:*` config of the running stack (prefix stripped). Pulumi hands values over as strings, with
 * objects and arrays as JSON; validateConfig parses them.
 */
export function rawStackConfig(all: Record<string, string>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [fullKey, value] of Object.entries(all)) {
    if (fullKey.startsWith(`${PROJECT}:`)) raw[fullKey.slice(PROJECT.length + 1)] = value;
  }
  return raw;
}

/** Raw config of the running Pulumi stack. */
function runningStackConfig(): Record<string, unknown> {
  // Required lazily so the pure validation above can be used without loading the Pulumi SDK.
  const pulumi: typeof import("@pulumi/pulumi") = require("@pulumi/pulumi");
  return rawStackConfig(pulumi.runtime.allConfig());
}

/**
 * The running Pulumi stack's config, each key typed as the component's arguments take it; throws one
 * {@link ConfigValidationError} listing every problem.
 */
export function loadConfigValues(): ConfigValues {
  const { values, errors } = parseConfig(runningStackConfig());
  if (!values) throw new ConfigValidationError(errors);
  return values;
}

/** Settings of the running Pulumi stack; throws one {@link ConfigValidationError} listing every problem. */
export function loadSettings(): Settings {
  const { settings, errors } = validateConfig(runningStackConfig());
  if (!settings) throw new ConfigValidationError(errors);
  return settings;
}
