/**
 * Kubernetes policies. They read raw type tokens (`kubernetes:apps/v1:StatefulSet`, ...) and plain props, so they
 * guard any program's workloads, not only the mysql-ha component's.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import {
  PRODUCTION_SCHEMA,
  ProductionConfig,
  UNKNOWN,
  containersOf,
  displayName,
  get,
  isProduction,
  kubernetesKind,
  list,
  namespaceOf,
  path,
  policyConfig,
  selectorMatches,
  stackOfResources,
  stackOfUrn,
  workloadOf,
} from "./support";

/** Splits an image reference into its tag and digest (`registry:5000/a/b:1.2@sha256:...`). */
export function parseImage(image: string): { tag?: string; digest?: string } {
  const at = image.indexOf("@");
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const ref = at >= 0 ? image.slice(0, at) : image;
  const colon = ref.lastIndexOf(":");
  const tag = colon > ref.lastIndexOf("/") ? ref.slice(colon + 1) : undefined;
  return { tag, digest };
}

const imagePinnedSchema = {
  properties: {
    floatingTags: {
      type: "array" as const,
      items: { type: "string" as const },
      default: ["latest"],
      description: "Tags that move and so do not pin an image.",
    },
  },
};

export const imagePinned: ResourceValidationPolicy = {
  name: "k8s-image-pinned",
  description: "Every container image names a fixed tag (not latest, not missing) or a digest.",
  enforcementLevel: "mandatory",
  configSchema: imagePinnedSchema,
  validateResource: (args, report) => {
    const w = workloadOf(args);
    if (!w) return;
    const { floatingTags } = policyConfig<{ floatingTags: string[] }>(imagePinnedSchema, args);
    for (const c of containersOf(w.podSpec)) {
      const image = get(c.container, "image");
      if (typeof image !== "string") continue;
      const { tag, digest } = parseImage(image);
      if (digest) continue;
      if (tag === undefined) {
        report(
          `${w.label} ${c.label}: image "${image}" has no tag, which means "latest"; pin a version tag or digest.`,
        );
      } else if (floatingTags.includes(tag)) {
        report(`${w.label} ${c.label}: image "${image}" uses the floating tag "${tag}"; pin a version tag or digest.`);
      }
    }
  },
};

export const imageDigest: ResourceValidationPolicy = {
  name: "k8s-image-digest",
  description: "Container images are pinned by digest (a tag can be re-pushed; a digest cannot).",
  enforcementLevel: "advisory",
  validateResource: (args, report) => {
    const w = workloadOf(args);
    if (!w) return;
    for (const c of containersOf(w.podSpec)) {
      const image = get(c.container, "image");
      if (typeof image === "string" && !parseImage(image).digest) {
        report(`${w.label} ${c.label}: image "${image}" is pinned by tag only; prefer image@sha256:<digest>.`);
      }
    }
  },
};

const resourcesSchema = {
  properties: {
    resources: {
      type: "array" as const,
      items: { type: "string" as const },
      default: ["cpu", "memory"],
      description: "Resources every container must request and limit.",
    },
  },
};

export const containerResources: ResourceValidationPolicy = {
  name: "k8s-container-resources",
  description: "Every container (init containers too) sets requests and limits for cpu and memory.",
  enforcementLevel: "mandatory",
  configSchema: resourcesSchema,
  validateResource: (args, report) => {
    const w = workloadOf(args);
    if (!w) return;
    const { resources } = policyConfig<{ resources: string[] }>(resourcesSchema, args);
    for (const c of containersOf(w.podSpec)) {
      const spec = get(c.container, "resources");
      if (spec === UNKNOWN) continue;
      const missing: string[] = [];
      for (const kind of ["requests", "limits"]) {
        for (const r of resources) {
          const v = path(spec, kind, r);
          if (v === undefined || v === null || v === "") missing.push(`resources.${kind}.${r}`);
        }
      }
      if (missing.length) report(`${w.label} ${c.label} has no ${missing.join(", ")}.`);
    }
  },
};

