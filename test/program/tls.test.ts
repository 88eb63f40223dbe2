/**
 * The program's TLS (config tls, tlsRequired and each mode's keys): the stack's CA and member certificates, the
 * user's or cert-manager's Secrets, where the pods mount them, the server options, and what the engine's resources
 * and the agent get.
 */
import * as fs from "node:fs";
import { Certificate } from "@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { renderStack, RenderedStack, RenderedResource, REDACTED } from "../../offline/render";
import { makeCa, TestCa } from "../replication/certificates";

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

  it("makes a CA and one certificate per member naming the member, every Service and the pod's loopback, keys secret", () => {
    expect(prod.errors).toEqual([]);
    const ca = byName(prod, "mysql-tls-ca");
    expect(ca.type).toBe("tls:index/selfSignedCert:SelfSignedCert");
    expect(ca.inputs).toMatchObject({
      isCaCertificate: true,
      privateKeyPem: REDACTED,
      allowedUses: ["cert_signing", "crl_signing"],
    });
    const requests = prod.resources.filter((r) => r.type === "tls:index/certRequest:CertRequest");
    expect(requests.map((r) => r.name)).toEqual([
      "mysql-tls-member-0-request",
      "mysql-tls-member-1-request",
      "mysql-tls-member-2-request",
    ]);
    for (const i of [0, 1, 2]) {
      const names: string[] = requests[i].inputs.dnsNames;
      expect(requests[i].inputs).toMatchObject({ privateKeyPem: REDACTED, subject: { commonName: `mysql-${i}` } });
      // Its own names (the engine and the replicas check the member's headless-Service name), no other member's.
      expect(names.filter((n) => /^mysql-\d/.test(n))).toEqual([
        `mysql-${i}.mysql-headless`,
        `mysql-${i}.mysql-headless.mysql-ha`,
        `mysql-${i}.mysql-headless.mysql-ha.svc`,
        `mysql-${i}.mysql-headless.mysql-ha.svc.cluster.local`,
      ]);
      for (const service of ["mysql-primary", "mysql-read", "mysql-headless"]) {
        expect(names).toEqual(
          expect.arrayContaining([
            service,
            `${service}.mysql-ha`,
            `${service}.mysql-ha.svc`,
            `${service}.mysql-ha.svc.cluster.local`,
          ]),
        );
      }
      // The address the pod's own verifying clients (the mysqld_exporter sidecar) connect to.
      expect(requests[i].inputs.ipAddresses).toEqual(["127.0.0.1"]);
    }
    const member = byName(prod, "mysql-tls-member-1");
    expect(member.inputs).toMatchObject({
      caPrivateKeyPem: REDACTED,
      earlyRenewalHours: 720,
      allowedUses: expect.arrayContaining(["server_auth", "client_auth"]),
    });
    // No private key appears anywhere in clear text: not in the certificates' inputs, the Secret, the outputs.
    expect(JSON.stringify(prod)).not.toMatch(/BEGIN PRIVATE KEY/);
  });

  it("keeps private keys secret by Pulumi's secret flag, not only by matching known values", async () => {
    const r = await renderStack({
      stack: "prod",
      onResource: async (args) =>
        args.type === "tls:index/privateKey:PrivateKey"
          ? {
              id: args.name,
              state: {
                ...args.inputs,
                privateKeyPem: `-----BEGIN PRIVATE KEY-----\nvisibleKeyOf-${args.name}\n-----END PRIVATE KEY-----\n`,
              },
            }
          : undefined,
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
      "ca.crt": REDACTED,
      "member-0.crt": REDACTED,
      "member-0.key": REDACTED,
      "member-1.crt": REDACTED,
      "member-1.key": REDACTED,
      "member-2.crt": REDACTED,
      "member-2.key": REDACTED,
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
    // Of the sidecars only the donor (it serves the clone stream with its member's pair) gets the members' keys.
    expect(pod.containers.find((c: any) => c.name === "clone-donor").volumeMounts).toContainEqual(mount);
    for (const c of pod.containers.filter((c: any) => !["mariadb", "clone-donor"].includes(c.name)))
      expect(c.volumeMounts ?? []).not.toContainEqual(mount);
  });

  it("sets ssl_ca and, in production, require_secure_transport; the engine's resources get the CA and its path, the agent only the CA", () => {
    const cnf: string = byName(prod, "mysql-config").inputs.data["50-mysql-ha.cnf"];
    expect(cnf).toMatch(/^ssl_ca = \/etc\/mysql-ha\/tls\/ca\.crt$/m);
    expect(cnf).toMatch(/^require_secure_transport = ON$/m);
    for (const name of ["mysql-placement", "mysql-replication", "mysql-rollout"]) {
      expect(byName(prod, name).inputs.tls).toEqual({
        ca: expect.stringContaining("mock certificate of mysql-tls-ca"),
        caPath: "/etc/mysql-ha/tls/ca.crt",
        // Each member's certificate (public), so that the next up loads a renewed one (FLUSH SSL).
        certificates: [0, 1, 2].map((i) => expect.stringContaining(`mock certificate of mysql-tls-member-${i}\n`)),
      });
    }
    const agent = byName(prod, "mysql-agent").inputs.spec.template.spec;
    const command: string[] = agent.containers[0].command;
    expect(command.slice(command.indexOf("--tls-ca"))).toEqual([
      "--tls-ca",
      "/etc/mysql-ha/tls/ca.crt",
      "--tls-member-ca",
      "/etc/mysql-ha/tls/ca.crt",
    ]);
    expect(agent.volumes).toContainEqual({
      name: "tls-ca",
      secret: { secretName: "mysql-tls", items: [{ key: "ca.crt", path: "ca.crt" }] },
    });
  });

  it("stages a CA change: old and new CA trusted (ca.crt and the engine), then the members signed by the new one, then the new one alone", async () => {
    const stage = async (set: Record<string, string>) => {
      const r = await renderStack({ stack: "prod", set });
      expect(r.errors).toEqual([]);
      const cas = r.resources.filter((x) => x.type === "tls:index/selfSignedCert:SelfSignedCert").map((x) => x.name);
      const signers = [0, 1, 2].map(
        (i) => /mock certificate of (\S+)/.exec(byName(r, `mysql-tls-member-${i}`).inputs.caCertPem)![1],
      );
      const trusted = [
        ...(byName(r, "mysql-replication").inputs.tls.ca as string).matchAll(/mock certificate of (\S+)/g),
      ].map((m) => m[1]);
      expect(byName(r, "mysql-agent").inputs.spec.template.spec.volumes).toContainEqual({
        name: "tls-ca",
        secret: { secretName: "mysql-tls", items: [{ key: "ca.crt", path: "ca.crt" }] },
      });
      return { cas, signers: [...new Set(signers)], trusted };
    };
    // Before: one CA, generation 1, under the names stacks had before generations.
    expect(await stage({})).toEqual({ cas: ["mysql-tls-ca"], signers: ["mysql-tls-ca"], trusted: ["mysql-tls-ca"] });
    // 1. Trust both: the new CA is made and trusted; the members keep their certificates.
    expect(await stage({ tlsTrustedCaGenerations: "[1, 2]" })).toEqual({
      cas: ["mysql-tls-ca", "mysql-tls-ca-2"],
      signers: ["mysql-tls-ca"],
      trusted: ["mysql-tls-ca", "mysql-tls-ca-2"],
    });
    // 2. Sign with the new one (the up re-issues and reloads every member's certificate), both still trusted.
    expect(await stage({ tlsCaGeneration: "2", tlsTrustedCaGenerations: "[1, 2]" })).toEqual({
      cas: ["mysql-tls-ca", "mysql-tls-ca-2"],
      signers: ["mysql-tls-ca-2"],
      trusted: ["mysql-tls-ca", "mysql-tls-ca-2"],
    });
    // 3. The new one alone: the old CA and its key leave the stack.
    expect(await stage({ tlsCaGeneration: "2" })).toEqual({
      cas: ["mysql-tls-ca-2"],
      signers: ["mysql-tls-ca-2"],
      trusted: ["mysql-tls-ca-2"],
    });
    const r = await renderStack({ stack: "prod", set: { tlsCaGeneration: "2", tlsTrustedCaGenerations: "[1]" } });
    expect(r.errors).toEqual([
      expect.stringMatching(
        /^mysql-ha:tlsTrustedCaGenerations: \[1\] is not allowed; expected a list that includes tlsCaGeneration \(2\)/,
      ),
    ]);
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

  it("refuses tlsRequired without TLS, members by address, and an unknown mode, naming the key", async () => {
    const r = await renderStack({ stack: "dev", set: { tls: "off", tlsRequired: "true" } });
    expect(r.errors).toEqual([expect.stringMatching(/^mysql-ha:tlsRequired: .*false when tls is off/)]);
    const byAddress = await renderStack({
      stack: "dev",
      set: {
        connector: "direct",
        replicas: "2",
        directMembers: JSON.stringify(["10.0.0.1:3306", "db-1.example:3306"]),
      },
    });
    expect(byAddress.errors).toEqual([
      expect.stringMatching(
        /^mysql-ha:directMembers: \["10\.0\.0\.1:3306"\] is not allowed; expected host names in the members' certificates \(TLS verifies members by DNS name\), or tls off$/,
      ),
    ]);
    const unknown = await renderStack({ stack: "dev", set: { tls: "vault" } });
    expect(unknown.errors).toEqual([
      expect.stringMatching(
        /^mysql-ha:tls: "vault" is not allowed; expected one of self-signed, secret, cert-manager, off$/,
      ),
    ]);
  });
});

/** The pod's TLS volume with tls secret or cert-manager: the CA from the stack's Secret, each member's own Secret. */
function expectProjectedVolume(pod: any, memberSecret: (i: number) => string): void {
  const volume = pod.volumes.find((v: any) => v.name === "tls");
  expect(volume.secret).toBeUndefined();
  expect(volume.projected.defaultMode).toBe(0o440);
  const [ca, ...members] = volume.projected.sources;
  expect(ca).toEqual({ secret: { name: "mysql-tls", items: [{ key: "ca.crt", path: "ca.crt" }] } });
  // Every ordinal replicas may reach (1..9), optional: growing changes no pod template.
  expect(members).toEqual(
    Array.from({ length: 9 }, (_, i) => ({
      secret: {
        name: memberSecret(i),
        optional: true,
        items: [
          { key: "tls.crt", path: `member-${i}.crt` },
          { key: "tls.key", path: `member-${i}.key` },
        ],
      },
    })),
  );
  const init = pod.initContainers.find((c: any) => c.name === "init-server");
  expect(init.env).toContainEqual({ name: "TLS_MEMBER_SECRET_PREFIX", value: memberSecret(0).replace(/-0$/, "") });
}

describe("tls: secret and cert-manager", () => {
  let ca: TestCa;
  let other: TestCa;
  let pem: string;
  beforeAll(async () => {
    [ca, other] = await Promise.all([makeCa("program"), makeCa("program-other")]);
    pem = ca.ca;
  });
  afterAll(() => {
    ca?.remove();
    other?.remove();
  });

  it("secret: the user's kubernetes.io/tls Secrets <tlsSecretPrefix>-N, the CA from tlsCa; no key, no certificate made or in state", async () => {
    const r = await renderStack({ stack: "prod", set: { tls: "secret", tlsSecretPrefix: "db-certs", tlsCa: pem } });
    expect(r.errors).toEqual([]);
    expect(r.resources.filter((x) => x.type.startsWith("tls:") || x.type.includes("cert-manager"))).toEqual([]);
    const secret = byName(r, "mysql-tls");
    expect(secret.inputs.stringData).toEqual({ "ca.crt": REDACTED });
    const pod = byName(r, "mysql-statefulset").inputs.spec.template.spec;
    expectProjectedVolume(pod, (i) => `db-certs-${i}`);
    expect(() => new StatefulSet(byName(r, "mysql-statefulset").inputs).validate()).not.toThrow();
    expect(byName(r, "mysql-statefulset").dependsOn).toContain(secret.urn);
    // The engine verifies against tlsCa; the members' certificates are not known to the program (no FLUSH SSL by up).
    for (const name of ["mysql-placement", "mysql-replication", "mysql-rollout"]) {
      expect(byName(r, name).inputs.tls).toEqual({ ca: pem, caPath: "/etc/mysql-ha/tls/ca.crt" });
    }
  });

  it("cert-manager: one Certificate per member from tlsIssuer into its Secret, with the member's names and uses; valid by the CRD schema", async () => {
    const r = await renderStack({
      stack: "prod",
      set: { tls: "cert-manager", tlsIssuer: "ClusterIssuer/internal-ca", tlsCa: pem },
    });
    expect(r.errors).toEqual([]);
    const certificates = r.resources.filter((x) => x.type === "kubernetes:cert-manager.io/v1:Certificate");
    expect(certificates.map((c) => c.name)).toEqual(["mysql-tls-0", "mysql-tls-1", "mysql-tls-2"]);
    const selfSigned = await renderStack({ stack: "prod" });
    for (const [i, c] of certificates.entries()) {
      expect(c.inputs.metadata).toMatchObject({ name: `mysql-tls-${i}`, namespace: "mysql-ha" });
      expect(c.inputs.spec).toMatchObject({
        secretName: `mysql-tls-${i}`,
        issuerRef: { group: "cert-manager.io", kind: "ClusterIssuer", name: "internal-ca" },
        commonName: `mysql-${i}`,
        duration: "8760h",
        renewBefore: "720h",
        usages: ["digital signature", "key encipherment", "server auth", "client auth"],
        privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
      });
      // The same names as the self-signed member certificate, 127.0.0.1 included.
      expect(c.inputs.spec.dnsNames).toEqual(byName(selfSigned, `mysql-tls-member-${i}-request`).inputs.dnsNames);
      expect(c.inputs.spec.ipAddresses).toEqual(["127.0.0.1"]);
      expect(() => new Certificate(c.inputs as any).validate()).not.toThrow();
      expect(byName(r, "mysql-statefulset").dependsOn).toContain(c.urn);
    }
    expect(() =>
      new Certificate({
        ...certificates[0].inputs,
        spec: { ...certificates[0].inputs.spec, secretName: undefined },
      }).validate(),
    ).toThrow(/secretName/);
    expectProjectedVolume(byName(r, "mysql-statefulset").inputs.spec.template.spec, (i) => `mysql-tls-${i}`);
    expect(byName(r, "mysql-tls").inputs.stringData).toEqual({ "ca.crt": REDACTED });
    expect(byName(r, "mysql-replication").inputs.tls).toEqual({ ca: pem, caPath: "/etc/mysql-ha/tls/ca.crt" });
    const issuer = await renderStack({
      stack: "prod",
      set: { tls: "cert-manager", tlsIssuer: "Issuer/ca", tlsCa: pem },
    });
    expect(byName(issuer, "mysql-tls-0").inputs.spec.issuerRef).toEqual({
      group: "cert-manager.io",
      kind: "Issuer",
      name: "ca",
    });
  });

  it("each mode's keys are required by it and refused by the others; tlsCa must be CA certificates; a bundle of two CAs is taken", async () => {
    const errors = async (set: Record<string, string>) => (await renderStack({ stack: "dev", set })).errors;
    expect(await errors({ tls: "secret" })).toEqual([
      expect.stringMatching(
        /^mysql-ha:tlsSecretPrefix: "" is not allowed; expected the prefix of the members' Secrets \(tls is secret\)$/,
      ),
      expect.stringMatching(
        /^mysql-ha:tlsCa: "" is not allowed; expected the PEM of the CA that signs the members' certificates \(tls is secret\)$/,
      ),
    ]);
    expect(await errors({ tls: "cert-manager", tlsCa: pem })).toEqual([
      expect.stringMatching(
        /^mysql-ha:tlsIssuer: "" is not allowed; expected Issuer\/<name> or ClusterIssuer\/<name> \(tls is cert-manager\)$/,
      ),
    ]);
    expect(await errors({ tlsSecretPrefix: "db-certs", tlsCa: pem })).toEqual([
      expect.stringMatching(
        /^mysql-ha:tlsSecretPrefix: "db-certs" is not allowed; expected empty when tls is self-signed \(it is used only with tls secret\)$/,
      ),
      expect.stringMatching(
        /^mysql-ha:tlsCa: "\(a PEM\)" is not allowed; expected empty when tls is self-signed \(it is used only with tls secret or cert-manager\)$/,
      ),
    ]);
    expect(await errors({ tls: "cert-manager", tlsIssuer: "Vault/x", tlsCa: pem })).toEqual([
      expect.stringMatching(
        /^mysql-ha:tlsIssuer: "Vault\/x" is not allowed; expected Issuer\/<name> or ClusterIssuer\/<name>/,
      ),
    ]);
    expect(await errors({ tls: "secret", tlsSecretPrefix: "Db_Certs", tlsCa: pem })).toEqual([
      expect.stringMatching(/^mysql-ha:tlsSecretPrefix: "Db_Certs" is not allowed; expected a Secret name prefix/),
    ]);
    expect(await errors({ tls: "secret", tlsSecretPrefix: "db", tlsCa: "not a certificate" })).toEqual([
      expect.stringMatching(/^mysql-ha:tlsCa: "\(not PEM\)" is not allowed; expected one or more PEM certificates/),
    ]);
    const member = fs.readFileSync((await ca.issue("program-member", "m.db.test")).cert, "utf8");
    expect(await errors({ tls: "secret", tlsSecretPrefix: "db", tlsCa: member })).toEqual([
      expect.stringMatching(
        /^mysql-ha:tlsCa: "\(certificate 1: CN=m\.db\.test\)" is not allowed; expected CA certificates \(basicConstraints CA:TRUE\), not a member's certificate$/,
      ),
    ]);
    // The message never echoes the PEM itself.
    expect((await errors({ tls: "secret", tlsSecretPrefix: "db", tlsCa: member })).join()).not.toContain("BEGIN");
    expect(await errors({ tls: "secret", tlsSecretPrefix: "db", tlsCa: `${pem}${other.ca}` })).toEqual([]);
  });
});
