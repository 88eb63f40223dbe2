// The process side of local/dynamic-host.ts: a stand-in for @pulumi/pulumi's dynamic provider host
// (cmd/dynamic-provider/index.js). Plain JavaScript and no ts-node, like the real host: whatever the serialized
// provider needs, it must load itself. Requests arrive over the IPC channel as
// { seq, method, id?, olds?, news?, props? }; every value is plain (the real host tells the engine it does not accept
// secrets, so secrets arrive unwrapped) and `__provider` travels inside the properties, as in the gRPC requests.
"use strict";
const path = require("node:path");

const providerKey = "__provider";
// Same loader the SDK's host uses, resolved from the SDK's own location.
const requireFromString = require(require.resolve("require-from-string", {
  paths: [path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [process.env.DYNAMIC_HOST_PROJECT || process.cwd()] }))],
}));

const providerCache = {};
async function getProvider(props) {
  const providerString = props[providerKey];
  if (typeof providerString !== "string") throw new Error(`missing ${providerKey} in the resource properties`);
  let provider = providerCache[providerString];
  if (!provider) {
    provider = requireFromString(providerString).handler();
    providerCache[providerString] = provider;
    if (provider.configure) await provider.configure({ config: { get: () => undefined, require: (k) => { throw new Error(`no config ${k}`); } } });
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
    return {
      changes: result.changes,
      replaces: result.replaces || [],
      stables: result.stables || [],
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

process.on("message", async (req) => {
  try {
    const result = await methods[req.method](req);
    process.send({ seq: req.seq, result });
  } catch (err) {
    process.send({ seq: req.seq, error: { message: String((err && err.message) || err), stack: err && err.stack } });
  }
});
process.on("disconnect", () => process.exit(0));