export const probes: ResourceValidationPolicy = {
  name: "k8s-probes",
  description:
    "Every container of a long-running workload has a livenessProbe, and its pod a readinessProbe on at least one container (a sidecar's readiness would take a healthy pod out of its Services).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const w = workloadOf(args);
    if (!w || !w.longRunning) return;
    // Init containers run to completion; probes do not apply.
    const running = containersOf(w.podSpec).filter((c) => !c.init);
    for (const c of running) {
      if (get(c.container, "livenessProbe") === undefined) report(`${w.label} ${c.label} has no livenessProbe.`);
    }
    if (running.length && running.every((c) => get(c.container, "readinessProbe") === undefined)) {
      report(`${w.label} has no readinessProbe on any container: Services would route to it before it serves.`);
    }
  },
};

export const runAsNonRoot: ResourceValidationPolicy = {
  name: "k8s-run-as-non-root",
  description: "Every container runs with securityContext.runAsNonRoot: true (pod or container level), never as uid 0.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const w = workloadOf(args);
    if (!w || !w.podSpec) return;
    const pod = get(w.podSpec, "securityContext");
    for (const c of containersOf(w.podSpec)) {
      const own = get(c.container, "securityContext");
      const nonRoot = get(own, "runAsNonRoot") ?? get(pod, "runAsNonRoot");
      const user = get(own, "runAsUser") ?? get(pod, "runAsUser");
      if (nonRoot === UNKNOWN || user === UNKNOWN) continue;
      if (user === 0) {
        report(`${w.label} ${c.label} runs as uid 0 (runAsUser: 0); use a non-root uid.`);
      } else if (nonRoot !== true) {
        report(
          `${w.label} ${c.label} may run as root: set securityContext.runAsNonRoot: true on the pod or container.`,
        );
      }
    }
  },
};

const envSchema = {
  properties: {
    namePattern: {
      type: "string" as const,
      default: "PASSW(OR)?D|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL",
      description: "Regular expression (case-insensitive) for env names that carry secrets.",
    },
    allowedNamePattern: {
      type: "string" as const,
      default: "_(FILE|PATH|DIR)$",
      description: "Env names matching this hold a location, not a secret, and may be literal.",
    },
  },
};

export const noLiteralSecrets: ResourceValidationPolicy = {
  name: "k8s-no-literal-secrets-in-env",
  description: "Password-like env variables come from a Secret (valueFrom.secretKeyRef), never a literal value.",
  enforcementLevel: "mandatory",
  configSchema: envSchema,
  validateResource: (args, report) => {
    const w = workloadOf(args);
    if (!w) return;
    const cfg = policyConfig<{ namePattern: string; allowedNamePattern: string }>(envSchema, args);
    const secretName = new RegExp(cfg.namePattern, "i");
    const allowed = new RegExp(cfg.allowedNamePattern, "i");
    for (const c of containersOf(w.podSpec)) {
      for (const e of list(get(c.container, "env"))) {
        const name = get(e, "name");
        if (typeof name !== "string" || !secretName.test(name) || allowed.test(name)) continue;
        // Never echo the value: the message would leak the secret into CI logs.
        if (get(e, "value") !== undefined) {
          report(`${w.label} ${c.label} sets env ${name} to a literal value; use valueFrom.secretKeyRef.`);
        } else if (path(e, "valueFrom", "configMapKeyRef") !== undefined) {
          report(`${w.label} ${c.label} reads env ${name} from a ConfigMap; use valueFrom.secretKeyRef.`);
        }
      }
    }
  },
};

/** Config of the policies that judge StatefulSets (or other kinds) in production. */
const productionWorkloadSchema = (extra: Record<string, any>) => ({
  properties: {
    ...PRODUCTION_SCHEMA,
    kinds: {
      type: "array" as const,
      items: { type: "string" as const },
      default: ["StatefulSet"],
      description: "Workload kinds this policy checks.",
    },
    ...extra,
  },
});

