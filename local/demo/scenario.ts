/**
 * `npm run demo` / `mysql-ha demo`: the main job of mysql-ha, on this machine, in about a minute. The real program
 * and providers run against local mariadbd members (local/demo/stack.ts) while an application writer keeps writing:
 * create 3 members, grow to 4 (clone), switch over, change a server option that needs a restart (rolling upgrade:
 * replicas first, then the primary behind a switchover), kill -9 the primary and fail over, back up under load to a
 * local S3 and restore into a fresh member, then verify that every acknowledged write is on the final primary.
 * Each step prints what the providers planned (preview) and did (up), and ends with a check; the timeline lists them.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ACCOUNTS, REPLICATION_USER, SECRET_KEYS } from "../../components/kubernetes/secret";
import { spawnAgent } from "../agent";
import { runScript } from "../../cli/scripts";
import { DONOR_PORT } from "../../components/kubernetes/names";
import { freePort, LocalServer, REPLICATION_OPTIONS, sleep } from "../mariadbd";
import { LocalS3, startLocalS3 } from "../s3";
import { AckWriter, prepareWriterSchema, writableMember } from "../writer";
import { LocalStack, UpResult } from "./stack";
import { formatDuration, StepRecord } from "./timeline";

export interface DemoOptions {
  /** Leave the members running at the end and say how to reach them. */
  keep?: boolean;
  /** Where progress lines go (default stdout). */
  print?: (line: string) => void;
  /** Also print the providers' own log lines. */
  verbose?: boolean;
}

export interface DemoResult {
  steps: StepRecord[];
  ok: boolean;
  /** With `keep`: how to reach the topology and how to stop it. */
  kept?: KeptTopology;
}

export interface KeptTopology {
  primary: string;
  members: string[];
  user: string;
  database: string;
  /**
   * Client option file (mode 0600: [client] host, port, user, password, database) for `mariadb
   * --defaults-extra-file`: the password never goes on a command line and is never printed.
   */
  clientConfig: string;
  /** Script that stops the members and removes their files. */
  stopScript: string;
}

/** Rows of the static table the backup step compares. */
const ITEMS = 5000;

/** The upgrade step's change: a server option mariadbd reads only at start (not in LIVE_OPTIONS), so a restart. */
const RESTART_OPTION = { name: "table_open_cache_instances", value: 2 };

interface Check {
  ok: boolean;
  detail: string;
}

class Failed extends Error {}

function expect(ok: boolean, detail: string): Check {
  if (!ok) throw new Failed(detail);
  return { ok, detail };
}

