/**
 * The tree is lint-clean (eslint with typescript-eslint) and formatted (prettier): `npm run lint` as part of every
 * `npm test`, so CI fails on either; `npm run format` rewrites what prettier would change.
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";

jest.setTimeout(120000);
const root = path.join(__dirname, "..");
const bin = (name: string) => path.join(root, "node_modules", ".bin", name);
const run = (name: string, args: string[]) => {
  try {
    execFileSync(bin(name), args, { cwd: root, encoding: "utf8", stdio: "pipe" });
    return "";
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return `${e.stdout ?? ""}${e.stderr ?? ""}`.trim() || e.message;
  }
};

test("eslint finds no problem", () => {
  expect(run("eslint", ["."])).toBe("");
});

test("prettier would change no file", () => {
  expect(run("prettier", ["--check", "--log-level", "warn", "."])).toBe("");
});