/** The production workload of the kinds a policy checks, or undefined when it does not apply. */
function productionWorkload(args: ResourceValidationArgs, cfg: ProductionConfig & { kinds: string[] }) {
  const w = workloadOf(args);
  if (!w || !cfg.kinds.includes(w.kind)) return undefined;
  const labels = path(args.props, "metadata", "labels");
  const prod = isProduction(
    cfg,
    stackOfUrn(args.urn),
    args.stackTags,
    labels && labels !== UNKNOWN ? labels : undefined,
  );
  return prod ? w : undefined;
}

const replicasSchema = productionWorkloadSchema({
  minReplicas: {
    type: "integer",
    minimum: 1,
    default: 3,
    description: "Fewest replicas a production workload may run.",
  },
});

export const productionReplicas: ResourceValidationPolicy = {
  name: "production-replicas",
  description: "In production, StatefulSets run at least minReplicas (default 3) replicas.",
  enforcementLevel: "mandatory",
  configSchema: replicasSchema,
  validateResource: (args, report) => {
    const cfg = policyConfig<ProductionConfig & { kinds: string[]; minReplicas: number }>(replicasSchema, args);
    const w = productionWorkload(args, cfg);
    if (!w) return;
    const replicas = path(args.props, "spec", "replicas") ?? 1; // Kubernetes defaults replicas to 1
    if (typeof replicas === "number" && replicas < cfg.minReplicas) {
      report(
        `${w.label} has ${replicas} replica(s); production needs at least ${cfg.minReplicas} (policy config minReplicas).`,
      );
    }
  },
};

const antiAffinitySchema = productionWorkloadSchema({});

export const productionAntiAffinity: ResourceValidationPolicy = {
  name: "production-anti-affinity",
  description:
    "In production, StatefulSet pods have required pod anti-affinity on their own labels, so no two share a node.",
  enforcementLevel: "mandatory",
  configSchema: antiAffinitySchema,
  validateResource: (args, report) => {
    const cfg = policyConfig<ProductionConfig & { kinds: string[] }>(antiAffinitySchema, args);
    const w = productionWorkload(args, cfg);
    if (!w || !w.podSpec) return;
    const anti = path(w.podSpec, "affinity", "podAntiAffinity");
    if (anti === UNKNOWN) return;
    const required = list(get(anti, "requiredDuringSchedulingIgnoredDuringExecution"));
    const spreads = required.some(
      (t) => typeof get(t, "topologyKey") === "string" && selectorMatches(get(t, "labelSelector"), w.podLabels),
    );
    if (!spreads) {
      const hint = list(get(anti, "preferredDuringSchedulingIgnoredDuringExecution")).length
        ? " (it has only a preferred rule)"
        : "";
      report(
        `${w.label} has no required pod anti-affinity selecting its own pods${hint}; production needs requiredDuringSchedulingIgnoredDuringExecution.`,
      );
    }
  },
};

const storageSchema = { properties: { ...PRODUCTION_SCHEMA } };

export const productionStorageClass: ResourceValidationPolicy = {
  name: "production-storage-class",
  description: "In production, StatefulSets keep data in volumeClaimTemplates that name a storageClassName.",
  enforcementLevel: "mandatory",
  configSchema: storageSchema,
  validateResource: (args, report) => {
    const cfg = policyConfig<ProductionConfig>(storageSchema, args);
    const w = productionWorkload(args, { ...cfg, kinds: ["StatefulSet"] });
    if (!w) return;
    const templates = path(args.props, "spec", "volumeClaimTemplates");
    if (templates === UNKNOWN) return;
    if (list(templates).length === 0) {
      report(
        `${w.label} has no volumeClaimTemplates; production data needs persistent volumes of a named storage class.`,
      );
    }
    for (const t of list(templates)) {
      const sc = path(t, "spec", "storageClassName");
      if (sc === UNKNOWN) continue;
      if (typeof sc !== "string" || sc === "") {
        report(
          `${w.label} volumeClaimTemplate "${path(t, "metadata", "name")}" has no spec.storageClassName; production must not rely on the cluster default.`,
        );
      }
    }
  },
};

