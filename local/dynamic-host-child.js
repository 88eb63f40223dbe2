// The process side of local/dynamic-host.ts: a stand-in for @pulumi/pulumi's dynamic provider host
// (cmd/dynamic-provider/index.js). Plain JavaScript and no ts-node, like the real host: whatever the serialized
// provider needs, it must load itself, from the working directory the engine gives the host (the project directory).
// Requests arrive over the IPC channel as { seq, method, id?, structs: { olds?, news?, props? } }; every property
// bag travels as a serialized google.protobuf.Struct (base64), converted with the same Struct.fromJavaScript /
// toJavaScript as the real host's gRPC messages, so a provider result the real host cannot send (e.g. an
// `undefined` value: "Unexpected struct type.") fails here too. Values are plain: the real host tells the engine it
// does not accept secrets, so secrets arrive unwrapped; unknowns arrive as the engine's sentinel string.
"use strict";
const path = require("node:path");

const providerKey = "__provider";
// The host's own modules come from the SDK next to this file, not from the cwd, so a test can start the host
// somewhere that is not a project and see the provider's own error.
const sdkDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const requireFromString = require(require.resolve("require-from-string", { paths: [sdkDir] }));
const { Struct } = require(require.resolve("google-protobuf/google/protobuf/struct_pb", { paths: [sdkDir] }));

const toStruct = (value) => Buffer.from(Struct.fromJavaScript(value).serializeBinary()).toString("base64");
const fromStruct = (base64) => Struct.deserializeBinary(Buffer.from(base64, "base64")).toJavaScript();

const providerCache = {};
async function getProvider(props) {
  const providerString = props[providerKey];
  if (typeof providerString !== "string") throw new Error(`missing ${providerKey} in the resource properties`);
  let provider = providerCache[providerString];
  if (!provider) {
    provider = requireFromString(providerString).handler();
    providerCache[providerString] = provider;
    if (provider.configure)
      await provider.configure({
        config: {
          get: () => undefined,
          require: (k) => {
            throw new Error(`no config ${k}`);
          },
        },
      });
  }
  return provider;
}

function withProvider(result, props) {
  return Object.assign(result || {}, { [providerKey]: props[providerKey] });
}

const methods = {
  async check({ olds, news }) {
    const provider = await getProvider(news[providerKey] === UNKNOWN ? olds : news);
    let inputs = news;
    let failures = [];
    if (provider.check) {
      const result = await provider.check(olds, news);
      if (result.inputs) inputs = result.inputs;
      if (result.failures) failures = result.failures;
    }
    inputs[providerKey] = news[providerKey];
    return { inputs, failures };
  },
  async diff({ id, olds, news }) {
    const provider = await getProvider(news[providerKey] === UNKNOWN ? olds : news);
    if (!provider.diff) return { changes: undefined };
    const result = await provider.diff(id, olds, news);
    // What the real host's DiffResponse carries: no stables.
    return {
      changes: result.changes,
      replaces: result.replaces || [],
      deleteBeforeReplace: !!result.deleteBeforeReplace,
    };
  },
  async create({ props }) {
    const provider = await getProvider(props);
    const result = await provider.create(props);
    return { id: result.id, outs: withProvider(result.outs, props) };
  },
  async read({ id, props }) {
    const provider = await getProvider(props);
    if (!provider.read) return { id, props };
    const result = await provider.read(id, props);
    return {
      id: result.id,
      props: withProvider(result.props, props),
      inputs: result.inputs ? withProvider(result.inputs, props) : undefined,
    };
  },
  async update({ id, olds, news }) {
    const provider = await getProvider(news);
    const result = (provider.update && (await provider.update(id, olds, news))) || {};
    return { outs: withProvider(result.outs, news) };
  },
  async delete({ id, props }) {
    const provider = await getProvider(props);
    if (provider.delete) await provider.delete(id, props);
    return {};
  },
};
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

// The result properties the real host sends as Structs (CheckResponse.inputs, CreateResponse.properties, ...).
const structResults = ["inputs", "outs", "props"];

process.on("message", async (req) => {
  try {
    const args = { id: req.id };
    for (const [key, value] of Object.entries(req.structs)) args[key] = fromStruct(value);
    const result = await methods[req.method](args);
    const structs = {};
    for (const key of structResults) {
      if (result[key] === undefined) continue;
      structs[key] = toStruct(result[key]);
      delete result[key];
    }
    process.send({ seq: req.seq, result, structs });
  } catch (err) {
    process.send({ seq: req.seq, error: { message: String((err && err.message) || err), stack: err && err.stack } });
  }
});
process.on("disconnect", () => process.exit(0));
