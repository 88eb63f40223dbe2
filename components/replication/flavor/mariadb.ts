/**
 * MariaDB 10.11: all engine-specific SQL of the replication engine. GTIDs are domain-server-seq, replicas
 * auto-position with MASTER_USE_GTID=slave_pos, semi-sync is built in (rpl_semi_sync_*).
 */
import { Sql } from "../connection";
import { SqlError } from "../errors";
import { Account, AccountRole, Credentials, ThreadState } from "../types";
import { AccountSpec, Flavor, RawStatus } from "./flavor";
import { covers, errantAgainst, localErrant } from "./mariadb-gtid";

const SYSTEM_SCHEMAS = ["mysql", "information_schema", "performance_schema", "sys"];
/** The server variables a member's status is made of. */
const STATUS_VARIABLES = [
  "server_id",
  "read_only",
  "log_bin",
  "gtid_current_pos",
  "gtid_binlog_state",
  "gtid_slave_pos",
  "rpl_semi_sync_master_enabled",
  "rpl_semi_sync_slave_enabled",
];
/** Sessions that are not clients: replication threads, the binlog dump threads of replicas, daemons. */
const NON_CLIENT_COMMANDS = ["Binlog Dump", "Daemon", "Slave_IO", "Slave_SQL", "Slave_worker", "Killed"];

/**
 * Each account's host and privileges (MariaDB 10.11 names), and nothing more: none reads or writes user data, none
 * manages accounts. Accounts used inside the member pod connect over its loopback. SHOW VIEW on *.* lets
 * information_schema list every table (any table privilege does) without reading a row: the probes and the engine
 * tell a member holding user data from an empty one.
 */
export const ACCOUNT_GRANTS: Record<AccountRole, { host: string; grants: string[] }> = {
  // The failover agent (another pod): inspect, read_only, replication, kill client sessions, block commits.
  operator: {
    host: "%",
    grants: [
      "READ_ONLY ADMIN, REPLICATION SLAVE ADMIN, REPLICATION MASTER ADMIN, BINLOG MONITOR, SLAVE MONITOR, CONNECTION ADMIN, PROCESS, RELOAD, SHOW VIEW ON *.*",
    ],
  },
  // mariadb-backup's needs (backup locks, its status queries, the binlog position).
  backup: { host: "127.0.0.1", grants: ["RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.*"] },
  // mariadb-binlog --read-from-remote-server and SHOW BINARY LOGS.
  archiver: { host: "127.0.0.1", grants: ["REPLICATION SLAVE, BINLOG MONITOR ON *.*"] },
  // SHOW SLAVE STATUS and the user-table count of probe-readiness.sh.
  probe: { host: "127.0.0.1", grants: ["SLAVE MONITOR, SHOW VIEW ON *.*"] },
  // mysqld_exporter's default collectors: status, variables, replica status, InnoDB and performance_schema tables.
  metrics: {
    host: "127.0.0.1",
    grants: ["PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.*", "SELECT ON performance_schema.*"],
  },
};

/** An account's SQL name ('user'@'host'); user names are the program's constants, checked here anyway. */
function accountName(user: string, host: string): string {
  if (!/^[A-Za-z0-9_]+$/.test(user))
    throw new Error(`account name ${JSON.stringify(user)}: only letters, digits and _ are allowed`);
  return `'${user}'@'${host}'`;
}

