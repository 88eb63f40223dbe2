/**
 * The program's TLS (config tls, tlsRequired): the stack's CA and member certificates, the Secret that carries
 * them, where the pods mount them, the server options, and what the engine's resources and the agent get.
 */
import { renderStack, RenderedStack, RenderedResource, REDACTED } from "../../offline/render";

const byName = (r: RenderedStack, name: string): RenderedResource => {
  const found = r.resources.find((x) => x.name === name);
  if (!found) throw new Error(`no resource ${name}; have ${r.resources.map((x) => x.name).join(", ")}`);
  return found;
};

describe("tls: self-signed (the default)", () => {
  let prod: RenderedStack;
  beforeAll(async () => {
    prod = await renderStack({ stack: "prod" });
  });

  it("makes a CA and one certificate per member naming the member and every Service, keys secret", () => {
    expect(prod.errors).toEqual([]);
    const ca = byName(prod, "mysql-tls-ca");
    expect(ca.type).toBe("tls:index/selfSignedCert:SelfSignedCert");
    expect(ca.inputs).toMatchObject({ isCaCertificate: true, privateKeyPem: REDACTED, allowedUses: ["cert_signing", "crl_signing"] });
    const requests = prod.resources.filter((r) => r.type === "tls:index/certRequest:CertRequest");
    expect(requests.map((r) => r.name)).toEqual(["mysql-tls-member-0-request", "mysql-tls-member-1-request", "mysql-tls-member-2-request"]);
    for (const i of [0, 1, 2]) {
      const names: string[] = requests[i].inputs.dnsNames;
      expect(requests[i].inputs).toMatchObject({ privateKeyPem: REDACTED, subject: { commonName: `mysql-${i}` } });
      // Its own names (the engine and the replicas check the member's headless-Service name), no other member's.
      expect(names.filter((n) => /^mysql-\d/.test(n))).toEqual([
        `mysql-${i}.mysql-headless`, `mysql-${i}.mysql-headless.mysql-ha`, `mysql-${i}.mysql-headless.mysql-ha.svc`, `mysql-${i}.mysql-headless.mysql-ha.svc.cluster.local`,
      ]);
      for (const service of ["mysql-primary", "mysql-read", "mysql-headless"]) {
        expect(names).toEqual(expect.arrayContaining([service, `${service}.mysql-ha`, `${service}.mysql-ha.svc`, `${service}.mysql-ha.svc.cluster.local`]));
      }
    }
    const member = byName(prod, "mysql-tls-member-1");
    expect(member.inputs).toMatchObject({ caPrivateKeyPem: REDACTED, earlyRenewalHours: 720, allowedUses: expect.arrayContaining(["server_auth", "client_auth"]) });
    // No private key appears anywhere in clear text: not in the certificates' inputs, the Secret, the outputs.
    expect(JSON.stringify(prod)).not.toMatch(/BEGIN PRIVATE KEY/);
  });

  it("keeps private keys secret by Pulumi's secret flag, not only by matching known values", async () => {
    const r = await renderStack({
      stack: "prod",
      onResource: async (args) => args.type === "tls:index/privateKey:PrivateKey"
        ? { id: args.name, state: { ...args.inputs, privateKeyPem: `-----BEGIN PRIVATE KEY-----\nvisibleKeyOf-${args.name}\n-----END PRIVATE KEY-----\n` } } : undefined,
    });
    expect(r.errors).toEqual([]);
    expect(JSON.stringify(r)).not.toContain("visibleKeyOf");
    expect(byName(r, "mysql-tls-member-0").inputs.caPrivateKeyPem).toBe(REDACTED);
  });

  it("puts the CA and each member's pair in one Secret, mounted read-only into the database and init containers", () => {
    const secret = byName(prod, "mysql-tls");
    expect(secret.inputs.metadata.name).toBe("mysql-tls");
    // A Secret's data is secret as a whole (the Kubernetes SDK marks it), certificates included.
    expect(secret.inputs.stringData).toEqual({
      "ca.crt": REDACTED, "member-0.crt": REDACTED, "member-0.key": REDACTED, "member-1.crt": REDACTED, "member-1.key": REDACTED, "member-2.crt": REDACTED, "member-2.key": REDACTED,
    });
    const sts = byName(prod, "mysql-statefulset");
    expect(sts.dependsOn).toContain(secret.urn);
    const pod = sts.inputs.spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: "tls", secret: { secretName: "mysql-tls", defaultMode: 0o440 } });
    const mount = { name: "tls", mountPath: "/etc/mysql-ha/tls", readOnly: true };
    const init = pod.initContainers.find((c: any) => c.name === "init-server");
    expect(init.volumeMounts).toContainEqual(mount);
    expect(init.env).toContainEqual({ name: "TLS_DIR", value: "/etc/mysql-ha/tls" });
    expect(pod.containers.find((c: any) => c.name === "mariadb").volumeMounts).toContainEqual(mount);
    // Sidecars do not get the members' keys.
    for (const c of pod.containers.filter((c: any) => c.name !== "mariadb")) expect(c.volumeMounts ?? []).not.toContainEqual(mount);
  });

  it("sets ssl_ca and, in production, require_secure_transport; the engine's resources get the CA and its path, the agent only the CA", () => {
    const cnf: string = byName(prod, "mysql-config").inputs.data["50-mysql-ha.cnf"];
    expect(cnf).toMatch(/^ssl_ca = \/etc\/mysql-ha\/tls\/ca\.crt$/m);
    expect(cnf).toMatch(/^require_secure_transport = ON$/m);
    for (const name of ["mysql-placement", "mysql-replication", "mysql-rollout"]) {
      expect(byName(prod, name).inputs.tls).toEqual({
        ca: expect.stringContaining("mock certificate of mysql-tls-ca"), caPath: "/etc/mysql-ha/tls/ca.crt",
        // Each member's certificate (public), so that the next up loads a renewed one (FLUSH SSL).
        certificates: [0, 1, 2].map((i) => expect.stringContaining(`mock certificate of mysql-tls-member-${i}\n`)),
      });
    }
    const agent = byName(prod, "mysql-agent").inputs.spec.template.spec;
    const command: string[] = agent.containers[0].command;
    expect(command.slice(command.indexOf("--tls-ca"))).toEqual(["--tls-ca", "/etc/mysql-ha/tls/ca.crt", "--tls-member-ca", "/etc/mysql-ha/tls/ca.crt"]);
    expect(agent.volumes).toContainEqual({ name: "tls-ca", secret: { secretName: "mysql-tls", items: [{ key: "ca.crt", path: "ca.crt" }] } });
  });

  it("dev keeps TLS on without requiring it", async () => {
    const dev = await renderStack({ stack: "dev" });
    const cnf: string = byName(dev, "mysql-config").inputs.data["50-mysql-ha.cnf"];
    expect(cnf).toMatch(/^ssl_ca = /m);
    expect(cnf).toMatch(/^require_secure_transport = OFF$/m);
  });
});

