import { assertSupportedNode, nodeVersionError } from "../../components/node-version";

describe("nodeVersionError", () => {
  test("refuses Node older than 20.19.0, naming the required and the running version", () => {
    expect(nodeVersionError("20.18.3")).toBe("mysql-ha needs Node.js >= 20.19.0; this is Node.js 20.18.3");
    expect(nodeVersionError("v18.20.4")).toBe("mysql-ha needs Node.js >= 20.19.0; this is Node.js 18.20.4");
    expect(() => assertSupportedNode("20.16.0")).toThrow("mysql-ha needs Node.js >= 20.19.0; this is Node.js 20.16.0");
  });

  test("accepts 20.19.0 and later, and 22.x", () => {
    for (const version of ["20.19.0", "v20.19.0", "20.20.2", "22.0.0", "22.12.1", "24.1.0"])
      expect(nodeVersionError(version)).toBeUndefined();
    expect(() => assertSupportedNode()).not.toThrow();
  });
});
