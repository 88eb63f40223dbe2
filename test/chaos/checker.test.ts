import { destroyAll, LocalServer, REPLICATION_OPTIONS, startServer, startServers } from "../../local/mariadbd";
import { NetworkLab } from "../../local/netns";
import { AckWriter, prepareWriterSchema } from "../../local/writer";

/** The chaos suite's instruments must themselves be able to fail: these tests show they notice what they claim to. */
describe("chaos instruments", () => {
  let servers: LocalServer[] = [];
  let lab: NetworkLab | undefined;
  afterEach(async () => {
    await destroyAll(servers);
    servers = [];
    await lab?.destroy();
    lab = undefined;
  });

  it("the acknowledged-write checker reports an acknowledged row that disappeared, and its longest write gap", async () => {
    servers = await startServers(1, REPLICATION_OPTIONS, 400);
    const [s] = servers;
    await prepareWriterSchema(s);
    const writer = new AckWriter({ resolvePrimary: () => s });
    await writer.start();
    await writer.waitForAcks(50);
    await s.signal("SIGSTOP");
    await new Promise((r) => setTimeout(r, 300));
    await s.signal("SIGCONT");
    await writer.waitForAcks(20);
    const report = await writer.stop();
    expect(report.longestGapMs).toBeGreaterThanOrEqual(250);
    expect(report.medianWriteMs).toBeGreaterThan(0);
    expect(await writer.verify(s)).toEqual([]);
    const victim = report.acked[10].id;
    await s.query("DELETE FROM ackcheck.acks WHERE id = ?", [victim]);
    expect(await writer.verify(s)).toEqual([victim]);
  });

  it("a network partition cuts a member in a namespace off and healing reconnects it", async () => {
    lab = await NetworkLab.create();
    const host = await lab.addHost("m0");
    const s = await startServer({
      serverId: 410,
      options: REPLICATION_OPTIONS,
      netns: host.netns,
      host: host.ip,
      adminHostPattern: lab.hostPattern,
    });
    servers = [s];
    expect(s.host).toBe(host.ip);
    expect((await s.query("SELECT 1 AS ok"))[0].ok).toBe(1);
    await lab.partition("m0");
    await expect(s.query("SELECT 1")).rejects.toThrow(/EHOSTUNREACH|ETIMEDOUT|timeout/i);
    await lab.heal("m0");
    expect((await s.query("SELECT 1 AS ok"))[0].ok).toBe(1);
  });
});
