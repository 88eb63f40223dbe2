/**
 * The benchmark sections. Each one builds its own local topology, measures a figure and its reference in the same
 * run, writes them into the results and cleans up. A section whose parts are missing says so in `notMeasured`.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import {
  destroyAll,
  LOCAL_ROOT_PASSWORD,
  LOCAL_ROOT_USER,
  LocalServer,
  readOptionDir,
  REPLICATION_OPTIONS,
  startServers,
} from "../local/mariadbd";
import { AckWriter, prepareWriterSchema, writableMember } from "../local/writer";
import {
  attach,
  EngineSettings,
  failover,
  inspect,
  ReplicationError,
  mariadb,
  MemberAddress,
  setup,
  switchover,
} from "../components/replication";
import { renderStack } from "../offline/render";
import { Donor, freePort, runScript, serverEnv, startDonor, startScript } from "../cli/scripts";
import { LocalS3, startLocalS3 } from "../local/s3";
import { median } from "../local/writer";
import { AgentChild, membersArg, spawnAgent } from "../local/agent";
import { AGENT_DEFAULTS } from "../components/agent/loop";
import { PACKAGE_ROOT } from "../components/package-root";
import { makeCa } from "../test/replication/certificates";
import { renderSvg, Timeline, TimelineWindow, timelineSpec } from "./plot";
import { BenchResults, CopyScaleRow, MemberScaleRow, speedRatio } from "./report";
import {
  directoryBytes,
  fillDatabase,
  timeCopy,
  timeHandBackup,
  timeHandClone,
  timeHandRestore,
  timeRawStream,
  handSwitchover,
  handInspect,
} from "./reference";

const run = promisify(execFile);

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

interface WriterTopology {
  servers: LocalServer[];
  members: MemberAddress[];
  settings: EngineSettings;
  writer: AckWriter;
}

/**
 * `count` semi-sync members set up with member 0 as primary and the writer's schema, and the 1 ms writer that finds
 * the writable member, started unless told (its first 300 writes acknowledged). Stopped again if any of it fails.
 */
async function startWriterTopology(count: number, serverIdBase: number, startWriter = true): Promise<WriterTopology> {
  const servers = await startServers(count, REPLICATION_OPTIONS, serverIdBase);
  const writer = new AckWriter({ resolvePrimary: writableMember(servers) });
  try {
    const members = addresses(servers);
    const settings = engineSettings();
    await setup(members, 0, settings);
    await prepareWriterSchema(servers[0]);
    if (startWriter) {
      await writer.start();
      await writer.waitForAcks(300);
    }
    return { servers, members, settings, writer };
  } catch (err) {
    await writer.stop();
    await destroyAll(servers);
    throw err;
  }
}

/** Milliseconds from the kill to the first write the promoted member acknowledged, waited for up to 2 s; else null. */
async function firstWriteAfterKill(writer: AckWriter, promoted: LocalServer, killedAt: number): Promise<number | null> {
  for (let i = 0; i < 400 && writer.firstAckOn(promoted, killedAt) === undefined; i++)
    await new Promise((r) => setTimeout(r, 5));
  const firstWrite = writer.firstAckOn(promoted, killedAt);
  return firstWrite === undefined ? null : firstWrite - killedAt;
}

/**
 * Switchovers, a replica's restart and a failover on 3 semi-sync members under a 1 ms writer loop. The writer finds
 * the primary like a read_only-aware proxy (the one writable member), so the gap is the engine's, not a resolver's
 * delay. Its acknowledged writes and the operations' windows are kept for the picture (section "picture").
 */