interface Row {
  [column: string]: any;
}

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const print = options.print ?? ((line: string) => process.stdout.write(line + "\n"));
  const steps: StepRecord[] = [];
  let stack: LocalStack | undefined;
  let writer: AckWriter | undefined;
  let s3: LocalS3 | undefined;
  const extra: LocalServer[] = [];
  let kept: KeptTopology | undefined;
  let failed = false;

  /** Runs one step: prints its title, times it, records its check; after a failure the rest are skipped. */
  const step = async (title: string, body: () => Promise<Check>): Promise<void> => {
    if (failed) {
      steps.push({ step: title, ms: 0, result: "skipped", detail: "an earlier step failed" });
      return;
    }
    print(`\n== ${title}`);
    const t0 = Date.now();
    try {
      const check = await body();
      steps.push({ step: title, ms: Date.now() - t0, result: "ok", detail: check.detail });
      print(`   check: ok (${check.detail})`);
    } catch (err) {
      failed = true;
      const detail = err instanceof Failed ? err.message : `error: ${(err as Error).message}`;
      steps.push({ step: title, ms: Date.now() - t0, result: "FAIL", detail });
      print(`   check: FAILED (${detail})`);
    }
  };

  /** preview (print the plan), then up (print what was done). */
  const upWith = async (set: Record<string, string>): Promise<UpResult> => {
    const preview = await stack!.preview(set);
    for (const r of preview.resources)
      print(`   preview  ${r.resource}: ${r.op === "same" ? "no change" : r.op} - ${r.plan}`);
    const t0 = Date.now();
    const up = await stack!.up(set);
    for (const r of up.resources)
      print(
        `   up       ${r.resource}: ${r.op === "same" ? "unchanged" : r.op === "create" ? "created" : "updated"} - ${r.plan}`,
      );
    // What a client of the cluster would see: the objects the providers pointed, read back from the API.
    const live = stack!.primaryPointers();
    print(
      `   up took ${formatDuration(Date.now() - t0)}; write Service selects ${live.service ?? "no pod"}, topology ConfigMap names member ${live.configMap ?? "none"}`,
    );
    const primary = up.topology.primaryOrdinal;
    if (live.service !== `mysql-${primary}` || live.configMap !== String(primary)) {
      throw new Error(
        `the write Service (${live.service ?? "no pod"}) and topology ConfigMap (${live.configMap ?? "none"}) do not name the primary, member ${primary}`,
      );
    }
    return up;
  };

  const pod = (ordinal: number): LocalServer => {
    const server = stack!.pods[ordinal];
    if (!server) throw new Error(`member ${ordinal} has no pod`);
    return server;
  };
  const replicating = async (ordinal: number, from: number): Promise<boolean> => {
    const [s] = await pod(ordinal).query<Row>("SHOW SLAVE STATUS");
    return (
      !!s && s.Master_Host === stack!.podHostName(from) && s.Slave_IO_Running === "Yes" && s.Slave_SQL_Running === "Yes"
    );
  };
  const writable = async (ordinal: number): Promise<boolean> =>
    Number((await pod(ordinal).query<Row>("SELECT @@read_only AS ro"))[0].ro) === 0;
  const rolesOk = async (primary: number, members: number[]): Promise<string[]> => {
    const problems: string[] = [];
    if (!(await writable(primary))) problems.push(`member ${primary} is read-only`);
    for (const m of members.filter((m) => m !== primary)) {
      if (await writable(m)) problems.push(`member ${m} is writable`);
      if (!(await replicating(m, primary))) problems.push(`member ${m} does not replicate from member ${primary}`);
    }
    return problems;
  };
  /** Longest stretch without an acknowledged write between two wall-clock times. */
  const gapBetween = (from: number, to: number): number => {
    const report = writer!.report();
    const start = Date.now() - report.durationMs;
    const times = [from, ...report.acked.map((w) => start + w.at).filter((t) => t > from && t < to), to];
    return Math.max(...times.slice(1).map((t, i) => t - times[i]));
  };

  const log = (line: string) => print(`   ${line}`);
  const providerLog = options.verbose ? (line: string) => print(`   | ${line}`) : undefined;
  try {
    await step("create 3 members", async () => {
      stack = await LocalStack.start({ maxMembers: 4, log, providerLog });
      const up = await upWith(stack.config(3));
      const problems = await rolesOk(0, [0, 1, 2]);
      expect(
        problems.length === 0 && up.topology.primaryOrdinal === 0,
        problems.join("; ") || `topology says primary ${up.topology.primaryOrdinal}`,
      );
      // The application: a static table (for the backup comparison) and the writer, as the application user.
      const primary = pod(0);
      await primary.query(`CREATE TABLE IF NOT EXISTS app.items (id INT PRIMARY KEY, label VARCHAR(64) NOT NULL)`);
      await primary.query(`INSERT INTO app.items SELECT seq, MD5(seq) FROM app.seq_1_to_${ITEMS}`);
      const app = { user: stack.appUser, password: stack.secret(SECRET_KEYS.app), database: stack.appDatabase };
      await prepareWriterSchema(primary, app);
      // A client that follows the writable member, like one behind a read_only-aware proxy.
      writer = new AckWriter({
        ...app,
        intervalMs: 2,
        resolvePrimary: () => writableMember(stack!.running().map((p) => p.server))(),
      });
      await writer.start();
      await writer.waitForAcks(50);
      // TLS as in production: the engine reaches members only over TLS verified by their DNS names (it has no
      // plain-text fallback), and the replicas verify their source's certificate.
      const verified = await Promise.all(
        [1, 2].map(async (m) => {
          const [r] = await pod(m).query<Row>("SHOW SLAVE STATUS");
          return r?.Master_SSL_Allowed === "Yes" && r?.Master_SSL_Verify_Server_Cert === "Yes";
        }),
      );
      expect(
        verified.every(Boolean),
        `TLS: replication with a verified source certificate on members 1, 2: ${verified.join(", ")}`,
      );
      return {
        ok: true,
        detail: `primary 0, members 1 and 2 replicate from it (semi-sync, TLS verified by name: the engine's connections and replication); writer acknowledged ${writer.ackedCount} writes as user '${stack.appUser}'`,
      };
    });

    await step("grow to 4", async () => {
      const up = await upWith(stack!.config(4));
      const problems = await rolesOk(0, [0, 1, 2, 3]);
      const clone = stack!.clones.find((c) => c.ordinal === 3);
      const [{ n }] = await pod(3).query<Row>("SELECT COUNT(*) AS n FROM app.items");
      expect(
        problems.length === 0 && Number(n) === ITEMS && up.topology.members.length === 4,
        problems.join("; ") || `member 3 has ${n} of ${ITEMS} rows`,
      );
      // The seed container verified the donor (the stack's CA, its DNS name) before sending the token: it serves TLS only.
      expect(
        !clone || /over TLS with/.test(stack!.donorLog(clone.donor)),
        `the donor of member ${clone?.donor} does not serve over TLS`,
      );
      return {
        ok: true,
        detail: `member 3 ${clone ? `cloned from member ${clone.donor} over TLS in ${formatDuration(clone.ms)}, then ` : ""}attached: replicating from member 0 with all ${ITEMS} rows`,
      };
    });

    await step("switch over to member 2", async () => {
      const t0 = Date.now();
      const up = await upWith(stack!.config(4, { primary: "2" }));
      await writer!.waitForAcks(20);
      const problems = await rolesOk(2, [0, 1, 2, 3]);
      const placement = up.resources.find((r) => r.resource === "PrimaryPlacement");
      const paused = /writes paused (\d+) ms/.exec(placement?.plan ?? "")?.[1];
      const onNew = writer!.firstAckOn(pod(2), t0) !== undefined;
      expect(
        problems.length === 0 && onNew && up.rendered.outputs.primary === 2,
        problems.join("; ") || "no write acknowledged by member 2",
      );
      return {
        ok: true,
        detail: `member 2 is primary, 0, 1, 3 follow it; writes paused ${paused ?? "?"} ms in the engine; longest gap the writer saw ${gapBetween(t0, Date.now())} ms (it re-finds the writable member)`,
      };
    });

    const upgraded = { primary: "2", serverConfig: JSON.stringify({ [RESTART_OPTION.name]: RESTART_OPTION.value }) };
    await step("change a restart-only server option (rolling upgrade)", async () => {
      const t0 = Date.now();
      const before = stack!.restarts.length;
      const up = await upWith(stack!.config(4, upgraded));
      await writer!.waitForAcks(20);
      const rollout = up.resources.find((r) => r.resource === "RollingUpgrade");
      const values = await Promise.all(
        [0, 1, 2, 3].map(async (m) => Number((await pod(m).query<Row>(`SELECT @@${RESTART_OPTION.name} AS v`))[0].v)),
      );
      const restarted = stack!.restarts.slice(before).map((r) => r.ordinal);
      const problems = await rolesOk(2, [0, 1, 2, 3]);
      expect(
        problems.length === 0 &&
          values.every((v) => v === RESTART_OPTION.value) &&
          restarted.length === 4 &&
          restarted[3] === 2 &&
          up.rendered.outputs.primary === 2,
        problems.join("; ") ||
          `${RESTART_OPTION.name} per member: ${values.join(", ")}; restarted in order: ${restarted.join(", ") || "none"}; primary ${up.rendered.outputs.primary}`,
      );
      return {
        ok: true,
        detail: `${rollout?.plan}; every member runs ${RESTART_OPTION.name} = ${RESTART_OPTION.value}, restarted in order ${restarted.join(", ")} (the primary last); longest gap the writer saw ${gapBetween(t0, Date.now())} ms`,
      };
    });

    // Members still running: the failover steps below each kill the primary for good (a lost node).
    let alive = [0, 1, 2, 3];
    let agentPrimary = 2;
    await step("kill -9 the primary while two failover agents run (no up)", async () => {
      // The agents as they run in the cluster: two processes, one Lease on the API stand-in, default timing.
      const api = stack!.kubernetesApi();
      const objects = stack!.primaryObjectNames();
      const args = [
        "--members",
        stack!.addresses.map((_, ordinal) => `${stack!.podHostName(ordinal)}:3306`).join(","),
        "--tls-ca",
        stack!.memberCaFile(),
        "--tls-member-ca",
        stack!.memberCaFile(),
        "--kube-api",
        api.url,
        "--namespace",
        api.options.namespace,
        "--lease",
        `${objects.statefulSet}-agent`,
        "--statefulset",
        objects.statefulSet,
        "--topology-configmap",
        objects.topologyConfigMap,
        "--primary-service",
        objects.primaryService,
      ];
      // Their own least-privilege account, as the agent Deployment's env gives it.
      const env = {
        MYSQL_HA_USER: ACCOUNTS.operator.user,
        MYSQL_HA_PASSWORD: stack!.secret(ACCOUNTS.operator.secretKey),
        MYSQL_HA_REPLICATION_USER: REPLICATION_USER,
        MYSQL_HA_REPLICATION_PASSWORD: stack!.secret(SECRET_KEYS.replication),
      };
      // In the pod network: they reach the members by the names in their certificates, as in the cluster.
      const wrap = stack!.network.wrap.bind(stack!.network);
      const agents = [spawnAgent(args, { env, wrap }), spawnAgent(args, { env, wrap })];
      try {
        await Promise.all(agents.map((a) => a.events.wait("healthy", (e) => e.event === "healthy", 20000)));
        const leader = await Promise.any(
          agents.map((a) => a.events.wait("leader", (e) => e.event === "leader" && e.leading === true, 20000)),
        );
        print(`   two agents running; ${leader.identity} holds the Lease`);
        const killedAt = Date.now();
        await pod(2).signal("SIGKILL");
        alive = alive.filter((m) => m !== 2);
        print(`   member 2 (the primary) killed with SIGKILL; no up runs`);
        const failover = await Promise.any(
          agents.map((a) => a.events.wait("failover", (e) => e.event === "failover", 30000)),
        );
        agentPrimary = Number(failover.to);
        await writer!.waitForAcks(20);
        const firstAck = writer!.firstAckOn(pod(agentPrimary), killedAt);
        await Promise.any(agents.map((a) => a.events.wait("pointed", (e) => e.event === "pointed", 10000)));
        const failovers = agents.flatMap((a) => a.events.of("failover"));
        const problems = await rolesOk(agentPrimary, alive);
        expect(
          problems.length === 0 && firstAck !== undefined && failovers.length === 1,
          problems.join("; ") ||
            (failovers.length !== 1
              ? `${failovers.length} failovers`
              : `no write acknowledged by member ${agentPrimary}`),
        );
        const live = stack!.primaryPointers();
        expect(
          live.service === `${objects.statefulSet}-${agentPrimary}` && live.configMap === String(agentPrimary),
          `the write Service selects ${live.service}, the topology ConfigMap names ${live.configMap}`,
        );
        return {
          ok: true,
          detail:
            `the Lease holder promoted member ${agentPrimary} (failover ${failover.ms} ms; lost: ${String(failover.possiblyLost).split(":")[0]}); kill -9 to first acknowledged ` +
            `write on it: ${formatDuration(firstAck! - killedAt)}; the other agent stood by; write Service and topology ConfigMap moved by the agent`,
        };
      } finally {
        await Promise.all(agents.map((a) => a.stop()));
      }
    });

    await step("run up after the agents' failover", async () => {
      const up = await upWith(stack!.config(4, upgraded));
      const topology = up.resources.find((r) => r.resource === "ReplicationTopology")!;
      const placement = up.resources.find((r) => r.resource === "PrimaryPlacement")!;
      const problems = await rolesOk(agentPrimary, alive);
      expect(
        problems.length === 0 &&
          Number(up.topology.primaryOrdinal) === agentPrimary &&
          placement.op === "same" &&
          new RegExp(`^primary moved 2 -> ${agentPrimary} by the agent at \\S+ \\(failover\\); no change`).test(
            topology.plan,
          ),
        problems.join("; ") ||
          `ReplicationTopology: ${topology.op} - ${topology.plan}; PrimaryPlacement: ${placement.op}`,
      );
      return { ok: true, detail: `${topology.plan}; nothing done to the members` };
    });

    let finalPrimary = agentPrimary;
    await step("kill -9 the primary, run up again (no agent)", async () => {
      const killed = agentPrimary;
      const killedAt = Date.now();
      await pod(killed).signal("SIGKILL");
      alive = alive.filter((m) => m !== killed);
      print(`   member ${killed} (the primary) killed with SIGKILL`);
      const up = await upWith(stack!.config(4, upgraded));
      finalPrimary = Number(up.topology.primaryOrdinal);
      expect(alive.includes(finalPrimary), `topology says primary ${finalPrimary}`);
      await writer!.waitForAcks(20);
      const firstAck = writer!.firstAckOn(pod(finalPrimary), killedAt);
      const problems = await rolesOk(finalPrimary, alive);
      expect(
        problems.length === 0 && firstAck !== undefined,
        problems.join("; ") || `no write acknowledged by member ${finalPrimary}`,
      );
      return {
        ok: true,
        detail: `failover promoted member ${finalPrimary}; kill -9 to first acknowledged write on it: ${formatDuration(firstAck! - killedAt)} (including the preview and up); members 2 and ${killed} stay down`,
      };
    });

    await step("back up under load, restore, compare", async () => {
      s3 = await startLocalS3(["backups"]);
      const donorOrdinal = alive.find((m) => m !== finalPrimary)!;
      const url = "s3://backups/demo";
      const rootPassword = stack!.secret(SECRET_KEYS.root);
      const before = writer!.ackedCount;
      const t0 = Date.now();
      // From the donor sidecar the pod runs, with the rendered token, as the backup Job does: over TLS, verifying
      // the donor's certificate against the stack's CA and its DNS name (reached here at its address).
      await runScript(
        "backup.sh",
        {
          ...s3.env(),
          BACKUP_URL: url,
          DONOR_HOST: stack!.addresses[donorOrdinal],
          DONOR_PORT: String(DONOR_PORT),
          CLONE_TOKEN: stack!.secret(SECRET_KEYS.cloneToken),
          TLS_CA: stack!.memberCaFile(),
          DONOR_TLS_NAME: stack!.podHostName(donorOrdinal),
        },
        { timeoutMs: 120000 },
      );
      const backupMs = Date.now() - t0;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-restored-"));
      const restored = new LocalServer(dir, await freePort(), {
        serverId: 1999,
        options: { ...REPLICATION_OPTIONS, "read-only": 1 },
      });
      restored.adminPassword = rootPassword;
      extra.push(restored);
      await runScript(
        "restore.sh",
        {
          ...s3.env(),
          BACKUP_URL: url,
          DATADIR: restored.datadir,
          MYSQL_USER: "root",
          MYSQL_PASSWORD: rootPassword,
          SERVER_ID: "1999",
        },
        { timeoutMs: 120000 },
      );
      await restored.start();
      // The static table is identical; the writer's table matches the primary up to the backup's last row.
      const sum = async (s: LocalServer, sql: string) => String(Object.values((await s.query<Row>(sql))[0]).pop());
      const items = [
        await sum(restored, "CHECKSUM TABLE app.items"),
        await sum(pod(finalPrimary), "CHECKSUM TABLE app.items"),
      ];
      const [{ maxId }] = await restored.query<Row>("SELECT COALESCE(MAX(id), 0) AS maxId FROM app.acks");
      const prefix = `SELECT CONCAT(COUNT(*), '/', COALESCE(SUM(CRC32(CONCAT_WS(',', id, written_at))), 0)) AS c FROM app.acks WHERE id <= ${Number(maxId)}`;
      const acks = [await sum(restored, prefix), await sum(pod(finalPrimary), prefix)];
      const during = writer!.ackedCount - before;
      expect(
        items[0] === items[1] && acks[0] === acks[1] && during > 0,
        `checksums differ: items ${items.join(" vs ")}, acks ${acks.join(" vs ")} (writes during backup: ${during})`,
      );
      return {
        ok: true,
        detail: `backup of member ${donorOrdinal} to ${url} in ${formatDuration(backupMs)} while ${during} writes were acknowledged; restored member: items checksum ${items[0]} = primary's, acks 1..${maxId} identical`,
      };
    });

    await step("verify every acknowledged write", async () => {
      const report = await writer!.stop();
      const missing = await writer!.verify(pod(finalPrimary));
      // The replicas catch up, and have everything too.
      const replicas = alive.filter((m) => m !== finalPrimary);
      const lagging: string[] = [];
      for (const m of replicas) {
        const deadline = Date.now() + 10000;
        let gone = await writer!.verify(pod(m));
        while (gone.length && Date.now() < deadline) {
          await sleep(100);
          gone = await writer!.verify(pod(m));
        }
        if (gone.length) lagging.push(`member ${m} misses ${gone.length}`);
      }
      expect(
        missing.length === 0 && lagging.length === 0,
        missing.length
          ? `${missing.length} acknowledged writes missing on member ${finalPrimary}, e.g. ${missing.slice(0, 5).join(", ")}`
          : lagging.join("; "),
      );
      return {
        ok: true,
        detail: `${report.acked.length} writes acknowledged (${report.failed} failed, never acknowledged) on primaries ${report.primaries.map((p) => memberOf(stack!, p)).join(" -> ")}; all on member ${finalPrimary} and on members ${replicas.join(", ")}`,
      };
    });

    if (options.keep && stack && !failed) kept = keepTopology(stack, finalPrimary);
  } finally {
    await writer?.stop().catch(() => undefined);
    await stack?.close(!!kept).catch(() => undefined);
    await Promise.all(extra.map((s) => s.destroy().catch(() => undefined)));
    await s3?.stop().catch(() => undefined);
  }
  return { steps, ok: !failed && steps.every((s) => s.result === "ok"), kept };
}

