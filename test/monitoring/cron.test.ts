/**
 * The period of a backup schedule (components/cron.ts): the longest time between two runs, for the common cron
 * forms Kubernetes' CronJob takes, and a named error for what it cannot compute.
 */
import { CronScheduleError, longestGapSeconds } from "../../components/cron";

const HOUR = 3600;

describe("longestGapSeconds", () => {
  it.each([
    ["0 3 * * *", 24 * HOUR],
    ["*/15 * * * *", 15 * 60],
    ["0 */6 * * *", 6 * HOUR],
    ["30 1,13 * * *", 12 * HOUR],
    ["0 9-17 * * *", 16 * HOUR], // 17:00 to 09:00 the next day
    ["0 2 * * 0", 7 * 24 * HOUR],
    ["0 2 * * sun", 7 * 24 * HOUR],
    ["0 3 * * 1,3", 5 * 24 * HOUR], // Wednesday to Monday
    ["0 3 * * 1-5", 3 * 24 * HOUR], // Friday to Monday
    ["0 0 1 * *", 31 * 24 * HOUR],
    ["0 0 1 */3 *", 92 * 24 * HOUR], // January, April, July, October: July to October
    ["0 0 1 JAN,jul *", 184 * 24 * HOUR],
    ["0 3 31 * *", 61 * 24 * HOUR], // 31 May to 31 July (or 31 January to 31 March in a leap year: 60 days)
    ["0 3 1 * MON", 7 * 24 * HOUR], // both day fields restricted: the 1st or any Monday
    ["0 3 */2 * *", 2 * 24 * HOUR], // odd days: the 29th of a 30-day month to the 1st is two days too
    ["0 3 ? * *", 24 * HOUR],
    ["10/25 * * * *", 35 * 60], // 10 and 35 (to the hour's end), then 10 past the next hour
    ["@hourly", HOUR],
    ["@daily", 24 * HOUR],
    ["@weekly", 7 * 24 * HOUR],
    ["@yearly", 366 * 24 * HOUR],
  ])("%s: %d s", (schedule, seconds) => {
    expect(longestGapSeconds(schedule)).toBe(seconds);
  });

  it.each([
    ["0 3 L * *", /day-of-month field "L": "L" is not a number; L, W, # and other extensions are not supported/],
    ["0 3 * * 1#2", /day-of-week field "1#2": "1#2" is not a number/],
    ["0 25 * * *", /hour field "25": 25 is outside 0-23/],
    ["0 3 * * 7", /day-of-week field "7": 7 is outside 0-6/],
    ["0 3 * FOO *", /month field "FOO": "FOO" is not a number or a name \(JAN, FEB/],
    ["0 3 5-1 * *", /range "5-1" ends before it starts/],
    ["*/0 * * * *", /step "0" is not a positive integer/],
    ["0 3 * *", /expected 5 fields/],
    ["@every 1h", /expected 5 fields .* or one of @yearly/],
    ["0 0 30 2 *", /it never runs/],
  ])("%s: a CronScheduleError naming the field", (schedule, message) => {
    let error: unknown;
    try {
      longestGapSeconds(schedule);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CronScheduleError);
    expect((error as Error).message).toMatch(new RegExp(`^cron schedule "${schedule.replace(/[*?]/g, "\\$&")}": `));
    expect((error as Error).message).toMatch(message);
  });
});
