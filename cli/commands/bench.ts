import { Command } from "../command";

/** `mysql-ha bench`: the same entry as `npm run bench` (bench/index.ts). */
export const command: Command = {
  name: "bench",
  get usage() {
    return require("../../bench").BENCH_USAGE;
  },
  run: (argv) => require("../../bench").runBench(argv),
};
