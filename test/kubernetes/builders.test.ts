import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { validateConfig, Settings } from "../../components/config";
import { objectNames, memberHost, ROLE_LABEL, selectorLabels } from "../../components/kubernetes/names";
import { buildTopologyConfigMap } from "../../components/kubernetes/topology";
import { renderServerCnf, buildServerConfigMap, SERVER_CNF } from "../../components/kubernetes/server-config";
import { buildStatefulSet } from "../../components/kubernetes/statefulset";
import {
  buildPrimaryService,
  buildHeadlessService,
  buildReadService,
  INTERNAL_LOAD_BALANCER_ANNOTATIONS,
} from "../../components/kubernetes/services";
import { buildScriptsConfigMap, INIT_ACCOUNTS_SCRIPT, MEMBER_SCRIPTS } from "../../components/kubernetes/scripts";
import { mariadbd } from "../../local/mariadbd";

const settings = (raw: Record<string, unknown> = {}): Settings => {
  const { settings: s, errors } = validateConfig(raw);
  if (!s) throw new Error(errors.map((e) => e.message).join("\n"));
  return s;
};
const names = objectNames("db");

describe("server config", () => {
  it("sets GTID strict mode, row binlog, replica re-logging, read-only start, lossless semi-sync and a short replica net timeout", () => {
    const cnf = renderServerCnf(settings({ semiSyncTimeoutMs: 2500 }));
    for (const line of [
      "[mariadb]",
      "gtid_strict_mode = ON",
      "binlog_format = ROW",
      "log_slave_updates = ON",
      "log_bin = mysql-bin",
      "read_only = ON",
      "rpl_semi_sync_master_enabled = OFF",
      "rpl_semi_sync_slave_enabled = ON",
      "rpl_semi_sync_master_timeout = 2500",
      "rpl_semi_sync_master_wait_point = AFTER_SYNC",
      "sync_binlog = 1",
      // Replicas notice a silent primary in seconds, so the failover agent can tell a dead primary from its own trouble.
      "slave_net_timeout = 10",
    ]) {
      expect(cnf.split("\n")).toContain(line);
    }
  });

  it("turns semi-sync off when the stack does and appends serverConfig options", () => {
    const cnf = renderServerCnf(
      settings({ semiSync: false, serverConfig: { max_connections: 77, performance_schema: true } }),
    );
    expect(cnf).toContain("rpl_semi_sync_slave_enabled = OFF");
    expect(cnf).toMatch(/# serverConfig \(stack config\)\nmax_connections = 77\nperformance_schema = ON\n$/);
  });

  it("is accepted by the real mariadbd, which reads every option (an unknown one is refused)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-cnf-"));
    try {
      const check = (cnf: string) => {
        const file = path.join(dir, SERVER_CNF);
        fs.writeFileSync(file, cnf);
        return spawnSync(mariadbd(), [`--defaults-file=${file}`, "--verbose", "--help"], { encoding: "utf8" });
      };
      const ok = check(
        renderServerCnf(settings({ serverConfig: { max_connections: 77, "innodb-buffer-pool-size": "64M" } })),
      );
      expect(ok.stderr).not.toMatch(/unknown (variable|option)/);
      expect(ok.stdout).toMatch(/^gtid-strict-mode\s+TRUE$/m);
      expect(ok.stdout).toMatch(/^max-connections\s+77$/m);
      expect(ok.stdout).toMatch(/^rpl-semi-sync-master-wait-point\s+AFTER_SYNC$/m);
      const bad = check(renderServerCnf(settings({ serverConfig: { no_such_option: 1 } })));
      expect(bad.stderr).toMatch(/unknown variable 'no_such_option=1'/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("ships the shared options in the ConfigMap under the file name the StatefulSet mounts", () => {
    const cm = buildServerConfigMap({ name: "db", names, settings: settings() }) as any;
    expect(Object.keys(cm.data)).toEqual([SERVER_CNF]);
    const sts = buildStatefulSet({ name: "db", names, settings: settings() }) as any;
    const volume = sts.spec.template.spec.volumes.find((v: any) => v.configMap?.name === names.serverConfig);
    expect(volume.configMap.items).toEqual([{ key: SERVER_CNF, path: SERVER_CNF }]);
  });
});

describe("StatefulSet builder", () => {
  const pod = (s: Settings, extras?: any) =>
    (buildStatefulSet({ name: "db", names, settings: s, extras }) as any).spec.template.spec;

  it("adds other sections' init containers, sidecars, volumes and env after its own", () => {
    const spec = pod(settings(), [
      {
        initContainers: [{ name: "clone" }],
        containers: [{ name: "binlog-archiver" }],
        volumes: [{ name: "backup", emptyDir: {} }],
      },
      { env: [{ name: "EXTRA", value: "1" }], containers: [{ name: "second" }] },
    ]);
    expect(spec.initContainers.map((c: any) => c.name)).toEqual(["init-server", "clone"]);
    expect(spec.containers.map((c: any) => c.name)).toEqual(["mariadb", "binlog-archiver", "second"]);
    expect(spec.volumes.map((v: any) => v.name)).toContain("backup");
    expect(spec.containers[0].env.at(-1)).toEqual({ name: "EXTRA", value: "1" });
  });

  it("maps antiAffinity none, preferred and required", () => {
    expect(pod(settings({ antiAffinity: "none" })).affinity).toBeUndefined();
    expect(
      pod(settings({ antiAffinity: "preferred" })).affinity.podAntiAffinity
        .preferredDuringSchedulingIgnoredDuringExecution[0].weight,
    ).toBe(100);
    expect(
      pod(settings({ antiAffinity: "required" })).affinity.podAntiAffinity
        .requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchLabels,
    ).toEqual({
      "app.kubernetes.io/name": "mysql-ha",
      "app.kubernetes.io/instance": "db",
      "app.kubernetes.io/component": "database",
    });
  });

  it("runs every container as the image's non-root mysql user without privilege escalation", () => {
    const spec = pod(settings());
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, fsGroup: 999 });
    for (const c of [...spec.initContainers, ...spec.containers]) {
      expect(c.securityContext).toMatchObject({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
      });
    }
  });

  it("wires the probes to the shipped scripts and the lag limit to readiness", () => {
    const spec = pod(settings({ readMaxLagSeconds: 7 }));
    const db = spec.containers[0];
    expect(db.readinessProbe.exec.command).toEqual(["/etc/mysql-ha/scripts/probe-readiness.sh"]);
    expect(db.livenessProbe.exec.command).toEqual(["/etc/mysql-ha/scripts/probe-liveness.sh"]);
    expect(db.env).toContainEqual({ name: "READ_MAX_LAG_SECONDS", value: "7" });
    const shipped = Object.keys((buildScriptsConfigMap({ name: "db", names, settings: settings() }) as any).data);
    expect(shipped).toEqual([...MEMBER_SCRIPTS, INIT_ACCOUNTS_SCRIPT]);
  });
});

