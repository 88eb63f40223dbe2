/** The component with its namespace from another resource's output (an Input, not a plain value). */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ReplicatedDatabase } from "../../../components/database";

const namespace = new k8s.core.v1.Namespace("shop", {
  metadata: { name: new pulumi.Config("output-args").require("namespace") },
});
const db = new ReplicatedDatabase("orders", {
  namespace: namespace.metadata.name,
  createNamespace: false,
  backupEnabled: false,
});

export const primaryEndpoint = db.primaryEndpoint;
