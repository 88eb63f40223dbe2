/**
 * The members' role labels, which the primary Service selects: which labels to set and in what order (pure), how
 * pointAtPrimary and labelRoles set them through the API (stand-in), and the stand-in's pod API as the real server
 * has it (label patches by content type, label selectors, a recreated pod's labels, a Service's endpoints).
 */
import {
  labelRoles,
  pointAtPrimary,
  roleLabelChanges,
  staleRoleLabels,
} from "../../components/connectors/primary-objects";
import type { PrimaryObjects } from "../../components/connectors/primary-objects";
import { ROLE_LABEL, selectorLabels } from "../../components/kubernetes/names";
import { KubeApiStandin } from "../../local/kube-api-standin";
import { sleep } from "../../local/mariadbd";
import { applyProgramObjects, memberStandin, NAMES, renderedObjects, roleLabels } from "./program-objects";

describe("roleLabelChanges: which role labels to set, in which order", () => {
  const pods = (...roles: Array<string | undefined>) => roles.map((role, i) => ({ name: `m-${i}`, role }));

  it("labels unlabelled members: the replicas first, the primary last", () => {
    expect(roleLabelChanges(pods(undefined, undefined, undefined), "m-1")).toEqual([
      { pod: "m-0", role: "replica" },
      { pod: "m-2", role: "replica" },
      { pod: "m-1", role: "primary" },
    ]);
  });

  it("after a move the old primary loses its label before anything else, the new primary gets it last", () => {
    expect(roleLabelChanges(pods(undefined, "replica", "primary"), "m-1")).toEqual([
      { pod: "m-2", role: "replica" },
      { pod: "m-0", role: "replica" },
      { pod: "m-1", role: "primary" },
    ]);
    // Two pods labelled primary (a move cut short): both lose it before the primary is labelled.
    expect(roleLabelChanges(pods("primary", "replica", "primary", undefined), "m-3")).toEqual([
      { pod: "m-0", role: "replica" },
      { pod: "m-2", role: "replica" },
      { pod: "m-3", role: "primary" },
    ]);
  });

  it("sets only wrong labels: none when all are right; any value other than primary/replica is wrong", () => {
    expect(roleLabelChanges(pods("replica", "primary", "replica"), "m-1")).toEqual([]);
    expect(roleLabelChanges(pods("Replica", "primary", ""), "m-1")).toEqual([
      { pod: "m-0", role: "replica" },
      { pod: "m-2", role: "replica" },
    ]);
  });

  it("with the primary's pod missing (being recreated), only takes the label away", () => {
    expect(roleLabelChanges(pods("primary", "replica"), "m-2")).toEqual([{ pod: "m-0", role: "replica" }]);
  });
});

