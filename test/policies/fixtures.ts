/**
 * Hand-built resources for the policy tests: a compliant database stack of any program (raw Kubernetes and AWS
 * type tokens), which each test breaks in one place. The bucket's TLS-only policy document is the one the program
 * writes (components/backup/bucket.ts).
 */
import { tlsOnlyPolicy } from "../../components/backup/bucket";
import type { RenderedResource } from "../../offline/analyzer";

export const T = {
  statefulSet: "kubernetes:apps/v1:StatefulSet",
  deployment: "kubernetes:apps/v1:Deployment",
  cronJob: "kubernetes:batch/v1:CronJob",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
  service: "kubernetes:core/v1:Service",
  bucket: "aws:s3/bucket:Bucket",
  publicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  sse: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  versioning: "aws:s3/bucketVersioning:BucketVersioning",
  lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
  networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
};

export const urnOf = (stack: string, type: string, name: string) => `urn:pulumi:${stack}::shop::${type}::${name}`;

export function resource(
  stack: string,
  type: string,
  name: string,
  inputs: Record<string, any>,
  dependsOn: string[] = [],
): RenderedResource {
  return { type, name, urn: urnOf(stack, type, name), dependsOn, inputs };
}

const LABELS = { app: "orders-db" };

export function container(name: string, extra: Record<string, any> = {}) {
  return {
    name,
    image: "mariadb:10.11.10",
    resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "1", memory: "1Gi" } },
    livenessProbe: { exec: { command: ["healthcheck.sh", "--connect"] } },
    readinessProbe: { exec: { command: ["healthcheck.sh", "--innodb_initialized"] } },
    env: [
      { name: "MARIADB_ROOT_PASSWORD", valueFrom: { secretKeyRef: { name: "orders-db", key: "root-password" } } },
      { name: "MARIADB_PASSWORD_FILE", value: "/etc/orders-db/password" },
      { name: "TZ", value: "UTC" },
    ],
    ...extra,
  };
}

export function podSpec() {
  return {
    securityContext: { runAsNonRoot: true, runAsUser: 999, fsGroup: 999 },
    affinity: {
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: LABELS } },
        ],
      },
    },
    initContainers: [
      {
        name: "init",
        image: "busybox:1.36@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        resources: { requests: { cpu: "50m", memory: "32Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
      },
    ],
    containers: [container("db")],
  };
}

/** Server arguments of a database that requires TLS. */
export const TLS_ARGS = [
  "--require-secure-transport=ON",
  "--ssl-ca=/tls/ca.crt",
  "--ssl-cert=/tls/tls.crt",
  "--ssl-key=/tls/tls.key",
];

export function statefulSet(stack: string, replicas = 3) {
  const pod = podSpec();
  pod.containers[0] = container("db", { args: [...TLS_ARGS] });
  return resource(stack, T.statefulSet, "orders-db", {
    metadata: { name: "orders-db", namespace: "shop" },
    spec: {
      replicas,
      serviceName: "orders-db",
      selector: { matchLabels: LABELS },
      template: { metadata: { labels: LABELS }, spec: pod },
      volumeClaimTemplates: [
        {
          metadata: { name: "data" },
          spec: {
            storageClassName: "gp3",
            accessModes: ["ReadWriteOnce"],
            resources: { requests: { storage: "10Gi" } },
          },
        },
      ],
    },
  });
}

export function pdb(stack: string, namespace = "shop") {
  return resource(stack, T.pdb, "orders-db-pdb", {
    metadata: { name: "orders-db", namespace },
    spec: { maxUnavailable: 1, selector: { matchLabels: LABELS } },
  });
}

export function backupCronJob(stack: string, concurrencyPolicy: string | null = "Forbid") {
  const job = {
    ...podSpec(),
    affinity: undefined,
    restartPolicy: "Never",
    containers: [container("backup", { livenessProbe: undefined, readinessProbe: undefined })],
  };
  return resource(stack, T.cronJob, "orders-db-backup", {
    metadata: { name: "orders-db-backup", namespace: "shop" },
    spec: {
      schedule: "0 3 * * *",
      ...(concurrencyPolicy ? { concurrencyPolicy } : {}),
      jobTemplate: { spec: { template: { spec: job } } },
    },
  });
}

export function service(stack: string, type = "ClusterIP", annotations?: Record<string, string>) {
  return resource(stack, T.service, "orders-db-primary", {
    metadata: { name: "orders-db-primary", namespace: "shop", ...(annotations ? { annotations } : {}) },
    spec: { type, selector: LABELS, ports: [{ port: 3306 }] },
  });
}

/** An Ingress NetworkPolicy selecting the StatefulSet's pods (admitting its own app's pods on 3306). */
export function networkPolicy(stack: string, namespace = "shop", policyTypes: string[] = ["Ingress"]) {
  return resource(stack, T.networkPolicy, "orders-db-members", {
    metadata: { name: "orders-db-members", namespace },
    spec: {
      podSelector: { matchLabels: LABELS },
      policyTypes,
      ingress: [{ ports: [{ port: 3306 }], from: [{ podSelector: { matchLabels: { app: "orders" } } }] }],
    },
  });
}

/** A private, encrypted, versioned bucket with lifecycle and a TLS-only policy, as separate resources. */
export function bucketParts(stack: string, omit: string[] = []): RenderedResource[] {
  const bucket = resource(stack, T.bucket, "backups", { bucket: "orders-backups", forceDestroy: false });
  const part = (key: string, type: string, inputs: Record<string, any>) =>
    omit.includes(key) ? [] : [resource(stack, type, `backups-${key}`, { bucket: "orders-backups", ...inputs })];
  return [
    bucket,
    ...part("pab", T.publicAccessBlock, {
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    }),
    ...part("sse", T.sse, { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] }),
    ...part("versioning", T.versioning, { versioningConfiguration: { status: "Enabled" } }),
    ...part("lifecycle", T.lifecycle, { rules: [{ id: "expire", status: "Enabled", expiration: { days: 30 } }] }),
    ...part("policy", T.bucketPolicy, { policy: tlsOnlyPolicy("arn:aws:s3:::orders-backups") }),
  ];
}

/** The whole compliant stack. */
export function goodStack(stack: string): RenderedResource[] {
  return [
    statefulSet(stack),
    pdb(stack),
    networkPolicy(stack),
    backupCronJob(stack),
    service(stack),
    ...bucketParts(stack),
  ];
}
