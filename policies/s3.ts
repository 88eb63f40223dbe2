/**
 * S3 bucket policies. A bucket is usually several resources (the bucket plus separate public-access-block,
 * encryption, versioning, lifecycle and policy resources pointing at it by name), so these are stack policies:
 * each gathers a bucket's parts, then judges it. Inline settings of the (deprecated) bucket arguments count too.
 */
import type { PolicyResource, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { UNKNOWN, get, list, path } from "./support";

const BUCKET_TYPES = new Set(["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"]);

/** Part kind of an S3 bucket sub-resource type (V2 aliases included), e.g. "bucketVersioning". */
function partKind(type: string): string | undefined {
  const m = /^aws:s3\/(bucket[A-Za-z]+?)(V2)?:/.exec(type);
  return m && !BUCKET_TYPES.has(type) ? m[1] : undefined;
}

export interface BucketParts {
  bucket: PolicyResource;
  label: string;
  /** Parts by kind: bucketPublicAccessBlock, bucketServerSideEncryptionConfiguration, bucketVersioning, ... */
  parts: Map<string, PolicyResource[]>;
}

/**
 * Whether `part` configures `bucket`: by the `bucket` property's dependency (what the engine records), by the
 * `bucket` value naming the bucket, or by a plain dependency on it (offline renders record only those).
 */
function belongsTo(part: PolicyResource, bucket: PolicyResource): boolean {
  const propDeps = part.propertyDependencies?.["bucket"];
  if (propDeps && propDeps.length) return propDeps.some((d) => d.urn === bucket.urn);
  const ref = get(part.props, "bucket");
  if (typeof ref === "string" && ref !== "") {
    const ids = ["bucket", "id", "arn"].map((k) => get(bucket.props, k)).filter((v) => typeof v === "string");
    if (ids.includes(ref)) return true;
  }
  return part.dependencies.some((d) => d.urn === bucket.urn);
}

/** Every bucket of the stack with its parts. */
export function bucketsOf(args: StackValidationArgs): BucketParts[] {
  const buckets = args.resources.filter((r) => BUCKET_TYPES.has(r.type));
  const parts = args.resources.filter((r) => partKind(r.type));
  return buckets.map((bucket) => {
    const byKind = new Map<string, PolicyResource[]>();
    for (const p of parts) {
      if (!belongsTo(p, bucket)) continue;
      const kind = partKind(p.type)!;
      byKind.set(kind, [...(byKind.get(kind) ?? []), p]);
    }
    const name = get(bucket.props, "bucket");
    return { bucket, label: `Bucket/${typeof name === "string" && name ? name : bucket.name}`, parts: byKind };
  });
}

/** A stack policy that judges each bucket with `check`, which returns a problem or undefined (ok or unknown). */
function bucketPolicy(
  name: string,
  description: string,
  check: (b: BucketParts) => string | undefined,
): StackValidationPolicy {
  return {
    name,
    description,
    enforcementLevel: "mandatory",
    validateStack: (args, report) => {
      for (const b of bucketsOf(args)) {
        const problem = check(b);
        if (problem) report(`${b.label} ${problem}`, b.bucket.urn);
      }
    },
  };
}

const BLOCK_FLAGS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"];
const PUBLIC_ACLS = new Set(["public-read", "public-read-write", "authenticated-read"]);

export const bucketPrivate = bucketPolicy(
  "s3-bucket-private",
  "S3 buckets have a public access block with all four flags true and no public ACL.",
  (b) => {
    const acls = [get(b.bucket.props, "acl"), ...(b.parts.get("bucketAcl") ?? []).map((p) => get(p.props, "acl"))];
    const publicAcl = acls.find((a) => typeof a === "string" && PUBLIC_ACLS.has(a));
    if (publicAcl) return `has the public ACL "${publicAcl}".`;
    const blocks = b.parts.get("bucketPublicAccessBlock") ?? [];
    if (blocks.length === 0) return `has no BucketPublicAccessBlock; add one with ${BLOCK_FLAGS.join(", ")} all true.`;
    let missing: string[] = BLOCK_FLAGS;
    for (const block of blocks) {
      const values = BLOCK_FLAGS.map((f) => get(block.props, f));
      if (values.includes(UNKNOWN)) return undefined;
      const off = BLOCK_FLAGS.filter((_, i) => values[i] !== true);
      if (off.length < missing.length) missing = off;
    }
    return missing.length ? `public access block leaves ${missing.join(", ")} not true.` : undefined;
  },
);

const SSE_ALGORITHMS = new Set(["AES256", "aws:kms", "aws:kms:dsse"]);

export const bucketEncrypted = bucketPolicy(
  "s3-bucket-encrypted",
  "S3 buckets declare default server-side encryption (AES256 or aws:kms).",
  (b) => {
    const rules = [
      path(b.bucket.props, "serverSideEncryptionConfiguration", "rule"),
      ...(b.parts.get("bucketServerSideEncryptionConfiguration") ?? []).flatMap((p) => list(get(p.props, "rules"))),
    ];
    const algorithms = rules.map((r) => path(r, "applyServerSideEncryptionByDefault", "sseAlgorithm"));
    if (algorithms.includes(UNKNOWN)) return undefined;
    if (algorithms.some((a) => SSE_ALGORITHMS.has(a))) return undefined;
    return "declares no default server-side encryption; add a BucketServerSideEncryptionConfiguration (AES256 or aws:kms).";
  },
);

export const bucketVersioned = bucketPolicy(
  "s3-bucket-versioned",
  "S3 buckets have versioning Enabled, so an overwritten or deleted backup can be recovered.",
  (b) => {
    const states = [
      path(b.bucket.props, "versioning", "enabled") === true ? "Enabled" : undefined,
      ...(b.parts.get("bucketVersioning") ?? []).map((p) => path(p.props, "versioningConfiguration", "status")),
    ];
    if (states.includes("Enabled") || states.includes(UNKNOWN)) return undefined;
    return "has no versioning; add a BucketVersioning with status Enabled.";
  },
);

export const bucketLifecycle = bucketPolicy(
  "s3-bucket-lifecycle",
  "S3 buckets have an enabled lifecycle rule, so old objects and versions expire.",
  (b) => {
    const inline = list(get(b.bucket.props, "lifecycleRules")).map((r) =>
      get(r, "enabled") === true ? "Enabled" : get(r, "enabled"),
    );
    const parts = (b.parts.get("bucketLifecycleConfiguration") ?? []).flatMap((p) =>
      list(get(p.props, "rules")).map((r) => get(r, "status")),
    );
    const states = [...inline, ...parts];
    if (states.includes("Enabled") || states.includes(UNKNOWN)) return undefined;
    return "has no enabled lifecycle rule; add a BucketLifecycleConfiguration so old backups and versions expire.";
  },
);

/** Parses a bucket policy (JSON string or object); UNKNOWN stays UNKNOWN, unparsable is undefined. */
function policyDocument(value: unknown): any {
  if (value === UNKNOWN) return UNKNOWN;
  if (typeof value === "string") {
    try {
      return JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  return value;
}

const asArray = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Whether a statement denies every request made without TLS. */
export function deniesInsecureTransport(statement: any): boolean {
  if (get(statement, "Effect") !== "Deny") return false;
  const actions = asArray(get(statement, "Action"));
  if (!actions.some((a) => a === "s3:*" || a === "*")) return false;
  const principal = get(statement, "Principal");
  if (!(principal === "*" || asArray(get(principal, "AWS")).includes("*"))) return false;
  const condition = get(statement, "Condition");
  return ["Bool", "BoolIfExists"].some((op) =>
    asArray(path(condition, op, "aws:SecureTransport")).some((v) => v === false || v === "false"),
  );
}

export const bucketTlsOnly = bucketPolicy(
  "s3-bucket-tls-only",
  "S3 buckets have a bucket policy that denies any request without TLS (aws:SecureTransport false).",
  (b) => {
    const docs = [
      ...(get(b.bucket.props, "policy") !== undefined ? [get(b.bucket.props, "policy")] : []),
      ...(b.parts.get("bucketPolicy") ?? []).map((p) => get(p.props, "policy")),
    ].map(policyDocument);
    if (docs.includes(UNKNOWN)) return undefined;
    if (docs.some((d) => asArray(get(d, "Statement")).some(deniesInsecureTransport))) return undefined;
    return "has no bucket policy statement denying s3:* to * when aws:SecureTransport is false.";
  },
);

export const s3Policies: StackValidationPolicy[] = [
  bucketPrivate,
  bucketEncrypted,
  bucketVersioned,
  bucketLifecycle,
  bucketTlsOnly,
];