describe("pointing the primary through the API (stand-in)", () => {
  let api: KubeApiStandin;
  let objects: PrimaryObjects;
  beforeEach(async () => {
    api = memberStandin({ recreateMs: 20, initMs: 10, readyMs: 20 });
    await api.start();
    objects = await applyProgramObjects(api);
  });
  afterEach(() => api.stop());

  const since = (from: number) => api.requests.slice(from).map((r) => r.replace("/api/v1/namespaces/db/", ""));

  it("names the primary in the ConfigMap, then labels the pods: the Service selects the primary alone, never two pods", async () => {
    expect(api.serviceEndpoints(NAMES.primaryService)).toEqual([]);
    const first = api.requests.length;
    expect(await pointAtPrimary(objects, 0)).toEqual({
      primary: 0,
      labelled: [
        { pod: "mysql-1", role: "replica" },
        { pod: "mysql-2", role: "replica" },
        { pod: "mysql-0", role: "primary" },
      ],
    });
    expect(since(first)).toEqual([
      "PATCH configmaps/mysql-topology",
      "GET services/mysql-primary",
      "GET pods",
      "PATCH pods/mysql-1",
      "PATCH pods/mysql-2",
      "PATCH pods/mysql-0",
    ]);
    expect(api.serviceEndpoints(NAMES.primaryService)).toEqual(["mysql-0"]);

    // A move: what the Service selects after each write, in order.
    const selected: string[][] = [];
    api.options.onWrite = () => void selected.push(api.serviceEndpoints(NAMES.primaryService));
    const second = api.requests.length;
    const moved = await pointAtPrimary(objects, 2, { move: { from: 0, by: "pulumi up", operation: "switchover" } });
    expect(moved.labelled).toEqual([
      { pod: "mysql-0", role: "replica" },
      { pod: "mysql-2", role: "primary" },
    ]);
    expect(since(second)).toEqual([
      "PATCH configmaps/mysql-topology",
      "GET services/mysql-primary",
      "GET pods",
      "PATCH pods/mysql-0",
      "PATCH pods/mysql-2",
    ]);
    expect(selected).toEqual([["mysql-0"], [], ["mysql-2"]]);
    expect(roleLabels(api)).toEqual({ "mysql-0": "replica", "mysql-1": "replica", "mysql-2": "primary" });
    expect(api.configMaps.get(NAMES.topology)).toMatchObject({ primary: "2" });
    // The selector stays the program's: the labels moved, not the Service.
    expect(api.serviceSelectors.get(NAMES.primaryService)).toEqual({
      ...selectorLabels("mysql"),
      [ROLE_LABEL]: "primary",
    });

    // Nothing wrong, nothing patched.
    const third = api.requests.length;
    expect(await labelRoles(objects, 2)).toEqual([]);
    expect(since(third)).toEqual(["GET services/mysql-primary", "GET pods"]);
  });

  it("a pod the StatefulSet controller recreates comes with the template's labels only; staleRoleLabels sees it, labelRoles fixes it", async () => {
    await labelRoles(objects, 0);
    const uid = async () =>
      ((await (await fetch(`${api.url}/api/v1/namespaces/db/pods/mysql-0`)).json()) as any).metadata.uid;
    const before = await uid();
    expect((await fetch(`${api.url}/api/v1/namespaces/db/pods/mysql-0`, { method: "DELETE" })).status).toBe(200);
    // Terminating: no longer an endpoint, though still labelled.
    expect(api.serviceEndpoints(NAMES.primaryService)).toEqual([]);
    for (let i = 0; i < 100 && (api.podLabels(0) === undefined || (await uid()) === before); i++) await sleep(10);
    expect(await uid()).not.toBe(before);
    expect(api.podLabels(0)).toEqual({
      ...selectorLabels("mysql"),
      "controller-revision-hash": "r1",
      "statefulset.kubernetes.io/pod-name": "mysql-0",
    });
    expect(await staleRoleLabels(objects, 0)).toEqual([{ pod: "mysql-0", role: "primary" }]);
    expect(await labelRoles(objects, 0)).toEqual([{ pod: "mysql-0", role: "primary" }]);
    for (let i = 0; i < 100 && api.serviceEndpoints(NAMES.primaryService).length === 0; i++) await sleep(10);
    expect(api.serviceEndpoints(NAMES.primaryService)).toEqual(["mysql-0"]);
  });

  it("a stack made by the version that pointed the selector: labels refused until up applies the program's Service, which takes the selector over", async () => {
    // What that version left: Pulumi's Service without a selector, the selector merge-patched by the providers.
    api.serviceSelectors.delete(NAMES.primaryService);
    const service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: NAMES.primaryService },
      spec: { ports: [{ port: 3306 }] },
    };
    expect((await api.serverSideApply("services", service as never)).code).toBe(201);
    const old = await fetch(`${api.url}/api/v1/namespaces/db/services/${NAMES.primaryService}?fieldManager=mysql-ha`, {
      method: "PATCH",
      headers: { "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ spec: { selector: { "statefulset.kubernetes.io/pod-name": "mysql-0" } } }),
    });
    expect(old.status).toBe(200);
    const requests = api.requests.length;
    await expect(labelRoles(objects, 0)).rejects.toThrow(
      /labelling the roles of the members of Service db\/mysql-primary for primary member 0 failed: Service db\/mysql-primary does not select the members by mysql-ha\/role=primary/,
    );
    expect(api.requests.slice(requests).filter((r) => r.startsWith("PATCH"))).toEqual([]);
    // Unforced, the program's apply would conflict with the old field manager; its patchForce annotation takes it over.
    const [, rendered] = renderedObjects();
    expect((await api.serverSideApply("services", rendered as never, "pulumi-kubernetes", false)).body.message).toBe(
      'Apply failed with 1 conflict: conflict with "mysql-ha" using v1: .spec.selector',
    );
    await applyProgramObjects(api);
    expect(api.serviceSelectors.get(NAMES.primaryService)).toEqual({
      ...selectorLabels("mysql"),
      [ROLE_LABEL]: "primary",
    });
    expect((await pointAtPrimary(objects, 0)).labelled).toHaveLength(3);
    expect(api.serviceEndpoints(NAMES.primaryService)).toEqual(["mysql-0"]);
  });
});

