import * as fs from "node:fs";
import * as path from "node:path";
import { destroyAll, LocalServer, REPLICATION_OPTIONS, startServers } from "../../local/mariadbd";
import { LocalS3, startLocalS3 } from "../../local/s3";
import { parseBackupUrl, untilTime } from "../../components/backup/location";
import { startDonor } from "../../cli/scripts";
import { makeCa, memberDnsName } from "../replication/certificates";
import { runCli } from "../cli/run-cli";

jest.setTimeout(120000);

const cli = (args: string[], env: Record<string, string>) => runCli(args, { env, timeout: 110000 });

describe("mysql-ha backup / backups / restore", () => {
  let s3: LocalS3;
  let servers: LocalServer[] = [];

  beforeAll(async () => {
    s3 = await startLocalS3(["backups"]);
    servers = await startServers(1, REPLICATION_OPTIONS, 600);
  });
  afterAll(async () => {
    await destroyAll(servers);
    await s3?.stop();
  });

  /** The local S3's keys, with what else the command needs. */
  const s3Env = (more: Record<string, string>) => ({
    AWS_ACCESS_KEY_ID: s3.env().AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: s3.env().AWS_SECRET_ACCESS_KEY,
    ...more,
  });
  /** `mysql-ha backup` of a local member from its datadir to s3://backups/<prefix>. */
  const backupDatadir = (source: LocalServer, prefix: string, env: Record<string, string>) =>
    cli(
      [
        "backup",
        "--members",
        source.address,
        "--datadir",
        source.datadir,
        "--to",
        `s3://backups/${prefix}`,
        "--endpoint",
        s3.endpoint,
      ],
      env,
    );

  test("backs up a local member, lists it as complete with its GTID, and restores it into an empty datadir", async () => {
    const [source] = servers;
    await source.query("CREATE DATABASE app");
    await source.query("CREATE TABLE app.t (id INT PRIMARY KEY, v INT)");
    await source.query("INSERT INTO app.t SELECT seq, seq * 3 FROM app.seq_1_to_1000");
    const env = s3Env({ MYSQL_HA_PASSWORD: source.adminPassword });
    const backup = await backupDatadir(source, "cli", env);
    expect(backup.stderr).toMatch(/backup \d{8}T\d{6}Z complete/);
    expect(backup.code).toBe(0);
    expect(backup.stdout.trim()).toMatch(/^s3:\/\/backups\/cli\/base\/\d{8}T\d{6}Z$/);

    const list = await cli(["backups", "--from", "s3://backups/cli", "--endpoint", s3.endpoint, "--json"], env);
    expect(list.code).toBe(0);
    const [entry] = JSON.parse(list.stdout);
    const [{ pos }] = await source.query("SELECT @@gtid_binlog_pos AS pos");
    expect(entry).toMatchObject({ complete: true, gtid: pos });
    expect(entry.bytes).toBeGreaterThan(1000);
    const table = await cli(["backups", "--from", "s3://backups/cli", "--endpoint", s3.endpoint], env);
    expect(table.stdout).toMatch(/^BACKUP\s+COMPLETE\s+SIZE\s+GTID/);
    expect(table.stdout).toContain(`base/${entry.timestamp}  yes`);

    const datadir = path.join(source.dir, "restored");
    const restore = await cli(
      ["restore", "--from", backup.stdout.trim(), "--datadir", datadir, "--endpoint", s3.endpoint],
      env,
    );
    expect(restore.code).toBe(0);
    expect(restore.stdout).toContain(`GTID=${pos}`);
    expect(fs.existsSync(path.join(datadir, "app", "t.ibd"))).toBe(true);
  });

  test("the signing key comes from MYSQL_HA_BACKUP_SIGNING_KEY or --signing-key-file: a signed backup lists as verified and restores; another key is refused", async () => {
    const [source] = servers;
    const key = "k".repeat(40) + Date.now();
    const s3env = s3Env({ MYSQL_HA_PASSWORD: source.adminPassword });
    const backup = await backupDatadir(source, "signed", { ...s3env, MYSQL_HA_BACKUP_SIGNING_KEY: key });
    expect(backup.code).toBe(0);
    expect(backup.stderr).toMatch(/complete and signed in/);
    const keyFile = path.join(source.dir, "signing.key");
    fs.writeFileSync(keyFile, key + "\n", { mode: 0o600 });
    const list = await cli(
      ["backups", "--from", "s3://backups/signed", "--endpoint", s3.endpoint, "--signing-key-file", keyFile, "--json"],
      s3env,
    );
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ complete: true, signature: "verified" })]);
    const table = await cli(["backups", "--from", "s3://backups/signed", "--endpoint", s3.endpoint], s3env);
    expect(table.stdout).toMatch(/FINISHED\s+SIGNATURE\n.*\ssigned\n$/);

    const wrongFile = path.join(source.dir, "wrong.key");
    fs.writeFileSync(wrongFile, "another key\n", { mode: 0o600 });
    /** Restores the signed backup into a new datadir, checked with the key in `signingKeyFile`. */
    const restoreWith = (datadir: string, signingKeyFile: string) =>
      cli(
        [
          "restore",
          "--from",
          backup.stdout.trim(),
          "--datadir",
          path.join(source.dir, datadir),
          "--endpoint",
          s3.endpoint,
          "--signing-key-file",
          signingKeyFile,
        ],
        s3env,
      );
    const refused = await restoreWith("signed-wrong", wrongFile);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("does not match its signature under BACKUP_SIGNING_KEY");
    const restore = await restoreWith("signed", keyFile);
    expect(restore.code).toBe(0);
    expect(restore.stderr).not.toContain("BACKUP_SIGNING_KEY is not set");
    for (const r of [backup, list, table, refused, restore]) expect(r.stdout + r.stderr).not.toContain(key);
    const empty = path.join(source.dir, "empty.key");
    fs.writeFileSync(empty, "", { mode: 0o600 });
    const bad = await cli(["backups", "--from", "s3://backups/signed", "--signing-key-file", empty], s3env);
    expect([bad.code, bad.stderr.trim()]).toEqual([
      2,
      expect.stringContaining(`--signing-key-file ${empty}: the file is empty`),
    ]);
  });

  test("against a member's donor port with TLS on: --tls-ca (or MYSQL_HA_TLS_CA) verifies the donor by its certificate name; another CA is refused before the token is sent, no backup made", async () => {
    const [source] = servers;
    const [ca, other] = await Promise.all([makeCa("backup-cli"), makeCa("backup-cli-other")]);
    // The donor sidecar of pod db-0 with TLS on, its Secret volume holding its own pair (for its DNS name alone).
    const tlsDir = fs.mkdtempSync(path.join(source.dir, "donor-tls-"));
    const pair = await ca.issue("donor", memberDnsName(0), 2, []);
    fs.copyFileSync(pair.cert, path.join(tlsDir, "member-0.crt"));
    fs.copyFileSync(pair.key, path.join(tlsDir, "member-0.key"));
    const token = `tls-token-${Date.now()}`;
    const donor = await startDonor(source, token, undefined, { TLS_DIR: tlsDir, POD_NAME: "db-0" });
    const env = s3Env({ MYSQL_HA_CLONE_TOKEN: token });
    const backup = (prefix: string, extra: string[], more: Record<string, string> = {}) =>
      cli(
        [
          "backup",
          "--members",
          source.address,
          "--donor-port",
          String(donor.port),
          "--tls-server-names",
          memberDnsName(0),
          "--to",
          `s3://backups/${prefix}`,
          "--endpoint",
          s3.endpoint,
          ...extra,
        ],
        { ...env, ...more },
      );
    const listed = async (prefix: string) =>
      JSON.parse(
        (await cli(["backups", "--from", `s3://backups/${prefix}`, "--endpoint", s3.endpoint, "--json"], env)).stdout,
      );
    const streamed = () =>
      donor
        .log()
        .split("\n")
        .filter((l) => /streaming a backup/.test(l));
    try {
      const verified = await backup("tls", ["--tls-ca", ca.caPath]);
      expect([verified.code, verified.stderr]).toEqual([0, expect.stringMatching(/backup \d{8}T\d{6}Z complete/)]);
      expect(await listed("tls")).toEqual([expect.objectContaining({ complete: true })]);
      const fromEnv = await backup("tls-env", [], { MYSQL_HA_TLS_CA: ca.caPath });
      expect(fromEnv.code).toBe(0);
      expect(streamed()).toHaveLength(2);

      const refused = await backup("tls-other", ["--tls-ca", other.caPath]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(
          `the donor ${source.host}:${donor.port} is refused: its TLS certificate is not signed by the CA in \\S+ \\(it comes from another CA\\); the token was not sent`,
        ),
      );
      // The upload had begun (an empty object): without a manifest it is no backup.
      expect((await listed("tls-other")).filter((b: any) => b.complete)).toEqual([]);
      expect(streamed()).toHaveLength(2);
      for (const r of [verified, fromEnv, refused]) expect(r.stdout + r.stderr).not.toContain(token);

      const withDatadir = await cli(
        [
          "backup",
          "--members",
          source.address,
          "--datadir",
          source.datadir,
          "--tls-ca",
          ca.caPath,
          "--to",
          "s3://backups/x",
        ],
        { MYSQL_HA_PASSWORD: source.adminPassword },
      );
      expect([withDatadir.code, withDatadir.stderr.trim()]).toEqual([
        2,
        expect.stringContaining("--tls-ca does not go with --datadir"),
      ]);
    } finally {
      await donor.stop();
      ca.remove();
      other.remove();
    }
  });

  test("user errors exit 2 with one line naming the bad value", async () => {
    const bad = await cli(["restore", "--from", "s3://Bad_Bucket/x", "--datadir", "/tmp/x"], {
      MYSQL_HA_PASSWORD: "x",
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--from 's3://Bad_Bucket/x' is not s3://bucket/prefix");
    const both = await cli(
      ["restore", "--from", "s3://bkt1/x", "--datadir", "/tmp/x", "--until", "2026-01-01 00:00:00", "--gtid", "0-1-2"],
      {},
    );
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("give --until or --gtid, not both");
    const noPw = await cli(["backup", "--members", "127.0.0.1:1", "--datadir", "/tmp", "--to", "s3://bkt1/x"], {
      MYSQL_HA_PASSWORD: "",
    });
    expect(noPw.code).toBe(2);
    expect(noPw.stderr).toContain("MYSQL_HA_PASSWORD");
  });
});

