/**
 * S3 access through EKS IRSA (config backupIrsaOidcProviderArn / backupIrsaOidcIssuer): two IAM roles, each assumable
 * only by one ServiceAccount of the stack. The members' (binlog archiver, seeding) may list, read and write under the
 * prefix; only the backup Job's, whose prune step is the one deleter, may also delete. No static keys anywhere.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Settings } from "../config";
import { backupAccessPolicy, irsaTrustPolicy } from "./bucket";

export interface IrsaRoles {
  /** Role of the members' ServiceAccount (no DeleteObject). */
  writer: pulumi.Output<string>;
  /** Role of the backup Job's ServiceAccount (prune deletes). */
  pruner: pulumi.Output<string>;
}

export interface IrsaArgs {
  settings: Pick<Settings, "namespace" | "backupIrsa" | "backupKmsKeyId">;
  bucketArn: pulumi.Input<string>;
  prefix: string;
  serviceAccounts: { writer: string; pruner: string };
}

export function createIrsaRoles(parent: pulumi.Resource, name: string, args: IrsaArgs): IrsaRoles {
  const irsa = args.settings.backupIrsa!;
  // IAM names a key by ARN only: an alias or bare id gets no grant here (give the key ARN with IRSA).
  const kmsKeyArn = args.settings.backupKmsKeyId?.startsWith("arn:") ? args.settings.backupKmsKeyId : undefined;
  const role = (part: "writer" | "pruner") => {
    const serviceAccount = args.serviceAccounts[part];
    const r = new aws.iam.Role(
      `${name}-backups-${part}`,
      {
        assumeRolePolicy: irsaTrustPolicy(
          irsa.oidcProviderArn,
          irsa.oidcIssuer,
          args.settings.namespace,
          serviceAccount,
        ),
        description: `mysql-ha ${name}: S3 backups for ServiceAccount ${args.settings.namespace}/${serviceAccount}`,
      },
      { parent },
    );
    new aws.iam.RolePolicy(
      `${name}-backups-${part}-access`,
      {
        role: r.id,
        policy: pulumi
          .output(args.bucketArn)
          .apply((arn) => backupAccessPolicy(arn, args.prefix, { prune: part === "pruner", kmsKeyArn })),
      },
      { parent },
    );
    return r.arn;
  };
  return { writer: role("writer"), pruner: role("pruner") };
}
