/**
 * Child-process script for the connector tests (see query-members.ts for why a child). Usage: hold-tunnel.ts
 * '<json {spec, user, password}>'. Connects to member 0, prints "connected", waits for a line on stdin (the test
 * deletes the pod meanwhile), queries again on the same connection and with a new one, prints JSON.
 */
import * as mysql from "mysql2/promise";
import { openConnector } from "../../components/connectors";

async function attempt(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
    return "ok";
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

async function main(): Promise<void> {
  const { spec, user, password } = JSON.parse(process.argv[2]);
  const open = await openConnector(spec, 1);
  const member = open.members[0];
  const connect = () =>
    mysql.createConnection({ host: member.host, port: member.port, user, password, connectTimeout: 3000 });
  const conn = await connect();
  conn.on("error", () => undefined); // the broken tunnel; the query below reports it
  await conn.query("SELECT 1");
  process.stdout.write("connected\n");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  const sameConnection = await attempt(() => conn.query("SELECT 1"));
  const newConnection = await attempt(async () => (await connect()).end());
  const problems = open.problems();
  conn.destroy();
  await open.close();
  process.stdout.write(JSON.stringify({ sameConnection, newConnection, problems }));
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(String(err?.stack ?? err));
  process.exit(1);
});
