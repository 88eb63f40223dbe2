/**
 * The serialized providers stay in the state and run again for `refresh` and `destroy`, from whatever checkout or
 * CI directory runs those: so their text names no path of the checkout that serialized them, and they find their
 * code from the host's working directory, the project directory. The host carries every property bag as a protobuf
 * Struct, as Pulumi's does.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { serializableProvider } from "../../components/providers";
import { ProviderKind } from "../../components/providers/serialized";
import { DynamicHost, serializeProvider } from "../../local/dynamic-host";

const ROOT = path.resolve(__dirname, "..", "..");
const KINDS: ProviderKind[] = ["placement", "topology", "rollingUpgrade"];

describe("serialized providers run from the project directory they are given, not the one that serialized them", () => {
  const serialized: Partial<Record<ProviderKind, string>> = {};
  const scratch: string[] = [];
  const hosts: DynamicHost[] = [];

  beforeAll(async () => {
    for (const kind of KINDS) serialized[kind] = await serializeProvider(serializableProvider(kind));
  });
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
  });

  function tempDir(): string {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-portable-")));
    scratch.push(dir);
    return dir;
  }

  async function start(cwd: string, log?: (line: string) => void): Promise<DynamicHost> {
    const host = await DynamicHost.start({ cwd, log });
    hosts.push(host);
    return host;
  }

  test("the serialized text names no path of this checkout", () => {
    for (const kind of KINDS) {
      expect(serialized[kind]).not.toContain(ROOT);
      expect(serialized[kind]).not.toContain(fs.realpathSync(ROOT));
      expect(serialized[kind]).toContain("process.cwd()");
    }
  });

  test("a provider serialized here runs in another copy of the project, from that copy's sources", async () => {
    const copy = tempDir();
    fs.cpSync(path.join(ROOT, "components"), path.join(copy, "components"), { recursive: true });
    for (const file of ["package.json", "tsconfig.json", "Pulumi.yaml"])
      fs.copyFileSync(path.join(ROOT, file), path.join(copy, file));
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(copy, "node_modules"));
    // Marks the copy's handlers, so the log shows which sources the host loaded.
    for (const file of ["handlers.ts", "rolling-upgrade-handlers.ts"]) {
      fs.appendFileSync(
        path.join(copy, "components", "providers", file),
        "\nprocess.stderr.write(`loaded ${__filename}\\n`);\n",
      );
    }
    const log: string[] = [];
    const host = await start(copy, (line) => log.push(line));
    for (const kind of KINDS) {
      // Invalid inputs: check answers without reaching any member.
      const { failures } = await host.check({}, { __provider: serialized[kind] });
      expect(failures.length).toBeGreaterThan(0);
    }
    expect(log).toEqual(
      expect.arrayContaining([
        `loaded ${copy}/components/providers/handlers.ts`,
        `loaded ${copy}/components/providers/rolling-upgrade-handlers.ts`,
      ]),
    );
  });

  test("outside a project the provider says it must run in the mysql-ha project directory", async () => {
    const elsewhere = tempDir();
    const host = await start(elsewhere);
    for (const kind of KINDS) {
      await expect(host.check({}, { __provider: serialized[kind] })).rejects.toThrow(
        `components/providers/${kind === "rollingUpgrade" ? "rolling-upgrade-handlers" : "handlers"}.ts not found in ${elsewhere}, nor node_modules/mysql-ha; ` +
          "the provider must run in the mysql-ha project directory or in that of a program using the mysql-ha package",
      );
    }
  });

  test("results cross as protobuf Structs: null survives, a result with undefined fails as in Pulumi's host", async () => {
    const host = await start(ROOT);
    const withNull = await serializeProvider({
      create: async () => ({ id: "n", outs: { value: null, list: [1, "two"] } }),
    });
    const created = await host.create({ __provider: withNull });
    expect(created).toEqual({ id: "n", outs: { value: null, list: [1, "two"], __provider: withNull } });
    const withUndefined = await serializeProvider({ create: async () => ({ id: "u", outs: { value: undefined } }) });
    await expect(host.create({ __provider: withUndefined })).rejects.toThrow("Unexpected struct type.");
  });
});
