import { freePort } from "../../local/mariadbd";
import { inspect, setup, switchover } from "../../components/replication";
import { Lab, cleanup, settingsFor, startLab } from "./support";

describe("bad input", () => {
  let lab: Lab | undefined;
  afterEach(async () => cleanup(lab));

  it("names an unknown member index and the allowed range, changing nothing", async () => {
    lab = await startLab(2, { setUp: true });
    await expect(switchover(lab.members, 7, lab.settings)).rejects.toThrow(
      "switchover target 7 is not a member: allowed 0..1",
    );
    await expect(setup(lab.members, -1, lab.settings)).rejects.toThrow("primary -1 is not a member: allowed 0..1");
    expect((await inspect(lab.members, lab.settings)).primary).toBe(0);
  });

  it("reports an unreachable address as a member problem and refuses to set it up as primary", async () => {
    lab = await startLab(1);
    const dead = { host: "127.0.0.1", port: await freePort() };
    const members = [dead, ...lab.members];
    const t = await inspect(members, { ...lab.settings, connectTimeoutMs: 1000 });
    expect(t.members[0].reachable).toBe(false);
    expect(t.problems[0].message).toMatch(
      new RegExp(`member 0 \\(127\\.0\\.0\\.1:${dead.port}\\) is unreachable: .*ECONNREFUSED`),
    );
    await expect(setup(members, 0, lab.settings)).rejects.toThrow(
      /cannot set up: member 0 \(the intended primary\) is unreachable/,
    );
  });

  it("reports a wrong password without ever showing it", async () => {
    lab = await startLab(1);
    const secret = "Wr0ng-S3cret-pw";
    const lines: string[] = [];
    const settings = { ...settingsFor(lines), admin: { user: "root", password: secret } };
    const t = await inspect(lab.members, settings);
    expect(t.members[0].reachable).toBe(false);
    expect(t.members[0].error).toMatch(/Access denied for user 'root'/);
    const err = await setup(lab.members, 0, settings).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const everything = JSON.stringify(t) + String((err as Error).message) + lines.join("\n");
    expect(everything).not.toContain(secret);
  });
});