const INTERNAL_LB_ANNOTATIONS: Record<string, string> = {
  "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
  "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
  "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
  "networking.gke.io/load-balancer-type": "internal",
  "cloud.google.com/load-balancer-type": "internal",
};

const serviceSchema = {
  properties: {
    allowedServices: {
      type: "array" as const,
      items: { type: "string" as const },
      default: [],
      description: "Service names (metadata.name or Pulumi name) allowed to be public LoadBalancers.",
    },
  },
};

export const noPublicLoadBalancer: ResourceValidationPolicy = {
  name: "k8s-no-public-load-balancer",
  description:
    "Services are not public LoadBalancers unless internal (annotation), source-restricted, or allowed by config.",
  enforcementLevel: "mandatory",
  configSchema: serviceSchema,
  validateResource: (args, report) => {
    if (kubernetesKind(args.type) !== "Service" || path(args.props, "spec", "type") !== "LoadBalancer") return;
    const name = displayName(args);
    const { allowedServices } = policyConfig<{ allowedServices: string[] }>(serviceSchema, args);
    if (allowedServices.includes(name) || allowedServices.includes(args.name)) return;
    const annotations = path(args.props, "metadata", "annotations");
    if (annotations === UNKNOWN) return;
    const internal = Object.entries(INTERNAL_LB_ANNOTATIONS).some(
      ([k, v]) => String(get(annotations, k) ?? "").toLowerCase() === v,
    );
    const ranges = list(path(args.props, "spec", "loadBalancerSourceRanges"));
    const restricted = ranges.length > 0 && !ranges.some((r) => r === "0.0.0.0/0" || r === "::/0");
    if (!internal && !restricted) {
      report(
        `Service/${name} is a public LoadBalancer; use ClusterIP, an internal load balancer annotation, loadBalancerSourceRanges, or list it in allowedServices.`,
      );
    }
  },
};

const pdbSchema = {
  properties: {
    minReplicas: {
      type: "integer" as const,
      minimum: 1,
      default: 2,
      description: "StatefulSets with fewer replicas need no PDB (one for a single pod would block node drains).",
    },
  },
};

export const pdbCoversStatefulSet: StackValidationPolicy = {
  name: "k8s-pdb-covers-statefulset",
  description: "Every StatefulSet with several replicas has a PodDisruptionBudget in its namespace selecting its pods.",
  enforcementLevel: "mandatory",
  configSchema: pdbSchema,
  validateStack: (args, report) => {
    const { minReplicas } = policyConfig<{ minReplicas: number }>(pdbSchema, args);
    const pdbs = args.resources.filter((r) => kubernetesKind(r.type) === "PodDisruptionBudget");
    for (const r of args.resources) {
      if (kubernetesKind(r.type) !== "StatefulSet") continue;
      const w = workloadOf(r)!;
      const replicas = path(r.props, "spec", "replicas") ?? 1;
      if (typeof replicas !== "number" || replicas < minReplicas) continue;
      const ns = namespaceOf(r.props);
      const covered = pdbs.some(
        (p) => namespaceOf(p.props) === ns && selectorMatches(path(p.props, "spec", "selector"), w.podLabels),
      );
      if (!covered)
        report(
          `${w.label} (${replicas} replicas) has no PodDisruptionBudget selecting its pods in namespace "${ns}".`,
          r.urn,
        );
    }
  },
};

const backupSchema = {
  properties: {
    ...PRODUCTION_SCHEMA,
    backupNamePattern: {
      type: "string" as const,
      default: "backup",
      description: "Regular expression (case-insensitive) on a CronJob's name or app.kubernetes.io/component label.",
    },
  },
};

