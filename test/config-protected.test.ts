import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  COMPLETE_OPTIONS_BEGINNING_PROTECTED,
  PROTECTED_SERVER_OPTIONS,
  Settings,
  validateConfig,
} from "../components/config";
import { renderServerCnf, SERVER_CNF } from "../components/kubernetes/server-config";
import { normalizeOptionName, optionTargets } from "../components/server-options";
import { mariadbd } from "../local/mariadbd";

const errorsOf = (name: string, value: unknown) => validateConfig({ serverConfig: { [name]: value } }).errors;

describe("serverConfig: options the stack relies on, in every spelling", () => {
  const refused: Array<[string, unknown, RegExp]> = [
    ["skip-log-bin", true, /sets log_bin and would undo the binary log/],
    ["skip_log_bin", true, /sets log_bin/],
    ["loose-skip-log-bin", true, /sets log_bin/],
    ["log-bin", "other", /would undo the binary log/],
    ["loose-binlog-format", "STATEMENT", /sets binlog_format and would undo row-based binary logging/],
    ["binlog_format", "MIXED", /row-based binary logging/],
    ["binlog-ignore-db", "app", /a filter leaves writes out of it/],
    ["replicate-wild-ignore-table", "app.%", /silently diverge/],
    ["slave_skip_errors", "all", /silently diverge/],
    ["disable-gtid-strict-mode", true, /sets gtid_strict_mode and would undo GTID strict mode/],
    ["gtid-strict-mode", 0, /GTID strict mode/],
    ["gtid-strict", 0, /unique beginning .* gtid_strict may set gtid_strict_mode/],
    ["loose-skip-gtid-strict", true, /gtid_strict may set gtid_strict_mode/],
    ["skip-read-only", true, /read-only start/],
    ["disable-rpl-semi-sync-slave-enabled", true, /lossless semi-synchronous/],
    ["rpl_semi_sync_master_wait_point", "AFTER_COMMIT", /lossless semi-synchronous/],
    ["skip-slave-start", true, /resuming replication/],
    ["slave-net-timeout", 3600, /lost primary within seconds/],
    ["wsrep_on", true, /Galera/],
    ["skip-grant-tables", true, /authentication/],
    ["enable-skip-grant-tables", true, /authentication/],
    ["skip-grant", true, /skip_grant may set skip_grant_tables/],
    ["init-file", "/tmp/x.sql", /all privileges at every start/],
    ["loose-init_file", "/tmp/x.sql", /sets init_file/],
    ["init_connect", "SET sql_log_bin = 0", /sql_log_bin/],
    ["skip-secure-auth", true, /old, broken password hash/],
    ["plugin-dir", "/tmp", /which server code is loaded/],
    ["skip-ssl", true, /sets ssl and would undo TLS as config tls sets it up/],
    ["ssl-cert", "/tmp/cert.pem", /TLS/],
    ["tls_version", "TLSv1.0", /TLS/],
    ["require_secure_transport", "OFF", /would undo TLS as config tlsRequired sets it/],
    ["datadir", "/tmp/data", /data volume/],
    ["innodb-log-group-home-dir", "/tmp", /data volume/],
    ["tmpdir", "/var/lib/mysql", /tmp volume/],
    ["socket", "/tmp/s.sock", /probes and scripts/],
    ["port", 3307, /port 3306/],
    ["bind-address", "127.0.0.1", /port 3306/],
    ["skip-networking", true, /port 3306/],
    ["log-error", "/tmp/err.log", /kubectl logs/],
    ["server_id", 7, /unique server_id/],
  ];
  it.each(refused)("refuses %s = %p by key, value and what it would undo", (name, value, reason) => {
    const errors = errorsOf(name, value);
    expect(errors).toHaveLength(1);
    expect(errors[0].key).toBe(`serverConfig.${name}`);
    expect(errors[0].message).toMatch(
      new RegExp(
        `^mysql-ha:serverConfig\\.${name}: .* is not allowed; expected an option the component does not manage or rely on \\(`,
      ),
    );
    expect(errors[0].message).toMatch(reason);
  });

  const accepted: Array<[string, unknown]> = [
    ["max_connections", 500],
    ["innodb-buffer-pool-size", "1G"],
    ["long_query_time", 2],
    ["slow_query_log", true],
    ["slow_query_log_file", "/var/lib/mysql/slow.log"],
    ["general_log", "OFF"],
    ["table_open_cache_instances", 4],
    ["skip-name-resolve", true],
    ["binlog_row_image", "MINIMAL"],
    ["max_binlog_size", "256M"],
    ["relay_log", "relay"],
    ["innodb", "ON"],
    ["loose-server-audit-logging", "ON"],
    ["plugin-load-add", "server_audit"],
    ["performance_schema", true],
    ["skip-log-warnings", true],
    ["maximum-max-statement-time", 60],
    ["sql_mode", "STRICT_TRANS_TABLES"],
  ];
  it.each(accepted)("accepts the tuning option %s = %p", (name, value) => {
    expect(errorsOf(name, value).map((e) => e.message)).toEqual([]);
  });

  it("normalises names the way mariadbd's option parser does", () => {
    expect(optionTargets("loose-skip-log-bin")).toEqual(["loose_skip_log_bin", "skip_log_bin", "log_bin"]);
    expect(optionTargets("skip-skip-grant-tables")).toEqual([
      "skip_skip_grant_tables",
      "skip_grant_tables",
      "grant_tables",
    ]);
    expect(optionTargets("max_connections")).toEqual(["max_connections"]);
  });
});

