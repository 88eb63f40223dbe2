/**
 * Child-process script for the connector tests (the Kubernetes client is ESM, which jest's module loader cannot
 * load; Node's own `require` can). Usage: query-members.ts '<json {spec, count, password}>'. Opens the connector,
 * asks every member for @@server_id twice (two connections per tunnel), closes the connector, prints JSON.
 */
import * as mysql from "mysql2/promise";
import { openConnector } from "../../components/connectors";

async function main(): Promise<void> {
  const { spec, count, user, password } = JSON.parse(process.argv[2]);
  const open = await openConnector(spec, count);
  const results: Array<{ ordinal: number; serverIds?: number[]; error?: string }> = [];
  for (const [ordinal, member] of open.members.entries()) {
    try {
      const serverIds: number[] = [];
      for (let i = 0; i < 2; i++) {
        const conn = await mysql.createConnection({
          host: member.host,
          port: member.port,
          user,
          password,
          connectTimeout: 3000,
        });
        const [rows] = await conn.query("SELECT @@server_id AS id");
        serverIds.push(Number((rows as Array<{ id: number }>)[0].id));
        await conn.end();
      }
      results.push({ ordinal, serverIds });
    } catch (err) {
      results.push({ ordinal, error: (err as Error).message });
    }
  }
  const problems = open.problems();
  await open.close();
  process.stdout.write(JSON.stringify({ members: open.members, results, problems }));
}

main().catch((err) => {
  process.stderr.write(String(err?.stack ?? err));
  process.exit(1);
});
