/**
 * The benchmark sections. Each one builds its own local topology, measures a figure and its reference in the same
 * run, writes them into the results and cleans up. A section whose parts are missing says so in `notMeasured`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { destroyAll, LOCAL_ROOT_PASSWORD, LOCAL_ROOT_USER, LocalServer, REPLICATION_OPTIONS, startServers } from "../local/mariadbd";
import { AckWriter, prepareWriterSchema, writableMember } from "../local/writer";
import { EngineSettings, failover, mariadb, MemberAddress, setup, switchover } from "../components/replication";
import { renderStack } from "../offline/render";
import { Donor, runScript, serverEnv, startDonor, startScript } from "../cli/scripts";
import { seedFromPeer } from "../local/backup";
import { LocalS3, startLocalS3 } from "../local/s3";
import { median } from "../local/writer";
import { AgentChild, membersArg, spawnAgent } from "../local/agent";
import { AGENT_DEFAULTS } from "../components/agent/loop";
import { BenchResults } from "./report";
import { directoryBytes, fillDatabase, timeCopy, timeRawStream } from "./reference";

export interface Section {
  name: string;
  /** Result keys this section fills (marked "not measured" with the error when it fails). */
  figures: string[];
  run(results: BenchResults, log: (line: string) => void): Promise<void>;
}

export function engineSettings(log?: (line: string) => void): EngineSettings {
  return {
    admin: { user: LOCAL_ROOT_USER, password: LOCAL_ROOT_PASSWORD },
    replication: { user: "repl", password: "bench-repl-pw" },
    semiSync: true,
    semiSyncTimeoutMs: 5000,
    flavor: mariadb,
    deadlineMs: 30000,
    log,
  };
}

function addresses(servers: LocalServer[]): MemberAddress[] {
  return servers.map((s) => ({ host: s.host, port: s.port }));
}

/**
 * Switchovers and a failover on 3 semi-sync members under a 1 ms writer loop. The writer finds the primary like a
 * read_only-aware proxy (the one writable member), so the gap is the engine's, not a resolver's delay.
 */
const replication: Section = {
  name: "switchover and failover (3 members, semi-sync, 1 ms writer)",
  figures: ["switchoverGapMs", "medianWriteMs", "lostWrites", "failoverMs"],
  async run(results, log) {
    const servers = await startServers(3, REPLICATION_OPTIONS, 700);
    const writer = new AckWriter({ resolvePrimary: writableMember(servers) });
    try {
      const members = addresses(servers);
      const settings = engineSettings();
      await setup(members, 0, settings);
      await prepareWriterSchema(servers[0]);
      await writer.start();
      await writer.waitForAcks(300);
      // Three switchovers (0 -> 1 -> 2 -> 1): the figure is the worst gap any of them caused.
      const gaps: number[] = [];
      const windows: string[] = [];
      const t0 = Date.now() - writer.report().durationMs;
      const engineGaps: Array<number | string> = [];
      for (const to of [1, 2, 1]) {
        const start = Date.now();
        const sw = await switchover(members, to, settings);
        windows.push(`${start - t0}-${Date.now() - t0} -> ${to}`);
        await writer.waitForAcks(300);
        gaps.push(writer.longestGapDuring(start, Date.now()));
        engineGaps.push(sw.writeGapMs ?? "not reported");
      }
      const beforeFailover = writer.report();
      const missingAfterSwitchover = await writer.verify(servers[1]);
      results.switchoverGapMs = Math.max(...gaps);
      results.medianWriteMs = beforeFailover.medianWriteMs;
      results.switchoverGapOverMedian = results.switchoverGapMs / beforeFailover.medianWriteMs;
      results.details.switchoverGapsMs = gaps.join(", ");
      results.details.switchoverEngineWriteGapsMs = engineGaps.join(", ");
      results.details.switchoverWritesAcked = beforeFailover.acked.length;
      log(`switchovers: write gaps ${gaps.join(", ")} ms, median write ${beforeFailover.medianWriteMs.toFixed(2)} ms`);

      const killedAt = Date.now();
      await servers[1].signal("SIGKILL");
      const fo = await failover(members, undefined, settings);
      results.details.failoverEngineMs = Date.now() - killedAt;
      const promoted = servers[fo.primary];
      for (let i = 0; i < 400 && writer.firstAckOn(promoted, killedAt) === undefined; i++) await new Promise((r) => setTimeout(r, 5));
      const firstWrite = writer.firstAckOn(promoted, killedAt);
      await writer.waitForAcks(100);
      const report = await writer.stop();
      const missing = await writer.verify(promoted);
      results.failoverMs = firstWrite === undefined ? null : firstWrite - killedAt;
      if (firstWrite === undefined) results.notMeasured.failoverMs = "no write accepted on the new primary within 2 s after the failover";
      results.lostWrites = new Set([...missingAfterSwitchover, ...missing]).size;
      const describeLost = (ids: number[]) =>
        report.acked.filter((w) => ids.includes(w.id)).map((w) => `id ${w.id} acked by ${w.on} at ${w.at} ms`).join("; ");
      if (missingAfterSwitchover.length) {
        results.details.lostInSwitchovers = `${describeLost(missingAfterSwitchover)} (members ${servers.map((s) => s.address).join(", ")}; switchovers at ${windows.join(", ")} ms)`;
      }
      if (missing.length) results.details.lostInFailover = `${describeLost(missing)} (killed at ${killedAt - (Date.now() - report.durationMs)} ms)`;
      results.details.failoverPromoted = `member ${fo.primary}`;
      results.details.writesAcked = report.acked.length;
      results.details.writesFailedUnacknowledged = report.failed;
      log(`failover: first write on member ${fo.primary} ${results.failoverMs} ms after kill -9; lost ${results.lostWrites}`);
    } finally {
      await writer.stop();
      await destroyAll(servers);
    }
  },
};