/** Privileges per object ("*.*", "performance_schema.*"), from GRANT statements as SHOW GRANTS prints them or as written. */
function privilegesOf(statements: string[]): Map<string, Set<string>> {
  const byObject = new Map<string, Set<string>>();
  for (const statement of statements) {
    const m = /^(?:GRANT\s+)?(.+?)\s+ON\s+(\S+)/i.exec(statement);
    if (!m) continue;
    const object = m[2].replace(/`/g, "");
    const set = byObject.get(object) ?? new Set<string>();
    for (const p of m[1].split(",").map((x) => x.trim().toUpperCase())) if (p !== "USAGE") set.add(p);
    byObject.set(object, set);
  }
  for (const [object, set] of byObject) if (set.size === 0) byObject.delete(object);
  return byObject;
}

function samePrivileges(shown: string[], wanted: string[]): boolean {
  const [a, b] = [privilegesOf(shown), privilegesOf(wanted)];
  return (
    a.size === b.size &&
    [...b].every(([object, set]) => a.get(object)?.size === set.size && [...set].every((p) => a.get(object)!.has(p)))
  );
}

/** A server variable's name, checked before it goes into a statement (names cannot be bound as parameters). */
function variableName(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/i.test(name))
    throw new Error(`server variable ${JSON.stringify(name)}: only letters, digits and _ are allowed`);
  return name;
}

function thread(v: unknown): ThreadState {
  return v === "Yes" ? "running" : v === "Preparing" || v === "Connecting" ? "connecting" : "stopped";
}

function on(v: unknown): boolean {
  return v === 1 || v === "1" || v === "ON" || v === "on" || v === true;
}

/** "Lock wait timeout exceeded" (lock_wait_timeout passed). */
const ER_LOCK_WAIT_TIMEOUT = 1205;
/** "You must start backup with BACKUP STAGE START" (BACKUP STAGE END with none running). */
const ER_BACKUP_NOT_RUNNING = 4146;

/**
 * The primary side of semi-sync as SET GLOBAL assignments (the timeout a `?`, only when on). AFTER_SYNC: a commit
 * becomes visible only once a replica has it, so nobody reads what a failover could lose.
 */
function semiSyncSourceAssignments(semiSync: boolean): string {
  return semiSync
    ? "rpl_semi_sync_master_timeout = ?, rpl_semi_sync_master_wait_point = AFTER_SYNC, rpl_semi_sync_master_enabled = ON"
    : "rpl_semi_sync_master_enabled = OFF";
}

export const mariadb: Flavor = {
  name: "mariadb",

  async readStatus(sql: Sql): Promise<RawStatus> {
    // Two round trips, not one per kind of fact: inspect waits for its slowest member, and on a busy server every
    // statement waits its turn. One UNION of name/value rows carries the variables, the semi-sync status and the
    // session's cipher (a session's status shows the global-only counters too) and the user schemas; the replica
    // status follows, since no SELECT gives it. (Mixing @@ variables with an aggregate over information_schema in one
    // SELECT reads the boolean ones as 0 on 10.11, hence rows.) User data means tables: an empty schema (the
    // image's entrypoint creates MARIADB_DATABASE on every member, with the binlog off) is not data, so it does not
    // stop a fresh member from joining. They are read only on a member that never replicated (gtid_slave_pos empty),
    // the one case where they decide anything; elsewhere the condition is false before any table is listed, which
    // saves the largest part of a replica's read.
    const rows = await sql.query<{ name: string; value: string | null }>(
      [
        ...STATUS_VARIABLES.map((v) => `SELECT '${v}' AS name, @@GLOBAL.${v} AS value`),
        `SELECT LOWER(VARIABLE_NAME), VARIABLE_VALUE FROM information_schema.SESSION_STATUS
          WHERE VARIABLE_NAME IN ('RPL_SEMI_SYNC_MASTER_STATUS', 'RPL_SEMI_SYNC_SLAVE_STATUS', 'RPL_SEMI_SYNC_MASTER_CLIENTS', 'SSL_CIPHER')`,
        `SELECT DISTINCT 'user_schema', table_schema FROM information_schema.tables
          WHERE @@GLOBAL.gtid_slave_pos = '' AND table_schema NOT IN (${SYSTEM_SCHEMAS.map(() => "?").join(",")})`,
      ].join(" UNION ALL ") + " ORDER BY name, value",
      SYSTEM_SCHEMAS,
    );
    const v = new Map(rows.filter((r) => r.name !== "user_schema").map((r) => [r.name, r.value]));
    const schemas = rows.filter((r) => r.name === "user_schema").map((r) => String(r.value));
    const [rs] = await sql.query("SHOW SLAVE STATUS");
    return {
      serverId: Number(v.get("server_id")),
      readOnly: on(v.get("read_only")),
      logBin: on(v.get("log_bin")),
      gtidCurrent: v.get("gtid_current_pos") ?? "",
      gtidBinlogState: v.get("gtid_binlog_state") ?? "",
      gtidSlave: v.get("gtid_slave_pos") ?? "",
      semiSync: {
        primaryEnabled: on(v.get("rpl_semi_sync_master_enabled")),
        primaryActive: on(v.get("rpl_semi_sync_master_status")),
        primaryClients: Number(v.get("rpl_semi_sync_master_clients") ?? 0),
        replicaEnabled: on(v.get("rpl_semi_sync_slave_enabled")),
        replicaActive: on(v.get("rpl_semi_sync_slave_status")),
      },
      userSchemas: schemas,
      tls: !!v.get("ssl_cipher"),
      replica:
        rs && rs.Master_Host
          ? {
              sourceHost: String(rs.Master_Host),
              sourcePort: Number(rs.Master_Port),
              sourceIndex: null,
              ioThread: thread(rs.Slave_IO_Running),
              sqlThread: thread(rs.Slave_SQL_Running),
              lastIoError: String(rs.Last_IO_Error ?? ""),
              lastSqlError: String(rs.Last_SQL_Error ?? ""),
              lagSeconds:
                rs.Seconds_Behind_Master === null || rs.Seconds_Behind_Master === undefined
                  ? null
                  : Number(rs.Seconds_Behind_Master),
              gtidIo: String(rs.Gtid_IO_Pos ?? ""),
              tls: rs.Master_SSL_Allowed === "Yes" && rs.Master_SSL_Verify_Server_Cert === "Yes",
            }
          : undefined,
    };
  },

  async binlogPosition(sql: Sql): Promise<string> {
    const [r] = await sql.query<{ p: string }>("SELECT @@gtid_binlog_pos AS p");
    return r.p;
  },

  async executedPosition(sql: Sql): Promise<string> {
    const [r] = await sql.query<{ p: string }>("SELECT @@gtid_current_pos AS p");
    return r.p;
  },

  covers,

  errantGtids(member, primary): string[] {
    if (member.serverId === undefined) return [];
    const local = localErrant(member.serverId, member.gtidBinlogState, member.gtidSlave);
    const vsPrimary = primary
      ? errantAgainst(
          { binlogState: member.gtidBinlogState, slavePos: member.gtidSlave },
          { binlogState: primary.gtidBinlogState, slavePos: primary.gtidSlave },
        )
      : [];
    return [...new Set([...local, ...vsPrimary])].sort();
  },

  async ensureReplicationUser(sql: Sql, user: Credentials): Promise<void> {
    await sql.query("CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?", [user.user, user.password]);
    await sql.query("ALTER USER ?@'%' IDENTIFIED BY ?", [user.user, user.password]);
    // REPLICATION SLAVE is all a replica needs to stream binlogs (semi-sync acknowledgements included).
    await sql.query("GRANT REPLICATION SLAVE ON *.* TO ?@'%'", [user.user]);
  },

  async ensureAccount(sql: Sql, account: Account): Promise<boolean> {
    const { host, grants } = ACCOUNT_GRANTS[account.role];
    const name = accountName(account.user, host);
    // Nothing is written when the account is already right: every `up` checks, and each write is a binlog event.
    const [row] = await sql.query<{ same: number }>(
      "SELECT authentication_string = PASSWORD(?) AS same FROM mysql.user WHERE User = ? AND Host = ?",
      [account.password, account.user, host],
    );
    if (row && Number(row.same) === 1) {
      const shown = await sql.query<Record<string, string>>(`SHOW GRANTS FOR ${name}`);
      if (
        samePrivileges(
          shown.map((r) => Object.values(r)[0]),
          grants,
        )
      )
        return false;
    }
    await sql.query(`CREATE USER IF NOT EXISTS ${name} IDENTIFIED BY ?`, [account.password]);
    await sql.query(`ALTER USER ${name} IDENTIFIED BY ?`, [account.password]);
    // Exactly the role's privileges, whatever an older version granted. A probe that lands between the two
    // statements fails once; the probes' failure thresholds absorb that.
    await sql.query(`REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${name}`);
    for (const grant of grants) await sql.query(`GRANT ${grant} TO ${name}`);
    return true;
  },

  accountsInitScript(accounts: AccountSpec[]): string {
    const statements = accounts.flatMap((a) => {
      const { host, grants } = ACCOUNT_GRANTS[a.role];
      const name = accountName(a.user, host);
      if (!/^[A-Z_][A-Z0-9_]*$/.test(a.passwordEnv))
        throw new Error(`password variable ${JSON.stringify(a.passwordEnv)} is not an environment variable name`);
      // The password travels hex-encoded into the SQL text and is quoted by the server: no shell or SQL escaping.
      return [
        `SET @pw = CONVERT(X'$(hex "$${a.passwordEnv}")' USING utf8mb4);`,
        `EXECUTE IMMEDIATE CONCAT("CREATE USER IF NOT EXISTS ${name} IDENTIFIED BY ", QUOTE(@pw));`,
        ...grants.map((g) => `GRANT ${g} TO ${name};`),
      ];
    });
    return [
      "#!/bin/bash",
      "# Generated by mysql-ha (components/replication/flavor/mariadb.ts): the least-privilege accounts of the sidecars,",
      "# probes and failover agent. The image's entrypoint runs it once, on the first start of an empty datadir, after",
      "# root is secured; the engine's setup keeps the accounts (passwords, grants) from then on.",
      "set -euo pipefail",
      ...accounts.map((a) => `: "\${${a.passwordEnv}:?${a.passwordEnv} is not set}"`),
      `hex() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \\n'; }`,
      'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb --no-defaults --protocol=socket --socket="${MYSQL_HA_SOCKET:-/run/mysqld/mysqld.sock}" -uroot <<SQL',
      ...statements,
      "SQL",
      `echo "mysql-ha: accounts ${accounts.map((a) => a.user).join(", ")} created"`,
      "",
    ].join("\n");
  },

  async startReplicating(sql, source, user, semiSync, caPath): Promise<void> {
    await sql.query("SET GLOBAL read_only = ON");
    await sql.query("STOP SLAVE");
    await sql.query("SET GLOBAL rpl_semi_sync_master_enabled = OFF");
    // The replica side is read when the IO thread starts, so set it before START SLAVE.
    await sql.query(`SET GLOBAL rpl_semi_sync_slave_enabled = ${semiSync ? "ON" : "OFF"}`);
    // TLS is set both ways: CHANGE MASTER keeps SSL options it is not given, so turning TLS off must clear them. The
    // replica checks the source's certificate against the CA and MASTER_HOST (a name or address in its SANs).
    await sql.query(
      `CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1, MASTER_HEARTBEAT_PERIOD = 1,
         MASTER_SSL = ${caPath ? 1 : 0}, MASTER_SSL_CA = ?, MASTER_SSL_VERIFY_SERVER_CERT = ${caPath ? 1 : 0}`,
      [source.host, source.port, user.user, user.password, caPath ?? ""],
    );
    await sql.query("START SLAVE");
  },

  async stopReplicating(sql: Sql): Promise<void> {
    await sql.query("STOP SLAVE");
    await sql.query("RESET SLAVE ALL");
    await sql.query("SET GLOBAL rpl_semi_sync_slave_enabled = OFF");
  },

  async resumeReplicating(sql: Sql): Promise<void> {
    await sql.query("START SLAVE");
  },

  async stopIoThread(sql: Sql): Promise<void> {
    await sql.query("STOP SLAVE IO_THREAD");
  },

  async startSqlThread(sql: Sql): Promise<void> {
    await sql.query("START SLAVE SQL_THREAD");
  },

  async waitForGtid(sql: Sql, gtid: string, timeoutMs: number): Promise<boolean> {
    const seconds = Math.max(0.001, timeoutMs / 1000);
    const [r] = await sql.query<{ r: number | string }>(
      "SELECT MASTER_GTID_WAIT(?, ?) AS r",
      [gtid, seconds],
      timeoutMs + 5000,
    );
    return Number(r.r) === 0;
  },

  async becomeSource(sql: Sql, semiSync: boolean, semiSyncTimeoutMs: number): Promise<void> {
    await mariadb.stopReplicating(sql);
    await mariadb.setSemiSyncSource(sql, semiSync, semiSyncTimeoutMs);
  },

  async setSemiSyncSource(sql: Sql, semiSync: boolean, semiSyncTimeoutMs: number): Promise<void> {
    await sql.query(`SET GLOBAL ${semiSyncSourceAssignments(semiSync)}`, semiSync ? [semiSyncTimeoutMs] : []);
  },

  async setReadOnly(sql: Sql, readOnly: boolean): Promise<void> {
    await sql.query(`SET GLOBAL read_only = ${readOnly ? "ON" : "OFF"}`);
  },

  async openForWrites(sql: Sql, semiSync: boolean, semiSyncTimeoutMs: number): Promise<void> {
    // One statement, one round trip in the write-stopped window; the semi-sync side is on before writes are.
    await sql.query(
      `SET GLOBAL ${semiSyncSourceAssignments(semiSync)}, read_only = OFF`,
      semiSync ? [semiSyncTimeoutMs] : [],
    );
  },

  async prepareBlockWrites(sql: Sql, timeoutMs: number): Promise<boolean> {
    await sql.query("SET SESSION lock_wait_timeout = ?", [Math.max(1, Math.ceil(timeoutMs / 1000))]);
    // The backup lock's stages up to BLOCK_DDL while writes are still on: DDL waits (and waits for DDL in flight),
    // transactional DML goes on. What is left for the write-stopped window is the commit block alone; skipped
    // stages would otherwise run there, implicitly.
    try {
      await sql.query("BACKUP STAGE START");
      await sql.query("BACKUP STAGE BLOCK_DDL");
      return true;
    } catch (err) {
      if (!(err instanceof SqlError && err.errno === ER_LOCK_WAIT_TIMEOUT)) throw err;
      await mariadb.unblockWrites(sql);
      return false;
    }
  },

  async blockWrites(sql: Sql): Promise<void> {
    // The backup lock's commit block stops every commit and binlog write, whoever the account. Unlike FLUSH TABLES
    // WITH READ LOCK it does not close tables, so it does not wait for busy tables (tens of ms under load).
    await sql.query("BACKUP STAGE BLOCK_COMMIT");
  },

  async unblockWrites(sql: Sql): Promise<void> {
    try {
      await sql.query("BACKUP STAGE END");
    } catch (err) {
      // ER_BACKUP_NOT_RUNNING: prepareBlockWrites never got as far as starting it; nothing to release.
      if (!(err instanceof SqlError && err.errno === ER_BACKUP_NOT_RUNNING)) throw err;
    }
  },

  async clientSessions(sql: Sql, exclude: number[]): Promise<number[]> {
    const rows = await sql.query<{ id: number }>(
      `SELECT ID AS id FROM information_schema.PROCESSLIST
        WHERE ID <> CONNECTION_ID() AND USER NOT IN ('system user', 'event_scheduler')
          AND COMMAND NOT IN (${NON_CLIENT_COMMANDS.map(() => "?").join(",")})`,
      NON_CLIENT_COMMANDS,
    );
    return rows.map((r) => Number(r.id)).filter((id) => !exclude.includes(id));
  },

  async killSession(sql: Sql, id: number): Promise<void> {
    try {
      await sql.query("KILL CONNECTION ?", [id]);
    } catch (err) {
      // Already gone: that is what we wanted.
      if (!(err instanceof SqlError && err.code === "ER_NO_SUCH_THREAD")) throw err;
    }
  },

  async sessionId(sql: Sql): Promise<number> {
    const [r] = await sql.query<{ id: number }>("SELECT CONNECTION_ID() AS id");
    return Number(r.id);
  },

  async adoptOwnHistory(sql: Sql): Promise<void> {
    await sql.query("SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos");
  },

  async resetLocalHistory(sql: Sql): Promise<void> {
    await sql.query("STOP SLAVE");
    await sql.query("RESET MASTER");
    await sql.query("SET GLOBAL gtid_slave_pos = ''");
  },

  async binlogStart(sql: Sql): Promise<string> {
    const logs = await sql.query<{ Log_name: string }>("SHOW BINARY LOGS");
    if (logs.length === 0) return "";
    const events = await sql.query<{ Event_type: string; Info: string }>("SHOW BINLOG EVENTS IN ? LIMIT 4", [
      logs[0].Log_name,
    ]);
    const list = events.find((e) => e.Event_type === "Gtid_list");
    return list ? list.Info.replace(/[[\]\s]/g, "") : "";
  },

  async reloadTls(sql: Sql): Promise<void> {
    // LOCAL: a FLUSH is binlogged otherwise, an errant transaction on a replica.
    await sql.query("FLUSH LOCAL SSL");
  },

  async servedCertificate(sql: Sql) {
    const rows = await sql.query<{ Variable_name: string; Value: string }>(
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('Ssl_server_not_before', 'Ssl_server_not_after')",
    );
    const status = new Map(rows.map((r) => [r.Variable_name.toLowerCase(), r.Value]));
    // OpenSSL's time format ("Dec  1 13:08:49 2027 GMT"), empty when the server has no certificate.
    const iso = (v: string | undefined) => (v ? new Date(v).toISOString() : undefined);
    const notBefore = iso(status.get("ssl_server_not_before"));
    const notAfter = iso(status.get("ssl_server_not_after"));
    return notBefore && notAfter ? { notBefore, notAfter } : undefined;
  },

  async globalVariable(sql: Sql, name: string): Promise<unknown> {
    const [row] = await sql.query<{ value: unknown }>(`SELECT @@GLOBAL.${variableName(name)} AS value`);
    return row?.value;
  },

  async setGlobalVariable(sql: Sql, name: string, value: string | number): Promise<void> {
    await sql.query(`SET GLOBAL ${variableName(name)} = ?`, [value]);
  },

  async tryLock(sql: Sql, name: string) {
    const [r] = await sql.query<{ ok: number | null; holder: number | null; session: number }>(
      "SELECT GET_LOCK(?, 0) AS ok, IS_USED_LOCK(?) AS holder, CONNECTION_ID() AS session",
      [name, name],
    );
    if (Number(r.ok) === 1) return { ok: true, session: Number(r.session) } as const;
    return { ok: false, holder: r.holder === null ? null : Number(r.holder) } as const;
  },

  async unlock(sql: Sql, name: string): Promise<void> {
    // Bounded: a member that hangs (SIGSTOP, a stalled disk) must not hold up the operation's end; the disconnect
    // that follows frees the lock on it anyway.
    await sql.query("SELECT RELEASE_LOCK(?)", [name], 1000);
  },
};