describe("backup locations and points in time (pure)", () => {
  test("parses prefixes and base backup URLs", () => {
    expect(parseBackupUrl("s3://my-bucket/prod/db")).toEqual({ bucket: "my-bucket", prefix: "prod/db" });
    expect(parseBackupUrl("s3://my-bucket")).toEqual({ bucket: "my-bucket", prefix: "" });
    expect(parseBackupUrl("s3://my-bucket/prod/base/20260101T030000Z/")).toEqual({
      bucket: "my-bucket",
      prefix: "prod",
      backup: "base/20260101T030000Z",
    });
    expect(() => parseBackupUrl("s3://my-bucket/prod/base/yesterday")).toThrow(/base\/<YYYYMMDDTHHMMSSZ>/);
    expect(() => parseBackupUrl("https://my-bucket/prod")).toThrow(/is not s3:\/\/bucket\/prefix/);
  });

  test("converts times to UTC for mariadb-binlog and rejects non-times", () => {
    expect(untilTime("2026-01-31T13:00:05+01:00")).toBe("2026-01-31 12:00:05");
    expect(untilTime("2026-01-31 12:00:05")).toBe("2026-01-31 12:00:05");
    expect(() => untilTime("yesterday")).toThrow(/--until 'yesterday' is not a time/);
  });
});
