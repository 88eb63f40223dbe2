/**
 * The policy list: one set of functions used by the Pulumi policy pack (index.ts), the offline runner
 * (offline/analyzer.ts, behind `mysql-ha policy`) and the tests.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { kubernetesPolicies } from "./kubernetes";
import { s3Policies } from "./s3";

export type AnyPolicy = ResourceValidationPolicy | StackValidationPolicy;

export const policies: AnyPolicy[] = [...kubernetesPolicies, ...s3Policies];

/** Name of the policy pack (PulumiPolicy.yaml's directory is the pack; this is what `pulumi preview` prints). */
export const PACK_NAME = "mysql-ha-guardrails";
