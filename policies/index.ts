/**
 * The mysql-ha policy pack. Run it with `pulumi preview --policy-pack policies` (from the repository root, which
 * provides node_modules) or as a standalone pack after `npm install` in this directory. Configure enforcement
 * levels and thresholds with `--policy-pack-config <file.json>`, e.g. {"production-replicas": {"minReplicas": 5}}.
 */
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, policies } from "./policies";

new PolicyPack(PACK_NAME, { policies, enforcementLevel: "mandatory" });