describe("the stand-in's pod API", () => {
  let api: KubeApiStandin;
  beforeEach(async () => {
    api = memberStandin();
    await api.start();
  });
  afterEach(() => api.stop());

  const patch = (pod: string, type: string, body: unknown) =>
    fetch(`${api.url}/api/v1/namespaces/db/pods/${pod}`, {
      method: "PATCH",
      headers: { "content-type": type },
      body: JSON.stringify(body),
    }).then(async (r) => ({ code: r.status, body: (await r.json()) as any }));
  const list = (selector: string) =>
    fetch(`${api.url}/api/v1/namespaces/db/pods?labelSelector=${encodeURIComponent(selector)}`).then(async (r) => ({
      code: r.status,
      body: (await r.json()) as any,
    }));
  const names = async (selector: string) => (await list(selector)).body.items.map((p: any) => p.metadata.name);

  it("patches labels by merge patch, strategic merge patch and JSON patch; null removes one", async () => {
    expect(
      (await patch("mysql-0", "application/merge-patch+json", { metadata: { labels: { a: "1" } } })).body.metadata
        .labels,
    ).toMatchObject({ a: "1", "app.kubernetes.io/instance": "mysql" });
    expect(
      (await patch("mysql-0", "application/strategic-merge-patch+json", { metadata: { labels: { a: null, b: "2" } } }))
        .body.metadata.labels,
    ).toMatchObject({ b: "2" });
    expect(api.podLabels(0)!.a).toBeUndefined();
    expect(
      (await patch("mysql-0", "application/json-patch+json", [{ op: "add", path: "/metadata/labels/c", value: "3" }]))
        .code,
    ).toBe(200);
    expect(api.podLabels(0)).toMatchObject({ b: "2", c: "3" });
  });

  it("answers as the API server: 415 unknown type, 422 bad label or spec change, 400 non-string value, 409 stale resourceVersion, 404 no pod", async () => {
    const labels = { ...api.podLabels(1) };
    expect((await patch("mysql-1", "application/json", { metadata: { labels: { a: "1" } } })).code).toBe(415);
    expect(
      (await patch("mysql-1", "application/merge-patch+json", { metadata: { labels: { a: "-bad-" } } })).body,
    ).toMatchObject({ code: 422, reason: "Invalid" });
    expect(
      (await patch("mysql-1", "application/merge-patch+json", { metadata: { labels: { "bad key/x/y": "1" } } })).code,
    ).toBe(422);
    expect((await patch("mysql-1", "application/merge-patch+json", { metadata: { labels: { a: 1 } } })).code).toBe(400);
    expect((await patch("mysql-1", "application/merge-patch+json", { spec: { nodeName: "elsewhere" } })).code).toBe(
      422,
    );
    expect(
      (
        await patch("mysql-1", "application/merge-patch+json", {
          metadata: { resourceVersion: "1", labels: { a: "1" } },
        })
      ).code,
    ).toBe(409);
    expect((await patch("mysql-9", "application/merge-patch+json", { metadata: { labels: { a: "1" } } })).code).toBe(
      404,
    );
    expect(api.podLabels(1)).toEqual(labels);
  });

  it("lists pods by label selector (=, ==, !=, in, notin, exists, !key), sorted by name; 400 for a selector it cannot parse", async () => {
    await patch("mysql-1", "application/merge-patch+json", { metadata: { labels: { [ROLE_LABEL]: "primary" } } });
    await patch("mysql-2", "application/merge-patch+json", { metadata: { labels: { [ROLE_LABEL]: "replica" } } });
    expect((await list("")).body).toMatchObject({
      kind: "PodList",
      apiVersion: "v1",
      metadata: { resourceVersion: expect.any(String) },
    });
    expect(await names("")).toEqual(["mysql-0", "mysql-1", "mysql-2"]);
    expect(await names(`app.kubernetes.io/instance=mysql,${ROLE_LABEL}==primary`)).toEqual(["mysql-1"]);
    expect(await names(`${ROLE_LABEL}!=primary`)).toEqual(["mysql-0", "mysql-2"]);
    expect(await names(`${ROLE_LABEL} in (primary, replica)`)).toEqual(["mysql-1", "mysql-2"]);
    expect(await names(`${ROLE_LABEL} notin (primary)`)).toEqual(["mysql-0", "mysql-2"]);
    expect(await names(`${ROLE_LABEL}`)).toEqual(["mysql-1", "mysql-2"]);
    expect(await names(`!${ROLE_LABEL}`)).toEqual(["mysql-0"]);
    expect(await names("app.kubernetes.io/instance=other")).toEqual([]);
    expect((await list("a=(b")).code).toBe(400);
  });
});