const replication: Section = {
  name: "switchover and failover (3 members, semi-sync, 1 ms writer)",
  figures: ["switchoverGapMs", "medianWriteMs", "lostWrites", "failoverMs"],
  async run(results, log) {
    const { servers, members, settings, writer } = await startWriterTopology(3, 700);
    try {
      // Three switchovers (0 -> 1 -> 2 -> 1): the figure is the worst gap any of them caused.
      const gaps: number[] = [];
      const windows: string[] = [];
      const t0 = Date.now() - writer.report().durationMs;
      timeline = { writes: [], windows: [] };
      const shade = (kind: TimelineWindow["kind"], label: string, from: number) =>
        timeline!.windows.push({ kind, label, from: from - t0, to: Date.now() - t0 });
      const engineGaps: Array<number | string> = [];
      let from = 0;
      for (const to of [1, 2, 1]) {
        const start = Date.now();
        const sw = await switchover(members, to, settings);
        shade("switchover", `switchover ${from} -> ${to}`, start);
        from = to;
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

      // A replica restarts (as in a rolling upgrade): the primary keeps its other semi-sync replica. It starts
      // read-only, as init-server.sh starts every member but the primary.
      const restartedAt = Date.now();
      servers[0].spec.options = { ...REPLICATION_OPTIONS, "read-only": 1 };
      await servers[0].stop();
      await servers[0].start();
      shade("restart", "restart of replica 0", restartedAt);
      await writer.waitForAcks(300);

      const killedAt = Date.now();
      await servers[1].signal("SIGKILL");
      const fo = await failover(members, undefined, settings);
      results.details.failoverEngineMs = Date.now() - killedAt;
      const promoted = servers[fo.primary];
      results.failoverMs = await firstWriteAfterKill(writer, promoted, killedAt);
      await writer.waitForAcks(100);
      const report = await writer.stop();
      shade("failover", `kill -9 of member 1, failover to member ${fo.primary}`, killedAt);
      timeline.writes = report.acked;
      timelineMembers = servers.map((s) => `${s.host}:${s.port}`);
      const missing = await writer.verify(promoted);
      if (results.failoverMs === null)
        results.notMeasured.failoverMs = "no write accepted on the new primary within 2 s after the failover";
      results.lostWrites = new Set([...missingAfterSwitchover, ...missing]).size;
      const describeLost = (ids: number[]) =>
        report.acked
          .filter((w) => ids.includes(w.id))
          .map((w) => `id ${w.id} acked by ${w.on} at ${w.at} ms`)
          .join("; ");
      if (missingAfterSwitchover.length) {
        results.details.lostInSwitchovers = `${describeLost(missingAfterSwitchover)} (members ${servers.map((s) => s.address).join(", ")}; switchovers at ${windows.join(", ")} ms)`;
      }
      if (missing.length)
        results.details.lostInFailover = `${describeLost(missing)} (killed at ${killedAt - (Date.now() - report.durationMs)} ms)`;
      results.details.failoverPromoted = `member ${fo.primary}`;
      results.details.writesAcked = report.acked.length;
      results.details.writesFailedUnacknowledged = report.failed;
      log(
        `failover: first write on member ${fo.primary} ${results.failoverMs} ms after kill -9; lost ${results.lostWrites}`,
      );
    } finally {
      await writer.stop();
      await destroyAll(servers);
    }
  },
};

/** The replication section's writes and windows, for the picture. */
let timeline: Timeline | undefined;
let timelineMembers: string[] = [];
/** Where `npm run bench` writes the picture (committed from the run the README quotes). */
export const WRITES_SVG = path.join(PACKAGE_ROOT, "bench", "results", "writes.svg");

/** The writer's acknowledged writes over time with the operations shaded, as an SVG (bench/plot.ts). */
const picture: Section = {
  name: "picture of the writes (bench/results/writes.svg)",
  figures: [],
  async run(results, log) {
    if (!timeline) throw new Error("no writes recorded: the switchover and failover section did not finish");
    const title = `Acknowledged writes of a 1 ms writer, 3 semi-sync members (mysql-ha bench ${results.date})`;
    fs.writeFileSync(WRITES_SVG, await renderSvg(timelineSpec(timeline, title, timelineMembers)));
    results.details.writesSvg = path.relative(PACKAGE_ROOT, WRITES_SVG);
    log(`wrote ${results.details.writesSvg}: ${timeline.writes.length} writes, ${timeline.windows.length} operations`);
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
    const runs: Array<["agentFailoverMs" | "agentFailoverFastMs", number, number]> = [
      ["agentFailoverMs", AGENT_DEFAULTS.intervalMs, 720],
      ["agentFailoverFastMs", 250, 730],
    ];
    for (const [key, intervalMs, serverIdBase] of runs) {
      // The writer starts once the agent watches.
      const { servers, settings, writer } = await startWriterTopology(3, serverIdBase, false);
      let agent: AgentChild | undefined;
      try {
        agent = spawnAgent(
          [
            "--members",
            membersArg(servers),
            "--interval-ms",
            String(intervalMs),
            "--semi-sync-timeout-ms",
            String(settings.semiSyncTimeoutMs),
          ],
          {
            env: {
              MYSQL_HA_USER: settings.admin.user,
              MYSQL_HA_PASSWORD: settings.admin.password,
              MYSQL_HA_REPLICATION_USER: settings.replication.user,
              MYSQL_HA_REPLICATION_PASSWORD: settings.replication.password,
            },
          },
        );
        await agent.events.wait("healthy", (e) => e.event === "healthy", 30000);
        await writer.start();
        await writer.waitForAcks(300);
        const killedAt = Date.now();
        await servers[0].signal("SIGKILL");
        const fo = await agent.events.wait("failover", (e) => e.event === "failover", 60000);
        const promoted = servers[Number(fo.to)];
        results[key] = await firstWriteAfterKill(writer, promoted, killedAt);
        await writer.waitForAcks(100);
        await writer.stop();
        const missing = await writer.verify(promoted);
        if (results[key] === null)
          results.notMeasured[key] = "no write accepted on the new primary within 2 s after the agent's failover";
        results.lostWrites = (results.lostWrites ?? 0) + missing.length;
        results.details[`${key}Lost`] = missing.length;
        log(
          `agent every ${intervalMs} ms: first write on member ${fo.to} ${results[key]} ms after kill -9; lost ${missing.length}`,
        );
      } finally {
        await agent?.stop();
        await writer.stop();
        await destroyAll(servers);
      }
    }
  },
};

/**
 * At 3, 5 and 9 members under the 1 ms writer: inspect time (median of eleven), the write gap of our switchover and
 * of a minimal switchover by hand (bench/reference.ts) on the same topology (median of three each), and the failover
 * time (kill -9 of the primary to the first write on the new one). switchoverVsHand is the 3-member ratio.
 */
const memberScale: Section = {
  name: "switchover, failover and inspect at 3, 5, 9 members (semi-sync, 1 ms writer)",
  figures: ["switchoverVsHand", "memberScale"],
  async run(results, log) {
    for (const n of MEMBER_COUNTS) {
      const { servers, members, settings, writer } = await startWriterTopology(n, 900 + 10 * n);
      try {
        const row: MemberScaleRow = {
          switchoverGapMs: null,
          handSwitchoverGapMs: null,
          failoverMs: null,
          inspectMs: null,
          handInspectMs: null,
        };
        results.memberScale[String(n)] = row;
        // An inspect takes a few ms: the median of eleven, so that one scheduling hiccup on this shared machine (tens
        // of ms) does not decide it; in turn with the same reads by hand, which show what the machine's two cores,
        // shared by every member, add at this count.
        const times: number[] = [];
        const handTimes: number[] = [];
        for (let i = 0; i < 11; i++) {
          let start = performance.now();
          await inspect(members, settings);
          times.push(performance.now() - start);
          start = performance.now();
          await handInspect(servers);
          handTimes.push(performance.now() - start);
        }
        row.inspectMs = median(times);
        row.handInspectMs = median(handTimes);

        // Three switchovers of ours and three by hand, alternating (the machine's noise hits both alike); after each
        // by hand, outside the measured gap, the new primary stops replicating and the others are attached to it.
        const ours: number[] = [];
        const byHand: number[] = [];
        let primary = 0;
        for (let k = 0; k < 6; k++) {
          const target = (primary + 1) % n;
          const start = Date.now();
          if (k % 2 === 0) await whenUnlocked(() => switchover(members, target, settings));
          else await handSwitchover(servers[primary], servers[target]);
          await writer.waitForAcks(300);
          (k % 2 === 0 ? ours : byHand).push(writer.longestGapDuring(start, Date.now()));
          if (k % 2 === 1) {
            await servers[target].query("STOP SLAVE");
            await servers[target].query("RESET SLAVE ALL");
            // The old primary's own history is where it replicates from (as our switchover does).
            await servers[primary].query("SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos");
            for (let i = 0; i < n; i++) if (i !== target) await whenUnlocked(() => attach(members, i, settings));
          }
          primary = target;
        }
        row.switchoverGapMs = median(ours);
        row.handSwitchoverGapMs = median(byHand);

        const killedAt = Date.now();
        await servers[primary].signal("SIGKILL");
        const fo = await failover(members, undefined, settings);
        row.failoverMs = await firstWriteAfterKill(writer, servers[fo.primary], killedAt);
        log(
          `${n} members: inspect ${row.inspectMs.toFixed(1)} ms (by hand ${row.handInspectMs.toFixed(1)} ms), switchover gaps ${ours.join(", ")} ms (by hand ${byHand.join(", ")} ms), failover ${row.failoverMs} ms`,
        );
      } finally {
        await writer.stop();
        await destroyAll(servers);
      }
    }
    const three = results.memberScale["3"];
    results.switchoverVsHand =
      three?.switchoverGapMs == null || !three.handSwitchoverGapMs
        ? null
        : three.switchoverGapMs / three.handSwitchoverGapMs;
  },
};

const MEMBER_COUNTS = [3, 5, 9];

/**
 * An operation, retried while the previous one's topology lock is still being let go (its session closing; on this
 * shared machine a member under load can take a second or more to see the disconnect); for up to 3 s.
 */
async function whenUnlocked<T>(operation: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await operation();
    } catch (err) {
      if (!(err instanceof ReplicationError && err.refusal === "locked") || i >= 150) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** One filled server shared by the copy and recovery point sections (the same data for figure and reference). */
let dataServer: LocalServer | undefined;
async function filledServer(log: (line: string) => void, doublings = COPY_SIZES[0]): Promise<LocalServer> {
  if (!dataServer) [dataServer] = await startServers(1, REPLICATION_OPTIONS, 800);
  await fillDatabase(dataServer, doublings);
  return dataServer;
}

/**
 * Data sizes of the copy paths, as doublings of bench.fill (fillDatabase): 2^17 rows are a ~0.34 GB datadir, 2^18
 * ~0.7 GB. `--large` (MYSQL_HA_BENCH_LARGE=1) adds 2^21 (~4.7 GB, half of it binlog), about seven minutes more.
 */
const COPY_SIZES = [17, 18];
const LARGE_SIZE = 21;

const CLONE_TOKEN = "bench-clone-token";
/** The donor's name in its certificate, which the receiving side checks (as a pod's DNS name). */
const DONOR_TLS_NAME = "donor-0.bench.test";
const BUCKET = "bench";

/**
 * Each copy path at each data size, ours and by hand (bench/reference.ts), with `cp -a` and the raw stream beside
 * them, with TLS on as in production (the donor serves with a member certificate; clone, backup and the hand clone
 * verify it): clone (clone-serve.sh -> clone.sh: stream, prepare, the position for the first start), backup to the
 * local S3 (backup.sh: the donor's compressed stream, multipart upload, checks, manifest) and restore from it
 * (restore.sh as the seed container runs it: manifest, download, size and sha256 check, extract, prepare, the
 * position for the first start). Ours and by hand run in turn, three times each, and each figure is the median
 * (`cp -a` and the raw stream: the best of two runs in a row). The ratios are those of the smallest
 * size.
 */
const copyPaths: Section = {
  name: "copy paths (clone, backup, restore) vs the same tools by hand, by data size",
  figures: ["cloneVsHand", "backupVsHand", "restoreVsHand", "copyScale"],
  async run(results, log) {
    const sizes = process.env.MYSQL_HA_BENCH_LARGE === "1" ? [...COPY_SIZES, LARGE_SIZE] : COPY_SIZES;
    const s3 = await startLocalS3([BUCKET]);
    const [joiner] = await startServers(1, REPLICATION_OPTIONS, 850);
    await joiner.stop();
    let donor: Donor | undefined;
    const restoreDir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-bench-restore-"));
    // TLS on, as in production: the donor serves with a member certificate, clone and backup verify it by its name.
    const ca = await makeCa("bench");
    const tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-bench-tls-"));
    try {
      const pair = await ca.issue("donor", DONOR_TLS_NAME);
      fs.copyFileSync(pair.cert, path.join(tlsDir, "member-0.crt"));
      fs.copyFileSync(pair.key, path.join(tlsDir, "member-0.key"));
      const tls = { ...pair, caPath: ca.caPath, name: DONOR_TLS_NAME };
      const receiverTls = { TLS_CA: ca.caPath, DONOR_TLS_NAME };
      // Signed, as a stack's backups are (its generated backup-signing-key): backup uploads the signature, restore
      // fetches and checks it.
      const env = { ...s3.env(), BACKUP_URL: `s3://${BUCKET}/bench`, BACKUP_SIGNING_KEY: "bench-signing-key" };
      const hand = { env: s3.env(), bucket: BUCKET };
      for (const doublings of sizes) {
        const server = await filledServer(log, doublings);
        donor ??= await startDonor(server, CLONE_TOKEN, undefined, { TLS_DIR: tlsDir, POD_NAME: "bench-0" });
        const dataBytes = await directoryBytes(server.datadir);
        const mb = String(Math.round(dataBytes / 1e6));
        log(`data set: ${mb} MB datadir`);
        const best = async (what: string, time: () => Promise<number>): Promise<number> => {
          const ms = Math.min(await time(), await time());
          log(`${mb} MB ${what}: ${Math.round(ms)} ms`);
          return ms;
        };
        // Ours and by hand in turn, three times each: the machine's drift hits both alike. Medians.
        const paired = async (what: string, ours: () => Promise<number>, byHand: () => Promise<number>) => {
          const times: [number[], number[]] = [[], []];
          for (let k = 0; k < 3; k++) {
            times[0].push(await ours());
            times[1].push(await byHand());
          }
          const [o, h] = times.map((t) => t.map(Math.round));
          log(`${mb} MB ${what}: ${o.join(", ")} ms; by hand ${h.join(", ")} ms`);
          return times.map(median) as [number, number];
        };
        const row: CopyScaleRow = {
          dataBytes,
          cpMs: null,
          rawStreamMs: null,
          cloneMs: null,
          cloneHandMs: null,
          backupMs: null,
          backupHandMs: null,
          restoreMs: null,
          restoreHandMs: null,
        };
        results.copyScale[mb] = row;
        row.cpMs = await best("cp -a", () => timeCopy(server.datadir));
        row.rawStreamMs = await best("raw stream", () => timeRawStream(server));

        // The pod's conf volume: clone.sh adds the init_file that positions the copy on its first start.
        const conf = path.join(joiner.dir, "conf.d");
        let gtid = "";
        const clone = async () => {
          fs.rmSync(joiner.datadir, { recursive: true, force: true });
          fs.mkdirSync(joiner.datadir);
          fs.rmSync(conf, { recursive: true, force: true });
          fs.mkdirSync(conf);
          const start = performance.now();
          const { stdout } = await runScript("clone.sh", {
            DONOR_HOST: donor!.host,
            DONOR_PORT: String(donor!.port),
            CLONE_TOKEN,
            DATADIR: joiner.datadir,
            CONF_OUT: conf,
            ...receiverTls,
          });
          const ms = performance.now() - start;
          gtid = /^GTID=(.*)$/m.exec(stdout)?.[1] ?? "";
          return ms;
        };
        [row.cloneMs, row.cloneHandMs] = await paired("clone", clone, async () =>
          timeHandClone(server, await freePort(), tls),
        );
        await checkCopy("clone", joiner, conf, server, gtid, "gtid_slave_pos");

        const backup = async () => {
          const start = performance.now();
          await runScript("backup.sh", {
            ...env,
            DONOR_HOST: donor!.host,
            DONOR_PORT: String(donor!.port),
            CLONE_TOKEN,
            ...receiverTls,
          });
          return performance.now() - start;
        };
        [row.backupMs, row.backupHandMs] = await paired("backup", backup, () =>
          timeHandBackup(server, hand, `hand/${mb}.xbstream.zst`),
        );

        let restoreOut = "";
        // As member 0's seed container runs it: with the pod's conf volume, where it leaves the init_file that gives
        // the member's first start the backup's GTID history.
        const restoreConf = path.join(restoreDir, "conf.d");
        // The same object ours restores (the newest backup).
        const backups = (await listObjects(s3, `bench/base/`)).filter((k) => k.endsWith("/backup.xbstream.zst")).sort();
        const restore = async () => {
          fs.rmSync(path.join(restoreDir, "data"), { recursive: true, force: true });
          fs.rmSync(restoreConf, { recursive: true, force: true });
          fs.mkdirSync(restoreConf);
          const start = performance.now();
          const { stdout } = await runScript("restore.sh", {
            ...env,
            ...serverEnv(server),
            DATADIR: path.join(restoreDir, "data"),
            REPLAY_BINLOGS: "0",
            CONF_OUT: restoreConf,
          });
          restoreOut = stdout;
          return performance.now() - start;
        };
        [row.restoreMs, row.restoreHandMs] = await paired("restore", restore, () =>
          timeHandRestore(hand, backups[backups.length - 1]),
        );
        const restoredGtid = /^GTID=(.*)$/m.exec(restoreOut)?.[1];
        if (restoredGtid === undefined) throw new Error("restore.sh reported no GTID position");
        const restored = new LocalServer(restoreDir, await freePort(), { serverId: 851, options: REPLICATION_OPTIONS });
        await checkCopy("restored member", restored, restoreConf, server, restoredGtid, "gtid_binlog_pos");
      }
      const first = results.copyScale[Object.keys(results.copyScale).sort((a, b) => Number(a) - Number(b))[0]];
      results.cloneVsHand = speedRatio(first.cloneHandMs, first.cloneMs);
      results.backupVsHand = speedRatio(first.backupHandMs, first.backupMs);
      results.restoreVsHand = speedRatio(first.restoreHandMs, first.restoreMs);
      results.cloneVsCp = speedRatio(first.cpMs, first.cloneMs);
      results.backupVsRawStream = speedRatio(first.rawStreamMs, first.backupMs);
      results.restoreVsRawStream = speedRatio(first.rawStreamMs, first.restoreMs);
    } finally {
      await donor?.stop();
      await s3.stop();
      await destroyAll([joiner]);
      fs.rmSync(restoreDir, { recursive: true, force: true });
      fs.rmSync(tlsDir, { recursive: true, force: true });
      ca.remove();
    }
  },
};

/**
 * A copy must be the source's data at the GTID its script printed: `copy` starts on it with what the seed left in the
 * conf volume `conf` (as a pod's database container does), holds every row of bench.fill and stands there
 * (`variable`: gtid_slave_pos for a clone, gtid_binlog_pos for a restore, which continues the source's history).
 */
async function checkCopy(
  what: string,
  copy: LocalServer,
  conf: string,
  source: LocalServer,
  gtid: string,
  variable: "gtid_slave_pos" | "gtid_binlog_pos",
): Promise<void> {
  copy.spec.options = { ...copy.spec.options, ...readOptionDir(conf) };
  await copy.start();
  const [got] = await copy.query<{ n: number; pos: string }>(
    `SELECT COUNT(*) AS n, @@${variable} AS pos FROM bench.fill`,
  );
  await copy.stop();
  const [expected] = await source.query<{ n: number }>("SELECT COUNT(*) AS n FROM bench.fill");
  if (Number(got.n) !== Number(expected.n) || got.pos !== gtid)
    throw new Error(`${what} has ${got.n} rows at ${variable} '${got.pos}', expected ${expected.n} at '${gtid}'`);
}

async function listObjects(s3: LocalS3, prefix: string): Promise<string[]> {
  const client = s3.client();
  try {
    const out = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
    return (out.Contents ?? []).map((o) => o.Key!);
  } finally {
    client.destroy();
  }
}

/** The binlog archiver's recovery point: worst of three commits, each until its binlog bytes are in S3. */
const recovery: Section = {
  name: "recovery point of the binlog archiver",
  figures: ["recoveryPointMs"],
  async run(results, log) {
    // A server of its own with the table alone: the archiver starts at the server's first binlog, so the copy paths'
    // data server (gigabytes of binlog after --large) would have it archive that history first.
    const [server] = await startServers(1, REPLICATION_OPTIONS, 810);
    await fillDatabase(server, 0);
    const s3 = await startLocalS3([BUCKET]);
    const spool = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-bench-spool-"));
    try {
      results.recoveryPointMs = await recoveryPoint(
        server,
        s3,
        { ...s3.env(), BACKUP_URL: `s3://${BUCKET}/bench` },
        spool,
      );
      log(`recovery point ${Math.round(results.recoveryPointMs)} ms`);
    } finally {
      await s3.stop();
      await destroyAll([server]);
      fs.rmSync(spool, { recursive: true, force: true });
    }
  },
};

/** Commit a row, then poll S3 until the archived copy of the current binlog is at least as long as the commit's end. */
async function recoveryPoint(
  server: LocalServer,
  s3: LocalS3,
  env: Record<string, string>,
  spool: string,
): Promise<number> {
  const archiver = startScript("binlog-archive.sh", {
    ...env,
    ...serverEnv(server),
    SPOOL_DIR: spool,
    ARCHIVE_INTERVAL: "1",
  });
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
        if (archiver.child.exitCode !== null)
          throw new Error(`binlog-archive.sh exited: ${archiver.log().trim().split("\n").slice(-3).join(" | ")}`);
        // The archive keeps one prefix per binlog history (binlog/<server id>/<history>/<file>): the newest one holds the file.
        const size = await client
          .send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `bench/binlog/${id}/` }))
          .then(
            (out) =>
              (out.Contents ?? [])
                .filter((o) => o.Key!.endsWith(`/${status.File}`))
                .map((o) => o.Size ?? 0)
                .pop() ?? 0,
            () => 0,
          );
        if (size >= Number(status.Position)) break;
        if (performance.now() - committed > 30000)
          throw new Error(`binlog ${status.File} not archived up to ${status.Position} within 30 s`);
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
      const { ms, resources } = await timeRender({
        stack: "bench",
        projectDir: benchProject,
        set: { "mysql-ha-bench:members": String(n) },
      });
      results.evalMs[String(n)] = ms;
      results.evalResources[String(n)] = resources;
      log(
        `evaluation at ${n} replicas: ${ms.toFixed(0)} ms for ${resources} resources (${(ms / resources).toFixed(2)} ms each)`,
      );
    }
    for (const n of [3, 9])
      results.details[`evalMsIndexTs${n}`] = (await timeRender({ stack: "prod", set: { replicas: String(n) } })).ms;
  },
};

