/**
 * mysql-ha as a package in someone else's Pulumi program: `npm pack`, the tarball installed into a fresh project
 * (its dependencies linked from this checkout's node_modules: no network), README's "Use it in your own program"
 * example compiled there with tsc against the package's declarations and run under Pulumi's mocks.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { serializableProvider } from "../../components/providers";
import { DynamicHost, serializeProvider } from "../../local/dynamic-host";

const ROOT = path.resolve(__dirname, "..", "..");

/** The first TypeScript block of README's "Use it in your own program". */
function readmeExample(): string {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith("Use it in your own program"));
  const code = section && /```ts\n([\s\S]*?)```/.exec(section);
  if (!code) throw new Error('README has no ```ts block under "## Use it in your own program"');
  return code[1];
}

/** Runs the compiled program under mocks; prints what it registered, its outputs and a refused argument. */
const RUNNER = `
const pulumi = require("@pulumi/pulumi");
const registered = [];
pulumi.runtime.setMocks({
  newResource: (args) => { registered.push({ type: args.type, name: args.name, inputs: args.inputs }); return { id: args.name + "-id", state: args.inputs }; },
  call: (args) => args.inputs,
}, "shop", "dev", false);
const program = require("./index.js");
const known = (output) => new Promise((resolve) => output.apply(resolve));
(async () => {
  const endpoint = await known(program.writeEndpoint);
  // Registrations resolve their inputs first: wait until none is added for a while.
  for (let count = -1; count !== registered.length; await new Promise((r) => setTimeout(r, 300))) count = registered.length;
  const example = [...registered];
  const { ReplicatedDatabase } = require("mysql-ha");
  let refused;
  try {
    new ReplicatedDatabase("bad", { replicas: 12, tls: "tls" });
  } catch (err) {
    refused = { name: err.name, message: err.message, registered: registered.some((r) => r.name === "bad") };
  }
  // Known values are refused before anything is registered (nothing named "bad" is); a value from another resource
  // is validated once known: the program fails (its outputs reject), nothing is built.
  const failures = new Set();
  process.on("unhandledRejection", (err) => failures.add(String(err && err.message)));
  const late = new ReplicatedDatabase("late", { namespace: pulumi.output("Bad_NS") });
  late.primaryEndpoint.apply(() => failures.add("the outputs resolved"));
  await new Promise((r) => setTimeout(r, 1000));
  const lateBuilt = registered.slice(example.length).filter((r) => r.name !== "late").map((r) => r.name);
  process.stdout.write(JSON.stringify({ endpoint, registered: example, refused, late: { failures: [...failures], built: lateBuilt } }));
})();
`;