export const productionBackups: StackValidationPolicy = {
  name: "production-backups",
  description: "A production stack with StatefulSets has a backup CronJob with concurrencyPolicy Forbid.",
  enforcementLevel: "mandatory",
  configSchema: backupSchema,
  validateStack: (args, report) => {
    const cfg = policyConfig<ProductionConfig & { backupNamePattern: string }>(backupSchema, args);
    if (!isProduction(cfg, stackOfResources(args), args.stackTags)) return;
    if (!args.resources.some((r) => kubernetesKind(r.type) === "StatefulSet")) return; // nothing stateful to back up
    const pattern = new RegExp(cfg.backupNamePattern, "i");
    const backups = args.resources.filter((r) => {
      if (kubernetesKind(r.type) !== "CronJob") return false;
      const component = path(r.props, "metadata", "labels", "app.kubernetes.io/component");
      return (
        pattern.test(displayName(r)) ||
        pattern.test(r.name) ||
        (typeof component === "string" && pattern.test(component))
      );
    });
    if (backups.length === 0) {
      report(
        `Production stack has StatefulSets but no backup CronJob (a CronJob whose name or app.kubernetes.io/component matches /${cfg.backupNamePattern}/).`,
      );
    }
    for (const b of backups) {
      const policy = path(b.props, "spec", "concurrencyPolicy");
      if (policy === UNKNOWN) continue;
      if (policy !== "Forbid") {
        report(
          `CronJob/${displayName(b)} has concurrencyPolicy ${policy ?? "Allow (default)"}; backups need Forbid so two never overlap.`,
          b.urn,
        );
      }
      if (path(b.props, "spec", "suspend") === true)
        report(`CronJob/${displayName(b)} is suspended, so no backups run.`, b.urn);
    }
  },
};

const productionSchema = { properties: { ...PRODUCTION_SCHEMA } };

export const productionNetworkPolicy: StackValidationPolicy = {
  name: "production-network-policy",
  description:
    "In production, every StatefulSet's pods are selected by an Ingress NetworkPolicy of their namespace, so only named clients reach them.",
  enforcementLevel: "mandatory",
  configSchema: productionSchema,
  validateStack: (args, report) => {
    if (!isProduction(policyConfig<ProductionConfig>(productionSchema, args), stackOfResources(args), args.stackTags))
      return;
    const policies = args.resources.filter((r) => kubernetesKind(r.type) === "NetworkPolicy");
    for (const r of args.resources) {
      if (kubernetesKind(r.type) !== "StatefulSet") continue;
      const w = workloadOf(r)!;
      const ns = namespaceOf(r.props);
      const covered = policies.some((p) => {
        const types = path(p.props, "spec", "policyTypes");
        const ingress = types === undefined || (Array.isArray(types) && types.includes("Ingress"));
        return (
          ingress && namespaceOf(p.props) === ns && selectorMatches(path(p.props, "spec", "podSelector"), w.podLabels)
        );
      });
      if (!covered)
        report(
          `${w.label} has no Ingress NetworkPolicy selecting its pods in namespace "${ns}": every pod of the cluster can reach it.`,
          r.urn,
        );
    }
  },
};

export const productionLoadBalancerSourceRanges: ResourceValidationPolicy = {
  name: "production-load-balancer-source-ranges",
  description:
    "In production, LoadBalancer Services admit only listed source ranges (spec.loadBalancerSourceRanges, none open to all), internal or not.",
  enforcementLevel: "mandatory",
  configSchema: productionSchema,
  validateResource: (args, report) => {
    if (kubernetesKind(args.type) !== "Service" || path(args.props, "spec", "type") !== "LoadBalancer") return;
    if (!isProduction(policyConfig<ProductionConfig>(productionSchema, args), stackOfUrn(args.urn), args.stackTags))
      return;
    const ranges = path(args.props, "spec", "loadBalancerSourceRanges");
    if (ranges === UNKNOWN) return;
    const listed = list(ranges);
    if (listed.length === 0 || listed.some((r) => r === "0.0.0.0/0" || r === "::/0")) {
      report(
        `Service/${displayName(args)} is a LoadBalancer without loadBalancerSourceRanges limiting its clients (set mysql-ha:loadBalancerSourceRanges).`,
      );
    }
  },
};

