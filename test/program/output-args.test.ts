/**
 * ReplicatedDatabase with a value from another resource (test/program/output-args/): the component builds once the
 * value is known (a bad one is refused then: test/package/package.test.ts).
 */
import * as path from "node:path";
import { renderStack } from "../../offline/render";

const projectDir = path.join(__dirname, "output-args");

describe("a namespace from another resource", () => {
  it("puts every object in it once known", async () => {
    const rendered = await renderStack({ stack: "test", projectDir });
    expect(rendered.errors).toEqual([]);
    expect(rendered.outputs.primaryEndpoint).toBe("orders-primary.shop.svc:3306");
    const namespaced = rendered.resources.filter(
      (r) => r.type.startsWith("kubernetes:") && r.type !== "kubernetes:core/v1:Namespace",
    );
    expect(namespaced.length).toBeGreaterThan(10);
    for (const r of namespaced) expect([r.name, r.inputs.metadata?.namespace]).toEqual([r.name, "shop"]);
    // The component made no Namespace of its own (createNamespace false).
    expect(rendered.resources.filter((r) => r.type === "kubernetes:core/v1:Namespace").map((r) => r.name)).toEqual([
      "shop",
    ]);
  });
});