describe("the packed package in a program of its own", () => {
  let work: string;
  let app: string;
  beforeAll(() => {
    work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-package-")));
    app = path.join(work, "app");
    const modules = path.join(app, "node_modules");
    fs.mkdirSync(modules, { recursive: true });
    // npm pack runs prepack (declarations, the prebuilt agent bundle) and prepare (the build).
    const tarball = execFileSync("npm", ["pack", "--silent", "--pack-destination", work], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 600_000,
    })
      .trim()
      .split("\n")
      .pop()!;
    execFileSync("tar", ["-xzf", path.join(work, tarball), "-C", work]);
    fs.renameSync(path.join(work, "package"), path.join(modules, "mysql-ha"));
    for (const entry of fs.readdirSync(path.join(ROOT, "node_modules"))) {
      if (![".bin", ".cache", ".package-lock.json"].includes(entry))
        fs.symlinkSync(path.join(ROOT, "node_modules", entry), path.join(modules, entry));
    }
    fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "shop", private: true, main: "index.js" }));
    fs.writeFileSync(
      path.join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "es2022",
          module: "commonjs",
          strict: true,
          esModuleInterop: true,
          skipLibCheck: true,
          types: ["node"],
        },
        files: ["index.ts"],
      }),
    );
    fs.writeFileSync(path.join(app, "index.ts"), readmeExample());
    fs.writeFileSync(path.join(app, "run-mocked.js"), RUNNER);
  }, 600_000);
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it("ships the compiled library, its declarations and the scripts, not the sources or the tests", () => {
    const pkg = path.join(app, "node_modules", "mysql-ha");
    const manifest = JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8"));
    expect(fs.existsSync(path.join(pkg, manifest.main))).toBe(true);
    expect(fs.existsSync(path.join(pkg, manifest.types))).toBe(true);
    expect(fs.existsSync(path.join(pkg, "dist", "agent-bundle.json"))).toBe(true);
    expect(fs.existsSync(path.join(pkg, "components", "scripts", "init-server.sh"))).toBe(true);
    expect(fs.existsSync(path.join(pkg, "components", "database.ts"))).toBe(false);
    expect(fs.existsSync(path.join(pkg, "dist", "test"))).toBe(false);
  });

  it("compiles README's example with tsc and runs it under mocks: the database in a namespace from another resource", () => {
    execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", app], { cwd: app, encoding: "utf8" });
    const { endpoint, registered, refused, late } = JSON.parse(
      execFileSync(process.execPath, ["run-mocked.js"], { cwd: app, encoding: "utf8", timeout: 120_000 }),
    );
    const of = (type: string) => registered.filter((r: { type: string }) => r.type === type);
    expect(of("mysql-ha:index:ReplicatedDatabase").map((r: { name: string }) => r.name)).toEqual(["orders"]);
    // The namespace is the program's own resource's output (createNamespace false: the component makes none).
    expect(of("kubernetes:core/v1:Namespace").map((r: { name: string }) => r.name)).toEqual(["shop"]);
    const [statefulSet] = of("kubernetes:apps/v1:StatefulSet");
    expect(statefulSet.inputs.metadata.namespace).toBe("shop");
    expect(statefulSet.inputs.spec.replicas).toBe(3);
    expect(endpoint).toBe("orders-primary.shop.svc:3306");
    // The failover agent's code comes prebuilt with the package (there are no sources here to build it from).
    const bundle = of("kubernetes:core/v1:ConfigMap").find((r: { name: string }) => r.name === "orders-agent-bundle");
    expect(Object.values(bundle.inputs.binaryData)[0]).toMatch(/^[A-Za-z0-9+/]{1000,}={0,2}$/);
    // The replication resources, whose providers run from the package (next test).
    expect(
      registered
        .map((r: { type: string }) => r.type)
        .filter((t: string) => t.startsWith("pulumi-nodejs:dynamic/mysql-ha:"))
        .sort(),
    ).toEqual([
      "pulumi-nodejs:dynamic/mysql-ha:PrimaryPlacement",
      "pulumi-nodejs:dynamic/mysql-ha:ReplicationTopology",
      "pulumi-nodejs:dynamic/mysql-ha:RollingUpgrade",
    ]);
    // The arguments are validated as stack config is, every problem at once.
    expect(refused.name).toBe("ConfigValidationError");
    expect(refused.message).toMatch(/mysql-ha:replicas: 12 is not allowed; expected an integer from 1 to 9/);
    expect(refused.message).toMatch(/mysql-ha:tls: "tls" is not allowed; expected one of /);
    expect(refused.registered).toBe(false);
    expect(late.built).toEqual([]);
    expect(late.failures.length).toBeGreaterThan(0);
    for (const message of late.failures)
      expect(message).toMatch(/mysql-ha:namespace: "Bad_NS" is not allowed; expected a DNS-1123 label/);
  });

  it("its dynamic providers run in the program's directory from the installed package", async () => {
    const host = await DynamicHost.start({ cwd: app });
    try {
      const { failures } = await host.check(
        {},
        { __provider: await serializeProvider(serializableProvider("topology")) },
      );
      expect(failures.length).toBeGreaterThan(0);
    } finally {
      await host.stop();
    }
  });
});