describe("tls: off", () => {
  it("makes no certificate, mounts nothing, sets no TLS option, and gives the engine no TLS", async () => {
    const off = await renderStack({ stack: "dev", set: { tls: "off" } });
    expect(off.errors).toEqual([]);
    expect(off.resources.filter((r) => r.type.startsWith("tls:") || r.name === "mysql-tls")).toEqual([]);
    expect(byName(off, "mysql-config").inputs.data["50-mysql-ha.cnf"]).not.toMatch(/ssl|secure_transport/);
    const pod = byName(off, "mysql-statefulset").inputs.spec.template.spec;
    expect(JSON.stringify(pod)).not.toMatch(/tls/i);
    expect(byName(off, "mysql-replication").inputs.tls).toBeUndefined();
    expect(byName(off, "mysql-agent").inputs.spec.template.spec.containers[0].command).not.toContain("--tls-ca");
  });

  it("refuses tlsRequired without TLS, and the modes not built yet, naming the key", async () => {
    const r = await renderStack({ stack: "dev", set: { tls: "off", tlsRequired: "true" } });
    expect(r.errors).toEqual([expect.stringMatching(/^mysql-ha:tlsRequired: .*false when tls is off/)]);
    const byAddress = await renderStack({ stack: "dev", set: { connector: "direct", replicas: "2", directMembers: JSON.stringify(["10.0.0.1:3306", "db-1.example:3306"]) } });
    expect(byAddress.errors).toEqual([expect.stringMatching(/^mysql-ha:directMembers: \["10\.0\.0\.1:3306"\] is not allowed; expected host names in the members' certificates \(TLS verifies members by DNS name\), or tls off$/)]);
    const secret = await renderStack({ stack: "dev", set: { tls: "secret" } });
    expect(secret.errors).toEqual([expect.stringMatching(/^mysql-ha:tls: "secret" is not allowed; expected one of self-signed, off \(user-supplied certificate Secrets are not supported yet/)]);
  });
});