/**
 * kill -9 of the primary with only the failover agent watching (as a separate process, as in the cluster): the time
 * to the first acknowledged write on the member it promotes, at the default check interval and at 250 ms.
 */
const agentFailover: Section = {
  name: "failover by the agent (3 members, semi-sync, 1 ms writer, no up)",
  figures: ["agentFailoverMs", "agentFailoverFastMs"],
  async run(results, log) {
    const runs: Array<["agentFailoverMs" | "agentFailoverFastMs", number, number]> = [["agentFailoverMs", AGENT_DEFAULTS.intervalMs, 720], ["agentFailoverFastMs", 250, 730]];
    for (const [key, intervalMs, serverIdBase] of runs) {
      const servers = await startServers(3, REPLICATION_OPTIONS, serverIdBase);
      const writer = new AckWriter({ resolvePrimary: writableMember(servers) });
      let agent: AgentChild | undefined;
      try {
        const members = addresses(servers);
        const settings = engineSettings();
        await setup(members, 0, settings);
        await prepareWriterSchema(servers[0]);
        agent = spawnAgent(["--members", membersArg(servers), "--interval-ms", String(intervalMs), "--semi-sync-timeout-ms", String(settings.semiSyncTimeoutMs)], {
          env: { MYSQL_HA_USER: settings.admin.user, MYSQL_HA_PASSWORD: settings.admin.password, MYSQL_HA_REPLICATION_USER: settings.replication.user, MYSQL_HA_REPLICATION_PASSWORD: settings.replication.password },
        });
        await agent.events.wait("healthy", (e) => e.event === "healthy", 30000);
        await writer.start();
        await writer.waitForAcks(300);
        const killedAt = Date.now();
        await servers[0].signal("SIGKILL");
        const fo = await agent.events.wait("failover", (e) => e.event === "failover", 60000);
        const promoted = servers[Number(fo.to)];
        for (let i = 0; i < 400 && writer.firstAckOn(promoted, killedAt) === undefined; i++) await new Promise((r) => setTimeout(r, 5));
        const firstWrite = writer.firstAckOn(promoted, killedAt);
        await writer.waitForAcks(100);
        await writer.stop();
        const missing = await writer.verify(promoted);
        results[key] = firstWrite === undefined ? null : firstWrite - killedAt;
        if (firstWrite === undefined) results.notMeasured[key] = "no write accepted on the new primary within 2 s after the agent's failover";
        results.lostWrites = (results.lostWrites ?? 0) + missing.length;
        results.details[`${key}Lost`] = missing.length;
        log(`agent every ${intervalMs} ms: first write on member ${fo.to} ${results[key]} ms after kill -9; lost ${missing.length}`);
      } finally {
        await agent?.stop();
        await writer.stop();
        await destroyAll(servers);
      }
    }
  },
};

/** One filled server shared by the seeding and backup sections (the same data for figure and reference). */
let dataServer: LocalServer | undefined;
async function filledServer(log: (line: string) => void): Promise<LocalServer> {
  if (dataServer) return dataServer;
  const [server] = await startServers(1, REPLICATION_OPTIONS, 800);
  dataServer = server;
  await fillDatabase(server);
  log(`data set: ${(await directoryBytes(server.datadir)) / 1e6} MB datadir`);
  return server;
}