function memberOf(stack: LocalStack, address: string): string {
  const host = address.split(":")[0];
  const ordinal = stack.addresses.findIndex((a, i) => a === host || stack.podHostName(i) === host);
  return ordinal < 0 ? address : String(ordinal);
}

/** Writes a private client option file for the application user and a stop script; returns what to print. */
function keepTopology(stack: LocalStack, primary: number): KeptTopology {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-demo-kept-"));
  const clientConfig = path.join(dir, "client.cnf");
  const server = pod(stack, primary);
  fs.writeFileSync(
    clientConfig,
    [
      "[client]",
      `host=${server.host}`,
      `port=${server.port}`,
      `user=${stack.appUser}`,
      `password=${stack.secret(SECRET_KEYS.app)}`,
      `database=${stack.appDatabase}`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const pods = stack.pods.filter((p): p is LocalServer => !!p);
  const stopScript = path.join(dir, "stop.sh");
  fs.writeFileSync(
    stopScript,
    [
      "#!/bin/sh",
      "# Stops the members `mysql-ha demo --keep` left running and removes their files.",
      ...pods.filter((p) => p.running).map((p) => `kill ${p.process?.pid} 2>/dev/null`),
      "sleep 2",
      ...pods.map((p) => `rm -rf '${p.dir}'`),
      `rm -rf '${dir}'`,
      "",
    ].join("\n"),
    { mode: 0o700 },
  );
  return {
    primary: pod(stack, primary).address,
    members: stack.pods.map((p, i) => `member ${i}: ${p?.running ? p.address : "down"}`),
    user: stack.appUser,
    database: stack.appDatabase,
    clientConfig,
    stopScript,
  };
}

/** How to reach a kept topology, in words: no password, and none on a command line either. */
export function keptHint(k: KeptTopology): string[] {
  return [
    "The topology is still running (--keep):",
    ...k.members.map((m) => `  ${m}`),
    `  write endpoint (primary): ${k.primary}   user: ${k.user}   database: ${k.database}`,
    `  connect with the private client option file (password inside, readable only by you):`,
    `    mariadb --defaults-extra-file=${k.clientConfig}`,
    `  stop it and remove its files: sh ${k.stopScript}`,
  ];
}

function pod(stack: LocalStack, ordinal: number): LocalServer {
  return stack.pods[ordinal]!;
}
