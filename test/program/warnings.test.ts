import { renderStack } from "../../offline/render";

jest.setTimeout(120000);

/** A program evaluated many times in one process (the bench evaluates it a dozen times) prints each warning once. */
test("the backup-image warning is printed once however often the program is evaluated, and each result lists it", async () => {
  const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
  try {
    const first = await renderStack({ stack: "prod" });
    const second = await renderStack({ stack: "prod", set: { replicas: "5" } });
    expect([first.errors, second.errors]).toEqual([[], []]);
    const printed = warn.mock.calls.map((args) => args.join(" ")).filter((m) => /must carry rclone/.test(m));
    expect(printed).toEqual([
      expect.stringMatching(
        /^warning: \[runtime\] backup containers use the database image mariadb:\S+, which must carry rclone/,
      ),
    ]);
    for (const r of [first, second])
      expect(r.warnings).toEqual([expect.stringMatching(/^backup containers use the database image/)]);
  } finally {
    warn.mockRestore();
  }
});
