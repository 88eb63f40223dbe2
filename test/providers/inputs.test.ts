import * as pulumi from "@pulumi/pulumi";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { handlers } from "../../components/providers/handlers";
import {
  comparedInputs,
  REPLICATION_INPUTS,
  ROLLING_UPGRADE_INPUTS,
  SECRET_PROPERTIES,
  secretInputs,
  SHARED_INPUTS,
} from "../../components/providers/inputs";
import { resourceInputs, withSecretOutputs } from "../../components/providers/resources";
import { rollingUpgrade } from "../../components/providers/rolling-upgrade-handlers";

/** The three resources: their input table and their provider. */
const resources = [
  { name: "PrimaryPlacement", fields: REPLICATION_INPUTS, provider: handlers.placement },
  { name: "ReplicationTopology", fields: REPLICATION_INPUTS, provider: handlers.topology },
  { name: "RollingUpgrade", fields: ROLLING_UPGRADE_INPUTS, provider: rollingUpgrade },
];

const shared = Object.keys(SHARED_INPUTS) as Array<keyof typeof SHARED_INPUTS>;
const sharedCompared = shared.filter((key) => SHARED_INPUTS[key].compared);
const sharedSecret = shared.filter((key) => "secret" in SHARED_INPUTS[key] && SHARED_INPUTS[key].secret);

describe("the one declaration of the dynamic resources' inputs", () => {
  test.each(resources)(
    "$name takes every shared field as declared, compared and secret lists from its table",
    ({ fields }) => {
      for (const key of shared) expect(fields[key]).toBe(SHARED_INPUTS[key]);
      expect(comparedInputs(fields)).toEqual(expect.arrayContaining(sharedCompared));
      expect(comparedInputs(fields)).toEqual(
        Object.keys(fields).filter((key) => fields[key as keyof typeof fields].compared),
      );
      // Every secret is a shared field: the engine stand-ins keep SECRET_PROPERTIES secret for all three resources.
      expect(secretInputs(fields)).toEqual(sharedSecret);
      expect(SECRET_PROPERTIES).toEqual(sharedSecret);
    },
  );

  test.each(resources)("$name's resource wraps and keeps secret exactly its table's secret fields", ({ fields }) => {
    expect(withSecretOutputs({ additionalSecretOutputs: ["x"] }, fields).additionalSecretOutputs).toEqual([
      "x",
      ...secretInputs(fields),
    ]);
    const inputs = resourceInputs(
      { adminPassword: "a", replicationPassword: "r", kubeconfig: "k", adminUser: "root" },
      fields,
    );
    for (const key of ["adminPassword", "replicationPassword", "kubeconfig"])
      expect(pulumi.Output.isInstance(inputs[key])).toBe(true);
    expect(inputs.adminUser).toBe("root");
    expect("accounts" in inputs && inputs.accounts === undefined).toBe(true);
  });

  test.each(resources)(
    "$name's diff reports a change of each of its compared fields, and one not known yet",
    async ({ fields, provider }) => {
      // A compared change decides the diff before any member is inspected: nothing here reaches a database.
      for (const key of comparedInputs(fields)) {
        expect((await provider.diff("id", { [key]: "old" }, { [key]: "new" })).changes).toBe(true);
        expect((await provider.diff("id", {}, { [key]: unknownValue })).changes).toBe(true);
      }
    },
  );

  test.each(resources)(
    "$name's check validates the shared fields and words unknown inputs alike",
    async ({ fields, provider }) => {
      const { failures } = await provider.check({}, { replicas: 12, adminPassword: "", tls: undefined });
      expect(failures).toEqual(
        expect.arrayContaining([
          { property: "replicas", reason: "12 is not an integer in 1..9" },
          { property: "adminPassword", reason: "must be a non-empty string" },
        ]),
      );
      expect(failures!.map((f) => f.property)).not.toContain("tls");
      // Valid inputs whose every compared field is unknown: the plan waits for them, in the same words for all three.
      const valid = Object.fromEntries(comparedInputs(fields).map((key) => [key, unknownValue]));
      const stderr = jest.spyOn(process.stderr, "write").mockImplementation(() => true);
      const checked = await provider.check({}, { ...valid, rolloutTimeoutSeconds: 1800, maxLagSeconds: 5 });
      stderr.mockRestore();
      expect(checked.failures).toBeUndefined();
      expect(checked.inputs.plan).toBe(
        `decided once ${comparedInputs(fields).join(", ")} are known: up inspects the members first`,
      );
    },
  );
});
