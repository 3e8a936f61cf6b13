/**
 * The parent side of the browser tests: playwright-core reads /proc/sys/fs/binfmt_misc when it
 * loads, and Deno grants /proc only to --allow-all, which `deno task test` deliberately does not
 * use. So each `*_test.ts` here runs its scenario file as a child `deno test -A`. This module
 * must not import playwright-core (nor `_chromium.ts`, which does).
 */
import assert from "node:assert/strict";
import { basename } from "node:path";

/** Where Debian installs Chromium. */
export const CHROMIUM = "/usr/bin/chromium";
/** The tests' config: its import map holds playwright-core, axe-core and the contract checker's ajv. */
const TEST_CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** Fails with how to install Chromium when it is missing. */
export async function assertChromium(): Promise<void> {
  const found = await Deno.stat(CHROMIUM).catch(() => undefined);
  assert.ok(
    found?.isFile,
    `${CHROMIUM} is missing: run "apt-get install -y chromium" (.ci/run installs it)`,
  );
}

/** Options of {@link runScenarios}. */
export interface ScenarioRun {
  /**
   * Type-check the scenario file in the child (default true). `deno task check` type-checks
   * every scenario, so checking it again only costs time.
   */
  readonly check?: boolean;
  /** Extra environment of the child (it always gets NO_COLOR=1). */
  readonly env?: Record<string, string>;
}

/**
 * Runs the scenario file `name` (beside this module) as a child `deno test -A`, asserts that it
 * passed, and returns its output (stdout then stderr) for the caller's own checks.
 */
export async function runScenarios(name: string, options: ScenarioRun = {}): Promise<string> {
  await assertChromium();
  const file = new URL(`./${name}`, import.meta.url).pathname;
  const child = await new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--config",
      TEST_CONFIG,
      "-A",
      "--no-prompt",
      ...(options.check === false ? ["--no-check"] : []),
      file,
    ],
    env: { NO_COLOR: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(child.stdout) + new TextDecoder().decode(child.stderr);
  assert.equal(child.code, 0, `Chromium scenarios of ${basename(file)} failed:\n${output}`);
  return output;
}
