/**
 * Not mysql-ha: a web Deployment with its own database StatefulSet, a public LoadBalancer and two buckets, one
 * done right (separate parts linked by bucket id) and one left public. The policy tests render it offline.
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

const labels = { app: "shop" };
new k8s.apps.v1.Deployment("web", {
  metadata: { name: "web" },
  spec: {
    selector: { matchLabels: labels },
    template: {
      metadata: { labels },
      spec: {
        containers: [{ name: "web", image: "nginx:latest", env: [{ name: "DB_PASSWORD", value: "literal-pw" }] }],
      },
    },
  },
});
new k8s.apps.v1.StatefulSet("db", {
  metadata: { name: "db" },
  spec: {
    replicas: 1,
    serviceName: "db",
    selector: { matchLabels: { app: "db" } },
    template: { metadata: { labels: { app: "db" } }, spec: { containers: [{ name: "db", image: "postgres:16.4" }] } },
  },
});
new k8s.core.v1.Service("web", {
  metadata: { name: "web" },
  spec: { type: "LoadBalancer", selector: labels, ports: [{ port: 80 }] },
});

const good = new aws.s3.Bucket("assets", { bucketPrefix: "assets-" });
new aws.s3.BucketPublicAccessBlock("assets", {
  bucket: good.id,
  blockPublicAcls: true,
  blockPublicPolicy: true,
  ignorePublicAcls: true,
  restrictPublicBuckets: true,
});
new aws.s3.BucketVersioning("assets", { bucket: good.id, versioningConfiguration: { status: "Enabled" } });
new aws.s3.BucketServerSideEncryptionConfiguration("assets", {
  bucket: good.id,
  rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" } }],
});
new aws.s3.BucketLifecycleConfiguration("assets", {
  bucket: good.id,
  rules: [{ id: "expire", status: "Enabled", expiration: { days: 90 } }],
});
new aws.s3.BucketPolicy("assets", {
  bucket: good.id,
  policy: pulumi.jsonStringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [good.arn, pulumi.interpolate`${good.arn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  }),
});

const dumps = new aws.s3.Bucket("dumps", {});
new aws.s3.BucketPublicAccessBlock("dumps", {
  bucket: dumps.id,
  blockPublicAcls: false,
  blockPublicPolicy: false,
  ignorePublicAcls: true,
  restrictPublicBuckets: true,
});
