/**
 * The backup bucket: a new aws.s3.Bucket with versioning, default encryption, lifecycle, a public access block and
 * a TLS-only policy, or an existing bucket (`backupBucket`, also on an S3-compatible `backupEndpoint`). Creates
 * children of the ReplicatedDatabase (named `${name}-backups-<part>`); the arguments come from bucket.ts.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Settings } from "../config";
import {
  bucketArgs,
  encryptionArgs,
  lifecycleArgs,
  publicAccessBlockArgs,
  tlsOnlyPolicy,
  versioningArgs,
} from "./bucket";

/** Key prefix of one database's backups: `<stack>/<component name>`, so stacks can share a bucket. */
export function backupPrefix(stack: string, name: string): string {
  return `${stack}/${name}`;
}

export interface BackupStorage {
  bucketName: pulumi.Output<string>;
  bucketArn: pulumi.Output<string>;
  /** Key prefix of this database's backups in the bucket. */
  prefix: string;
  /** s3://bucket/prefix */
  url: pulumi.Output<string>;
}

/** An external endpoint always comes with backupBucket (validateConfig refuses it otherwise), so only AWS creates one. */
export function createBackupStorage(
  parent: pulumi.Resource,
  name: string,
  settings: Settings,
  stack: string,
): BackupStorage {
  const prefix = backupPrefix(stack, name);
  let bucketName: pulumi.Output<string>;
  let bucketArn: pulumi.Output<string>;
  if (settings.backupBucket) {
    bucketName = pulumi.output(settings.backupBucket);
    bucketArn = pulumi.output(`arn:aws:s3:::${settings.backupBucket}`);
  } else {
    const opts = { parent };
    const tags = { "mysql-ha/database": name, "mysql-ha/stack": stack };
    const bucket = new aws.s3.Bucket(`${name}-backups`, bucketArgs(tags), opts);
    new aws.s3.BucketVersioning(`${name}-backups-versioning`, versioningArgs(bucket.id), opts);
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-backups-encryption`,
      encryptionArgs(bucket.id, settings.backupKmsKeyId),
      opts,
    );
    new aws.s3.BucketPublicAccessBlock(`${name}-backups-public-access`, publicAccessBlockArgs(bucket.id), opts);
    new aws.s3.BucketLifecycleConfiguration(`${name}-backups-lifecycle`, lifecycleArgs(bucket.id, { prefix }), opts);
    new aws.s3.BucketPolicy(
      `${name}-backups-tls-only`,
      { bucket: bucket.id, policy: bucket.arn.apply(tlsOnlyPolicy) },
      opts,
    );
    bucketName = bucket.bucket;
    bucketArn = bucket.arn;
  }
  return { bucketName, bucketArn, prefix, url: pulumi.interpolate`s3://${bucketName}/${prefix}` };
}
