import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { kubeconfigContents, kubernetesProviderAccess } from "../../components/kubernetes/provider-access";
import { kubeConfigFor, loadKubernetesClient } from "../../components/connectors";

const KUBECONFIG = "apiVersion: v1\nkind: Config\ncurrent-context: kind-dev\n";

describe("the cluster the Kubernetes provider uses, for the dynamic providers", () => {
  it("takes kubernetes:kubeconfig as contents or as the path of a file, as the Kubernetes provider does", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-kubeconfig-"));
    try {
      const file = path.join(dir, "config");
      fs.writeFileSync(file, KUBECONFIG);
      expect(kubeconfigContents(file)).toBe(KUBECONFIG);
      expect(kubeconfigContents(KUBECONFIG)).toBe(KUBECONFIG);
      expect(kubeconfigContents('{"apiVersion":"v1"}')).toBe('{"apiVersion":"v1"}');
      expect(kubeconfigContents("~/kube.yaml", (f) => (f === path.join(os.homedir(), "kube.yaml") ? "home" : ""))).toBe(
        "home",
      );
      expect(() => kubeconfigContents(path.join(dir, "missing"))).toThrow(
        /kubernetes:kubeconfig names the file .*missing, which cannot be read/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("passes the context and keeps the kubeconfig secret; nothing when the provider uses its defaults", async () => {
    const config = (values: Record<string, string>) =>
      ({ get: (key: string) => values[key] }) as unknown as pulumi.Config;
    expect(kubernetesProviderAccess(config({}))).toEqual({});
    const access = kubernetesProviderAccess(config({ kubeconfig: KUBECONFIG, context: "kind-dev" }));
    expect(access.context).toBe("kind-dev");
    expect(await pulumi.isSecret(access.kubeconfig!)).toBe(true);
  });
});

describe("the providers' kubeconfig", () => {
  const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
  afterEach(() => Object.assign(process.env, saved));

  it("refuses to fall back to an unauthenticated localhost:8080 when there is no kubeconfig at all, and names a missing context", () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-home-"));
    try {
      delete process.env.KUBECONFIG;
      process.env.HOME = home;
      expect(() => kubeConfigFor(loadKubernetesClient(), {})).toThrow(
        /no kubeconfig: none given \(kubernetes:kubeconfig\), none in KUBECONFIG or ~\/\.kube\/config/,
      );
      const kubeconfig = JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:6443" } }],
        users: [{ name: "u", user: {} }],
        contexts: [{ name: "kind-dev", context: { cluster: "c", user: "u" } }],
        "current-context": "kind-dev",
      });
      expect(kubeConfigFor(loadKubernetesClient(), { kubeconfig }).getCurrentCluster()?.server).toBe(
        "https://127.0.0.1:6443",
      );
      expect(() => kubeConfigFor(loadKubernetesClient(), { kubeconfig, context: "prod" })).toThrow(
        "kubeconfig has no context 'prod' (contexts: kind-dev)",
      );
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