const references: Section = {
  name: "data set and raw references (cp -a, mariadb-backup --stream > /dev/null)",
  figures: [],
  async run(results, log) {
    const server = await filledServer(log);
    results.details.datadirBytes = await directoryBytes(server.datadir);
    // Best of two: the faster reference is the stricter one.
    results.details.cpMs = Math.min(await timeCopy(server.datadir), await timeCopy(server.datadir));
    results.details.rawStreamMs = Math.min(await timeRawStream(server), await timeRawStream(server));
    log(`cp -a ${Math.round(results.details.cpMs)} ms, raw stream ${Math.round(results.details.rawStreamMs)} ms`);
  },
};

const CLONE_TOKEN = "bench-clone-token";

/** Seeding a fresh replica from a peer (clone-serve.sh -> clone.sh, prepare, start) vs `cp -a` of the donor's datadir. */
const seeding: Section = {
  name: "clone a replica from a peer vs cp -a",
  figures: ["cloneVsCp"],
  async run(results, log) {
    const server = await filledServer(log);
    if (typeof results.details.cpMs !== "number") throw new Error("the cp -a reference was not measured (see above)");
    const [joiner] = await startServers(1, REPLICATION_OPTIONS, 850);
    let donor: Donor | undefined;
    try {
      donor = await startDonor(server, CLONE_TOKEN);
      const start = performance.now();
      const gtid = await seedFromPeer(joiner, donor, CLONE_TOKEN);
      const cloneMs = performance.now() - start;
      const rows = await joiner.query<{ n: number }>("SELECT COUNT(*) AS n FROM bench.fill");
      const expected = await server.query<{ n: number }>("SELECT COUNT(*) AS n FROM bench.fill");
      if (Number(rows[0].n) !== Number(expected[0].n)) throw new Error(`clone has ${rows[0].n} rows, donor ${expected[0].n}`);
      results.details.cloneMs = cloneMs;
      results.cloneVsCp = Number(results.details.cpMs) / cloneMs;
      log(`clone ${Math.round(cloneMs)} ms (copy at ${gtid}) vs cp -a ${Math.round(Number(results.details.cpMs))} ms`);
    } finally {
      await donor?.stop();
      await destroyAll([joiner]);
    }
  },
};

const BUCKET = "bench";

/**
 * Backup to the local S3 (backup.sh: donor stream, zstd, multipart upload, manifest) and restore from it
 * (restore.sh: download, verify, prepare) vs the raw `mariadb-backup --stream > /dev/null` of the same data.
 */
const backup: Section = {
  name: "backup to / restore from the local S3 vs raw stream",
  figures: ["backupVsRawStream", "restoreVsRawStream"],
  async run(results, log) {
    const server = await filledServer(log);
    if (typeof results.details.rawStreamMs !== "number") throw new Error("the raw stream reference was not measured (see above)");
    let s3: LocalS3 | undefined;
    let donor: Donor | undefined;
    const restoreDir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-bench-restore-"));
    try {
      s3 = await startLocalS3([BUCKET]);
      donor = await startDonor(server, CLONE_TOKEN);
      const env = { ...s3.env(), BACKUP_URL: `s3://${BUCKET}/bench` };
      let start = performance.now();
      await runScript("backup.sh", { ...env, DONOR_HOST: donor.host, DONOR_PORT: String(donor.port), CLONE_TOKEN });
      const backupMs = performance.now() - start;
      results.details.backupMs = backupMs;
      results.backupVsRawStream = Number(results.details.rawStreamMs) / backupMs;
      log(`backup ${Math.round(backupMs)} ms`);

      start = performance.now();
      await runScript("restore.sh", { ...env, ...serverEnv(server), DATADIR: path.join(restoreDir, "data"), REPLAY_BINLOGS: "0" });
      const restoreMs = performance.now() - start;
      results.details.restoreMs = restoreMs;
      results.restoreVsRawStream = Number(results.details.rawStreamMs) / restoreMs;
      log(`restore ${Math.round(restoreMs)} ms`);
    } finally {
      await donor?.stop();
      await s3?.stop();
      fs.rmSync(restoreDir, { recursive: true, force: true });
    }
  },
};

