/**
 * Seeding local stand-in members from a peer's donor, as a pod's seed init container does, with the shipped scripts
 * run by cli/scripts.ts. Used by the engine's seed hook locally, the tests and the benchmarks.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Donor, lastLines, runScript, startDonor } from "../cli/scripts";
import { LocalServer, readOptionDir } from "./mariadbd";

/**
 * Seeds `joiner` with a copy of the donor (clone.sh against the donor's port): stops it, empties its datadir, clones
 * and starts it with the option clone.sh added (the init_file that positions the copy at its GTID on this start),
 * exactly as a pod's seed init container and then its database container do. The caller (the engine) attaches it.
 * Returns the GTID position of the copy.
 */
export async function seedFromPeer(
  joiner: LocalServer,
  donor: Donor,
  token: string,
  onLog?: (line: string) => void,
): Promise<string> {
  await joiner.stop();
  fs.rmSync(joiner.datadir, { recursive: true, force: true });
  fs.mkdirSync(joiner.datadir);
  // The pod's conf volume: what the seed adds to the options mariadbd reads.
  const conf = fs.mkdtempSync(path.join(joiner.dir, "conf-"));
  const { stdout } = await runScript(
    "clone.sh",
    {
      DONOR_HOST: donor.host,
      DONOR_PORT: String(donor.port),
      CLONE_TOKEN: token,
      DATADIR: joiner.datadir,
      CONF_OUT: conf,
    },
    { onLog },
  ).catch((err) => {
    throw new Error(`${err.message}\ndonor ${donor.host}:${donor.port} log:\n${lastLines(donor.log(), 8)}`);
  });
  const gtid = (stdout.match(/^GTID=(.*)$/m) ?? [])[1] ?? "";
  joiner.spec.options = { ...joiner.spec.options, ...readOptionDir(conf) };
  fs.rmSync(conf, { recursive: true });
  await joiner.start();
  return gtid;
}

/**
 * The engine's `seed(joinerIndex, donorIndex)` hook for local members: one donor process per donor, started on
 * first use and stopped by `close()`.
 */
export function localSeeder(servers: LocalServer[], token: string, onLog?: (line: string) => void) {
  const donors = new Map<number, Donor>();
  return {
    seed: async (joinerIndex: number, donorIndex: number): Promise<void> => {
      let donor = donors.get(donorIndex);
      if (!donor) {
        donor = await startDonor(servers[donorIndex], token);
        donors.set(donorIndex, donor);
      }
      await seedFromPeer(servers[joinerIndex], donor, token, onLog);
    },
    close: async (): Promise<void> => {
      await Promise.all([...donors.values()].map((d) => d.stop()));
      donors.clear();
    },
  };
}
