/**
 * The backup bucket's hardening, as plain argument objects for the @pulumi/aws v7 S3 resources (aws.s3.Bucket,
 * BucketVersioning, BucketServerSideEncryptionConfiguration, BucketLifecycleConfiguration, BucketPublicAccessBlock,
 * BucketPolicy). Pure, so tests check them without the engine; `BackupBucket` (component.ts) only wires them.
 */
import type * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";

type In<T> = pulumi.Input<T>;

export interface BucketSettings {
  /** Key prefix of this stack's backups (no slashes at the ends). */
  prefix: string;
}

export function bucketArgs(tags: Record<string, string>): aws.s3.BucketArgs {
  // Deleting the stack must not silently delete the backups.
  return { forceDestroy: false, tags };
}

export function versioningArgs(bucket: In<string>): aws.s3.BucketVersioningArgs {
  return { bucket, versioningConfiguration: { status: "Enabled" } };
}

/** Default encryption: SSE-KMS under `kmsKeyId` when given (access to the backups then also needs the key), else SSE-S3. */
export function encryptionArgs(
  bucket: In<string>,
  kmsKeyId?: string,
): aws.s3.BucketServerSideEncryptionConfigurationArgs {
  const byDefault = kmsKeyId ? { sseAlgorithm: "aws:kms", kmsMasterKeyId: kmsKeyId } : { sseAlgorithm: "AES256" };
  return { bucket, rules: [{ applyServerSideEncryptionByDefault: byDefault, bucketKeyEnabled: true }] };
}

export function publicAccessBlockArgs(bucket: In<string>): aws.s3.BucketPublicAccessBlockArgs {
  return {
    bucket,
    blockPublicAcls: true,
    blockPublicPolicy: true,
    ignorePublicAcls: true,
    restrictPublicBuckets: true,
  };
}

/**
 * S3 never expires a current object here: an age rule would delete the newest complete backup (and the binlogs it
 * needs) whenever backups stop for long enough. Only prune.sh deletes base backups, never the newest complete one,
 * and the binlogs no kept backup needs; the lifecycle only clears what prune and killed uploads leave behind.
 */
export function lifecycleArgs(bucket: In<string>, s: BucketSettings): aws.s3.BucketLifecycleConfigurationArgs {
  const filter = { prefix: s.prefix ? `${s.prefix}/` : "" };
  return {
    bucket,
    rules: [
      {
        // Versioning keeps what prune deleted as noncurrent versions (a grace period against a mistaken prune).
        id: "expire-deleted-versions",
        status: "Enabled",
        filter,
        noncurrentVersionExpiration: { noncurrentDays: 7 },
        expiration: { expiredObjectDeleteMarker: true },
      },
      {
        // A killed backup leaves an unfinished multipart upload: never billed for long.
        id: "abort-incomplete-uploads",
        status: "Enabled",
        filter,
        abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
      },
    ],
  };
}

/** Bucket policy that denies every request not made over TLS. */
export function tlsOnlyPolicy(bucketArn: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  });
}

/**
 * Least privilege under the prefix only: list, read and write for every backup writer (members: archiver, seed);
 * delete only with `prune` (the backup Job, whose prune step is the one deleter). With SSE-KMS, the key's use
 * through S3 only.
 */
export function backupAccessPolicy(
  bucketArn: string,
  prefix: string,
  options: { prune?: boolean; kmsKeyArn?: string } = {},
): string {
  const keys = prefix ? `${bucketArn}/${prefix}/*` : `${bucketArn}/*`;
  const objectActions = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    ...(options.prune ? ["s3:DeleteObject"] : []),
  ];
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Action: ["s3:ListBucket"],
        Resource: [bucketArn],
        Condition: prefix ? { StringLike: { "s3:prefix": [`${prefix}/*`, prefix] } } : undefined,
      },
      { Effect: "Allow", Action: objectActions, Resource: [keys] },
      ...(options.kmsKeyArn
        ? [
            {
              Effect: "Allow",
              Action: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
              Resource: [options.kmsKeyArn],
            },
          ]
        : []),
    ],
  });
}

/** Trust policy of an IRSA role: only the given ServiceAccount of the cluster's OIDC provider may assume it. */
export function irsaTrustPolicy(
  oidcProviderArn: string,
  oidcIssuer: string,
  namespace: string,
  serviceAccount: string,
): string {
  const issuer = oidcIssuer.replace(/^https:\/\//, "");
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: oidcProviderArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${issuer}:sub`]: `system:serviceaccount:${namespace}:${serviceAccount}`,
            [`${issuer}:aud`]: "sts.amazonaws.com",
          },
        },
      },
    ],
  });
}