describe("Services", () => {
  it("selects the member labelled primary with a static selector; the topology ConfigMap's data is left to the providers", () => {
    const svc = buildPrimaryService({ name: "db", names, settings: settings() }) as any;
    expect(svc.spec.selector).toEqual({ ...selectorLabels("db"), [ROLE_LABEL]: "primary" });
    // No endpoint before replication is set up (Pulumi would wait forever), and the selector taken from earlier versions' providers.
    expect(svc.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true", "pulumi.com/patchForce": "true" });
    expect(buildReadService({ name: "db", names, settings: settings() }).spec).toMatchObject({
      selector: selectorLabels("db"),
    });
    expect((buildTopologyConfigMap({ name: "db", names, settings: settings() }) as any).data).toBeUndefined();
  });

  it("keeps the internal load balancer annotations beside the primary Service's own", () => {
    const lb = settings({ serviceType: "LoadBalancer" });
    expect((buildPrimaryService({ name: "db", names, settings: lb }) as any).metadata.annotations).toEqual({
      ...INTERNAL_LOAD_BALANCER_ANNOTATIONS,
      "pulumi.com/skipAwait": "true",
      "pulumi.com/patchForce": "true",
    });
    expect((buildReadService({ name: "db", names, settings: lb }) as any).metadata.annotations).toEqual(
      INTERNAL_LOAD_BALANCER_ANNOTATIONS,
    );
    expect((buildReadService({ name: "db", names, settings: settings() }) as any).metadata.annotations).toBeUndefined();
  });

  it("gives LoadBalancer Services the configured source ranges, and other types none", () => {
    const lb = settings({ serviceType: "LoadBalancer", loadBalancerSourceRanges: ["10.0.0.0/8"] });
    for (const build of [buildPrimaryService, buildReadService]) {
      expect((build({ name: "db", names, settings: lb }) as any).spec.loadBalancerSourceRanges).toEqual(["10.0.0.0/8"]);
      expect(
        (build({ name: "db", names, settings: settings({ loadBalancerSourceRanges: ["10.0.0.0/8"] }) }) as any).spec
          .loadBalancerSourceRanges,
      ).toBeUndefined();
    }
  });

  it("publishes not-ready members on the headless Service only", () => {
    const headless = buildHeadlessService({ name: "db", names, settings: settings() }) as any;
    const read = buildReadService({ name: "db", names, settings: settings() }) as any;
    expect(headless.spec).toMatchObject({ clusterIP: "None", publishNotReadyAddresses: true });
    expect(read.spec.publishNotReadyAddresses).toBeUndefined();
    expect(memberHost(names, "ns", 2)).toBe("db-2.db-headless.ns.svc");
  });
});