/**
 * Start of the CLI as a user runs it (`node bin/mysql-ha.js`): median of five runs of `--help` and of
 * `status --help`. bin runs the TypeScript sources (transpiled at every start) when one is newer than dist/, so dist/
 * is brought up to date first (`node bin/dist.js --build`); when it cannot be, the figure is not measured.
 */
const cliStart: Section = {
  name: "CLI start (--help, status --help)",
  figures: ["cliStartMs"],
  async run(results, log) {
    const bin = path.join(PACKAGE_ROOT, "bin", "mysql-ha.js");
    const dist = path.join(PACKAGE_ROOT, "bin", "dist.js");
    const build = await run(process.execPath, [dist, "--build"], { maxBuffer: 64 << 20 }).then(
      () => "",
      (err: { stdout?: string; message: string }) => (err.stdout || err.message).trim().split("\n")[0],
    );
    if (!require(dist).freshEntry()) {
      throw new Error(
        `dist/ is older than the sources and could not be rebuilt (node bin/dist.js --build: ${build || "a source changed during the build"}), so bin/mysql-ha.js would run the TypeScript sources`,
      );
    }
    if (build) log(`node bin/dist.js --build reported errors (${build}), but dist/ is newer than every source`);
    const time = async (args: string[]): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const start = performance.now();
        await run(process.execPath, [bin, ...args]);
        times.push(performance.now() - start);
      }
      return median(times);
    };
    results.cliStartMs.help = await time(["--help"]);
    results.cliStartMs.statusHelp = await time(["status", "--help"]);
    log(
      `CLI start: --help ${Math.round(results.cliStartMs.help)} ms, status --help ${Math.round(results.cliStartMs.statusHelp)} ms`,
    );
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

export const sections: Section[] = [
  cliStart,
  replication,
  picture,
  agentFailover,
  memberScale,
  copyPaths,
  recovery,
  evaluation,
  cleanup,
];
