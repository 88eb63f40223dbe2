import { assertSupportedNode } from "./components/node-version";
import { loadConfigValues } from "./components/config";
import { ReplicatedDatabase } from "./components/database";
import { kubernetesProviderAccess } from "./components/kubernetes/provider-access";
import { DATABASE_NAME } from "./components/kubernetes/names";

assertSupportedNode();

// Stack config (Pulumi.<stack>.yaml, defaults in Pulumi.yaml) -> the component's arguments; every problem in one error.
const config = loadConfigValues();

// The providers reach the cluster the Kubernetes resources go to (kubernetes:kubeconfig / kubernetes:context).
const db = new ReplicatedDatabase(DATABASE_NAME, { ...config, cluster: kubernetesProviderAccess() });

export const primaryEndpoint = db.primaryEndpoint;
export const readEndpoint = db.readEndpoint;
export const headlessServiceName = db.headlessServiceName;
export const memberHosts = db.memberHosts;
export const primary = db.primary;
/** What `pulumi up` did to replication (in preview: what it will do), e.g. "switch over 0 -> 2". */
export const replicationPlan = db.replicationPlan;
export const gtidPositions = db.gtidPositions;
export const secretName = db.secretName;
export const rootPassword = db.rootPassword;
export const replicationPassword = db.replicationPassword;
export const appPassword = db.appPassword;