describe("serverConfig protection against the real mariadbd", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-protected-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Effective values (option name with dashes -> value) of mariadbd reading this my.cnf. */
  const effective = (cnf: string): Map<string, string> => {
    const file = path.join(dir, SERVER_CNF);
    fs.writeFileSync(file, cnf);
    const out = spawnSync(mariadbd(), [`--defaults-file=${file}`, "--verbose", "--help"], { encoding: "utf8" });
    return new Map([...out.stdout.matchAll(/^([a-z0-9-]+)[ \t]+(.*)$/gm)].map((m) => [m[1], m[2].trim()]));
  };
  const base = validateConfig({}).settings!;
  /** What the pod would get if validation let the option through. */
  const rendered = (name: string, value: Settings["serverConfig"][string]) =>
    renderServerCnf({ ...base, serverConfig: { [name]: value } });

  it("knows every protected name and every complete option that begins one", () => {
    const help = spawnSync(mariadbd(), ["--no-defaults", "--verbose", "--help"], { encoding: "utf8" }).stdout;
    const real = new Set([...help.matchAll(/^ {2}(?:-\S, )?--([a-z0-9_-]+)/gm)].map((m) => normalizeOptionName(m[1])));
    const names = Object.keys(PROTECTED_SERVER_OPTIONS);
    const covers = (option: string) => names.some((p) => option === p || (p.endsWith("_") && option.startsWith(p)));
    // log_replica_updates is MySQL's name, kept for the reserved mysql flavor.
    expect(
      names.filter(
        (p) => p !== "log_replica_updates" && !(p.endsWith("_") ? [...real].some((r) => r.startsWith(p)) : real.has(p)),
      ),
    ).toEqual([]);
    const beginning = [...real].filter((r) => !covers(r) && names.some((p) => p !== r && p.startsWith(r)));
    expect(beginning.sort()).toEqual([...COMPLETE_OPTIONS_BEGINNING_PROTECTED].sort());
  });

  const spellings: Array<[string, Settings["serverConfig"][string], string, string]> = [
    ["loose-skip-log-bin", true, "log-bin", "0"],
    ["skip_log_bin", true, "log-bin", "0"],
    ["loose-binlog-format", "STATEMENT", "binlog-format", "STATEMENT"],
    ["disable-gtid-strict-mode", true, "gtid-strict-mode", "FALSE"],
    ["gtid-strict", 0, "gtid-strict-mode", "FALSE"],
    ["skip-read-only", true, "read-only", "FALSE"],
    ["enable-skip-grant-tables", true, "skip-grant-tables", "TRUE"],
    ["loose-init_file", "/tmp/x.sql", "init-file", "/tmp/x.sql"],
    ["disable-rpl-semi-sync-slave-enabled", true, "rpl-semi-sync-slave-enabled", "FALSE"],
  ];
  it.each(spellings)(
    "%s = %p really sets %s to %s, and validation names that option",
    (name, value, option, expected) => {
      const before = effective(rendered("max_connections", 100)).get(option);
      expect(effective(rendered(name, value)).get(option)).toBe(expected);
      expect(before).not.toBe(expected);
      const target = normalizeOptionName(option);
      expect(optionTargets(name).some((t) => t === target || target.startsWith(t))).toBe(true);
      expect(errorsOf(name, value)[0].message).toContain(target);
    },
  );
});