const databaseTlsSchema = {
  properties: {
    ...PRODUCTION_SCHEMA,
    databaseImagePattern: {
      type: "string" as const,
      default: "(^|/)(mariadb|mysql|percona-server)(:|@|$)",
      description:
        "Regular expression (case-insensitive) on a container image: the StatefulSet runs a MySQL-protocol server.",
    },
  },
};

/** `name = value` / `--name=value` settings of a server option in option-file text or argv, any spelling of `_`/`-`. */
function optionValues(texts: string[], option: string): string[] {
  const name = option.replace(/_/g, "[-_]");
  const re = new RegExp(`^\\s*(?:--)?${name}\\s*=\\s*"?([^"\\s#]*)`, "gim");
  return texts.flatMap((t) => [...t.matchAll(re)].map((m) => m[1]));
}

export const productionDatabaseTls: StackValidationPolicy = {
  name: "production-database-tls",
  description:
    "In production, a StatefulSet running a MySQL-protocol server requires TLS (require_secure_transport ON) and has a CA (ssl_ca), in its container arguments or a ConfigMap it mounts.",
  enforcementLevel: "mandatory",
  configSchema: databaseTlsSchema,
  validateStack: (args, report) => {
    const cfg = policyConfig<ProductionConfig & { databaseImagePattern: string }>(databaseTlsSchema, args);
    if (!isProduction(cfg, stackOfResources(args), args.stackTags)) return;
    const image = new RegExp(cfg.databaseImagePattern, "i");
    const configMaps = args.resources.filter((r) => kubernetesKind(r.type) === "ConfigMap");
    for (const r of args.resources) {
      if (kubernetesKind(r.type) !== "StatefulSet") continue;
      const w = workloadOf(r)!;
      const containers = containersOf(w.podSpec).filter(
        (c) => !c.init && typeof get(c.container, "image") === "string" && image.test(get(c.container, "image")),
      );
      if (containers.length === 0) continue;
      const mounted = new Set(
        list(get(w.podSpec, "volumes"))
          .map((v) => path(v, "configMap", "name"))
          .filter((n) => typeof n === "string"),
      );
      const data = configMaps
        .filter((c) => namespaceOf(c.props) === namespaceOf(r.props) && mounted.has(path(c.props, "metadata", "name")))
        .map((c) => get(c.props, "data"));
      if (data.some((d) => d === UNKNOWN)) continue;
      const texts = [
        ...data.flatMap((d) => Object.values(d ?? {}).filter((v): v is string => typeof v === "string")),
        ...containers.flatMap((c) =>
          [...list(get(c.container, "command")), ...list(get(c.container, "args"))]
            .filter((a): a is string => typeof a === "string")
            .map((a) => a.trim()),
        ),
      ];
      const required = optionValues(texts, "require_secure_transport").some((v) => /^(on|1|true)$/i.test(v));
      const ca = optionValues(texts, "ssl_ca").some((v) => v !== "");
      if (!required || !ca) {
        const missing = [...(required ? [] : ["require_secure_transport = ON"]), ...(ca ? [] : ["ssl_ca"])].join(
          " and ",
        );
        report(
          `${w.label} runs a database without ${missing}: clients and replicas could connect in plain text (mysql-ha: set tls and tlsRequired).`,
          r.urn,
        );
      }
    }
  },
};

export const kubernetesPolicies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  imagePinned,
  imageDigest,
  containerResources,
  probes,
  runAsNonRoot,
  noLiteralSecrets,
  productionReplicas,
  productionAntiAffinity,
  productionStorageClass,
  noPublicLoadBalancer,
  pdbCoversStatefulSet,
  productionBackups,
  productionNetworkPolicy,
  productionLoadBalancerSourceRanges,
  productionDatabaseTls,
];
