/**
 * `npm run bench`: measures switchover write gap, failover time, clone, backup and restore throughput and
 * program evaluation time on local mariadbd topologies, each against a reference measured in the same run, and prints
 * a table (or, with --json, only the JSON). Progress goes to stderr. Exit code 1 when a measurement broke.
 */
import { BenchResults, emptyResults, formatTable, judge } from "./report";
import type { Section } from "./sections";

export const BENCH_USAGE = `Usage: mysql-ha bench [--json] [--large]

Runs the benchmarks (README, "Performance") on local mariadbd servers (a few minutes) and prints a table of
figures and goals. Every figure is a ratio against a reference measured in the same run; figures whose parts are
missing are reported as "not measured: <why>".

Options:
  --json    print only the results as JSON on stdout (progress still goes to stderr)
  --large   also run the copy paths on a ~4.7 GB datadir (about seven minutes more; same as MYSQL_HA_BENCH_LARGE=1)
  --help    this text`;

const OPTIONS = ["--json", "--large"];

export async function runBench(argv: string[]): Promise<number> {
  const unknown = argv.filter((a) => !OPTIONS.includes(a));
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(BENCH_USAGE + "\n");
    return 0;
  }
  if (unknown.length) {
    process.stderr.write(`mysql-ha bench: unknown option '${unknown[0]}'. Allowed options: --json, --large, --help\n`);
    return 2;
  }
  const json = argv.includes("--json");
  if (argv.includes("--large")) process.env.MYSQL_HA_BENCH_LARGE = "1";
  // Loaded here, not at the top, so `--help` does not load the engine, the AWS SDK and Pulumi.
  const sections: Section[] = require("./sections").sections;
  const results: BenchResults = emptyResults(new Date().toISOString().slice(0, 10));
  const log = (line: string) => process.stderr.write(`[bench ${elapsed()}] ${line}\n`);
  const begin = Date.now();
  const elapsed = () => `${((Date.now() - begin) / 1000).toFixed(1).padStart(5)} s`;
  let broken = false;
  for (const section of sections) {
    log(`${section.name} ...`);
    try {
      await section.run(results, log);
    } catch (err) {
      broken = true;
      const message = `failed: ${((err as Error).message || String(err)).split("\n")[0]}`;
      log(`${section.name} ${message}`);
      for (const key of section.figures) if (!(key in results.notMeasured)) results.notMeasured[key] = message;
    }
  }
  results.details.totalSeconds = (Date.now() - begin) / 1000;
  results.goals = judge(results);
  process.stdout.write((json ? JSON.stringify(results, null, 2) : formatTable(results)) + "\n");
  return broken ? 1 : 0;
}

if (require.main === module) {
  runBench(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`mysql-ha bench: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