/** The binlog archiver's recovery point: worst of three commits, each until its binlog bytes are in S3. */
const recovery: Section = {
  name: "recovery point of the binlog archiver",
  figures: ["recoveryPointMs"],
  async run(results, log) {
    const server = await filledServer(log);
    const s3 = await startLocalS3([BUCKET]);
    const spool = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-bench-spool-"));
    try {
      results.recoveryPointMs = await recoveryPoint(server, s3, { ...s3.env(), BACKUP_URL: `s3://${BUCKET}/bench` }, spool);
      log(`recovery point ${Math.round(results.recoveryPointMs)} ms`);
    } finally {
      await s3.stop();
      fs.rmSync(spool, { recursive: true, force: true });
    }
  },
};

/** Commit a row, then poll S3 until the archived copy of the current binlog is at least as long as the commit's end. */
async function recoveryPoint(server: LocalServer, s3: LocalS3, env: Record<string, string>, spool: string): Promise<number> {
  const archiver = startScript("binlog-archive.sh", { ...env, ...serverEnv(server), SPOOL_DIR: spool, ARCHIVE_INTERVAL: "1" });
  const client = s3.client();
  try {
    const [{ id }] = await server.query<{ id: number }>("SELECT @@server_id AS id");
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 300 + 200 * i)); // different phases of the archiver's interval
      await server.query("INSERT INTO bench.fill (pad) VALUES ('recovery point probe')");
      const committed = performance.now();
      const [status] = await server.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
      for (;;) {
        if (archiver.child.exitCode !== null) throw new Error(`binlog-archive.sh exited: ${archiver.log().trim().split("\n").slice(-3).join(" | ")}`);
        // The archive keeps one prefix per binlog history (binlog/<server id>/<history>/<file>): the newest one holds the file.
        const size = await client
          .send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `bench/binlog/${id}/` }))
          .then((out) => (out.Contents ?? []).filter((o) => o.Key!.endsWith(`/${status.File}`)).map((o) => o.Size ?? 0).pop() ?? 0, () => 0);
        if (size >= Number(status.Position)) break;
        if (performance.now() - committed > 30000) throw new Error(`binlog ${status.File} not archived up to ${status.Position} within 30 s`);
        await new Promise((r) => setTimeout(r, 25));
      }
      samples.push(performance.now() - committed);
    }
    return Math.max(...samples);
  } finally {
    client.destroy();
    archiver.kill("SIGTERM");
    await archiver.done.catch(() => undefined);
  }
}

/**
 * Program evaluation under mocks (offline/render.ts). The config caps replicas at 9, so the figure uses
 * bench/eval/program.ts: the same ReplicatedDatabase with a valid config (replicas 9) and n members given to the
 * component. The real index.ts at 3 and 9 is in the details. Median of 3 evaluations after a warm-up; the goal is on
 * the time per registered resource, as members bring resources of their own (certificates).
 */
const evaluation: Section = {
  name: "program evaluation under mocks at 3, 9, 30 replicas",
  figures: ["evalMs"],
  async run(results, log) {
    const timeRender = async (opts: Parameters<typeof renderStack>[0]): Promise<{ ms: number; resources: number }> => {
      const times: number[] = [];
      let resources = 0;
      for (let i = 0; i < 3; i++) {
        const start = performance.now();
        const rendered = await renderStack(opts);
        times.push(performance.now() - start);
        if (rendered.errors.length) throw new Error(`evaluation failed: ${rendered.errors.join("; ")}`);
        resources = rendered.resources.length;
      }
      return { ms: median(times), resources };
    };
    const benchProject = path.join(__dirname, "eval");
    await renderStack({ stack: "bench", projectDir: benchProject, set: { "mysql-ha-bench:members": "3" } }); // warm-up: module loading
    for (const n of [3, 9, 30]) {
      const { ms, resources } = await timeRender({ stack: "bench", projectDir: benchProject, set: { "mysql-ha-bench:members": String(n) } });
      results.evalMs[String(n)] = ms;
      results.evalResources[String(n)] = resources;
      log(`evaluation at ${n} replicas: ${ms.toFixed(0)} ms for ${resources} resources (${(ms / resources).toFixed(2)} ms each)`);
    }
    for (const n of [3, 9]) results.details[`evalMsIndexTs${n}`] = (await timeRender({ stack: "prod", set: { replicas: String(n) } })).ms;
  },
};

const cleanup: Section = {
  name: "clean up",
  figures: [],
  async run() {
    if (dataServer) await destroyAll([dataServer]);
    dataServer = undefined;
  },
};

export const sections: Section[] = [replication, agentFailover, references, seeding, backup, recovery, evaluation, cleanup];
