/**
 * The analyzer protocol's requests as the Pulumi engine sends them to a policy pack, built from rendered resources:
 * for the policy host run in-process (test/offline) and over gRPC (pack.test).
 */
import type { RenderedResource } from "../../offline/analyzer";

const pb = require("@pulumi/pulumi/proto/analyzer_pb");
const { Struct } = require("google-protobuf/google/protobuf/struct_pb");

/** EnforcementLevel's names by their protocol numbers. */
export const LEVELS = ["advisory", "mandatory", "disabled", "remediate"];

function options(parent?: string) {
  const o = new pb.AnalyzerResourceOptions();
  o.setProtect(false);
  if (parent) o.setParent(parent);
  return o;
}

/** Properties as the engine serializes them (undefined values leave, as in JSON). */
const toStruct = (v: Record<string, any>) => Struct.fromJavaScript(JSON.parse(JSON.stringify(v)));

export function analyzeRequest(r: RenderedResource) {
  const req = new pb.AnalyzeRequest();
  req.setType(r.type);
  req.setName(r.name);
  req.setUrn(r.urn);
  req.setProperties(toStruct(r.inputs));
  req.setOptions(options());
  return req;
}

/** The engine's AnalyzeStack request: dependencies, and property dependencies without the empty ones. */
export function analyzeStackRequest(resources: RenderedResource[]) {
  const req = new pb.AnalyzeStackRequest();
  req.setResourcesList(
    resources.map((r) => {
      const a = new pb.AnalyzerResource();
      a.setType(r.type);
      a.setName(r.name);
      a.setUrn(r.urn);
      a.setProperties(toStruct(r.inputs));
      a.setOptions(options(r.parent));
      a.setParent(r.parent ?? "");
      a.setDependenciesList(r.dependsOn ?? []);
      for (const [prop, urns] of Object.entries(r.propertyDependencies ?? {})) {
        if (!urns.length) continue;
        const deps = new pb.AnalyzerPropertyDependencies();
        deps.setUrnsList(urns);
        a.getPropertydependenciesMap().set(prop, deps);
      }
      return a;
    }),
  );
  return req;
}

/** The policy config the CLI sends: `policy`'s enforcement level and properties. */
export function configureRequest(
  policy: string,
  level: "ADVISORY" | "MANDATORY" | "DISABLED" | "REMEDIATE",
  properties: Record<string, unknown>,
) {
  const req = new pb.ConfigureAnalyzerRequest();
  const cfg = new pb.PolicyConfig();
  cfg.setEnforcementlevel(pb.EnforcementLevel[level]);
  cfg.setProperties(Struct.fromJavaScript(properties));
  req.getPolicyconfigMap().set(policy, cfg);
  return req;
}
