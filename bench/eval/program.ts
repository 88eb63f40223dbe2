/**
 * The program of index.ts with one difference: `replicas` may exceed the config limit of 9. The config is validated
 * with replicas capped at 9 (so every other key is checked as usual), then the component gets the requested count.
 * Only the evaluation benchmark runs this, to measure how evaluation time grows with the member count.
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigValidationError, rawStackConfig, validateConfig } from "../../components/config";
import { ReplicatedDatabase } from "../../components/database";

const raw = rawStackConfig(pulumi.runtime.allConfig());
const replicas = Number(raw.replicas);
const { settings, errors } = validateConfig({ ...raw, replicas: String(Math.min(replicas, 9)) });
if (!settings) throw new ConfigValidationError(errors);

const db = new ReplicatedDatabase("mysql", { settings: { ...settings, replicas } });

export const primaryEndpoint = db.primaryEndpoint;
export const memberHosts = db.memberHosts;
