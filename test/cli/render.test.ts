import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as yaml from "js-yaml";

const root = path.resolve(__dirname, "../..");
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(root, "bin/mysql-ha.js"), "render", ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 120_000,
  });

describe("mysql-ha render", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-render-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writes one YAML per Kubernetes object and a JSON summary, with passwords redacted", () => {
    const out = path.join(dir, "prod");
    const run = cli("--stack", "prod", "--out", out, "--set", "replicas=5");
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/rendered stack 'prod': \d+ Kubernetes objects/);

    const files = fs.readdirSync(out).sort();
    for (const f of [
      "statefulset-mysql.yaml",
      "service-mysql-primary.yaml",
      "service-mysql-read.yaml",
      "service-mysql-headless.yaml",
      "secret-mysql-credentials.yaml",
      "configmap-mysql-config.yaml",
      "configmap-mysql-scripts.yaml",
      "poddisruptionbudget-mysql.yaml",
      "resources.json",
    ]) {
      expect(files).toContain(f);
    }
    const docs = files
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => yaml.load(fs.readFileSync(path.join(out, f), "utf8")) as any);
    for (const doc of docs)
      expect(doc).toEqual(expect.objectContaining({ apiVersion: expect.any(String), kind: expect.any(String) }));
    const sts = docs.find((d) => d.kind === "StatefulSet");
    expect(sts.spec.replicas).toBe(5);
    const secret = docs.find((d) => d.kind === "Secret");
    expect(secret.stringData).toEqual({
      "root-password": "[secret]",
      "replication-password": "[secret]",
      "app-password": "[secret]",
      "backup-signing-key": "[secret]",
      "clone-token": "[secret]",
      "operator-password": "[secret]",
      "backup-password": "[secret]",
      "archiver-password": "[secret]",
      "probe-password": "[secret]",
      "metrics-password": "[secret]",
    });

    const summary = JSON.parse(fs.readFileSync(path.join(out, "resources.json"), "utf8"));
    expect(summary.outputs.rootPassword).toBe("[secret]");
    expect(summary.resources.map((r: any) => r.type)).toContain("random:index/randomPassword:RandomPassword");
    expect(summary.kubernetesObjects.find((k: any) => k.name === "mysql-statefulset").dependsOn.length).toBeGreaterThan(
      0,
    );
  });

  it("exits non-zero and prints every validation message for a bad stack", () => {
    fs.writeFileSync(
      path.join(dir, "Pulumi.yaml"),
      yaml.dump({ name: "mysql-ha", runtime: "nodejs", main: path.join(root, "index.ts") }),
    );
    fs.writeFileSync(
      path.join(dir, "Pulumi.bad.yaml"),
      yaml.dump({
        config: {
          "mysql-ha:replicas": "12",
          "mysql-ha:storageSize": "20GB",
          "mysql-ha:image": "mariadb:latest",
          "mysql-ha:replica": "3",
        },
      }),
    );
    const out = path.join(dir, "out");
    const run = cli("--stack", "bad", "--project-dir", dir, "--out", out);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("stack 'bad' cannot be rendered");
    expect(run.stderr).toContain('mysql-ha:replicas: "12" is not allowed; expected an integer from 1 to 9');
    expect(run.stderr).toContain("did you mean 20Gi?");
    expect(run.stderr).toContain("mysql-ha:image");
    expect(run.stderr).toContain("mysql-ha:replica: unknown config key (did you mean replicas?)");
    expect(fs.existsSync(out)).toBe(false);
  });

  it("exits non-zero naming the known stacks when the stack does not exist", () => {
    const run = cli("--stack", "nope", "--out", path.join(dir, "x"));
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/no stack 'nope'.*stacks here: .*dev.*prod/);
  });

  it("refuses a missing --stack or a malformed --set as usage errors", () => {
    expect(cli().status).toBe(2);
    const bad = cli("--stack", "dev", "--set", "replicas");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--set expects key=value");
  });

  it("writes only into a directory it owns: refuses any other non-empty one, and replaces only its own files", () => {
    const project = path.join(dir, "project");
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: mine\n");
    const refused = cli("--stack", "dev", "--out", project);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(`--out ${project} is not empty and was not written by 'mysql-ha render'`);
    expect(fs.readFileSync(path.join(project, "Pulumi.yaml"), "utf8")).toBe("name: mine\n");

    const out = path.join(dir, "out");
    expect(cli("--stack", "prod", "--out", out).status).toBe(0);
    fs.writeFileSync(path.join(out, "notes.yaml"), "kept: true\n"); // not render's: must survive a re-render
    const again = cli("--stack", "prod", "--out", out, "--set", "replicas=3");
    expect(again.status).toBe(0);
    expect(fs.readFileSync(path.join(out, "notes.yaml"), "utf8")).toBe("kept: true\n");
    expect(fs.existsSync(path.join(out, "statefulset-mysql.yaml"))).toBe(true);
  });

  it("takes --set in the path form of 'pulumi config set --path' for object keys", () => {
    const out = path.join(dir, "path");
    const run = cli(
      "--stack",
      "prod",
      "--out",
      out,
      "--set",
      "serverConfig.max_connections=500",
      "--set",
      "serverConfig.long_query_time=2",
    );
    expect(run.stderr).not.toMatch(/unknown config key|cannot be rendered/);
    expect(run.status).toBe(0);
    const cnf = (yaml.load(fs.readFileSync(path.join(out, "configmap-mysql-config.yaml"), "utf8")) as any).data;
    const text = Object.values(cnf).join("\n");
    expect(text).toMatch(/^max_connections\s*=\s*500$/m);
    expect(text).toMatch(/^long_query_time\s*=\s*2$/m);
    // The stack's own serverConfig fields stay (Pulumi.prod.yaml sets innodb_buffer_pool_size).
    expect(text).toMatch(/^innodb_buffer_pool_size\s*=\s*6G$/m);
  });

  it("is listed by mysql-ha --help", () => {
    const run = spawnSync(process.execPath, [path.join(root, "bin/mysql-ha.js"), "--help"], {
      cwd: root,
      encoding: "utf8",
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/render\s+Evaluate the program offline/);
  });
});
