/**
 * The program of index.ts with one difference: the member count may exceed the config limit of 9. The stack config
 * (replicas included, at most 9) is validated as usual; `mysql-ha-bench:members` then gives the component the member
 * count to evaluate. Only the evaluation benchmark runs this, to measure how evaluation time grows with members.
 */
import * as pulumi from "@pulumi/pulumi";
import { loadSettings } from "../../components/config";
import { ReplicatedDatabase } from "../../components/database";

const settings = loadSettings();
const replicas = new pulumi.Config("mysql-ha-bench").getNumber("members") ?? settings.replicas;

const db = new ReplicatedDatabase("mysql", { settings: { ...settings, replicas } });

export const primaryEndpoint = db.primaryEndpoint;
export const memberHosts = db.memberHosts;
