/**
 * Runs the Chromium scenarios in `_chromium_scenarios.ts` as a child `deno test -A`:
 * playwright-core reads /proc/sys/fs/binfmt_misc when it loads, and Deno grants /proc only to
 * --allow-all, which `deno task test` deliberately does not use.
 */
import assert from "node:assert/strict";

const CHROMIUM = "/usr/bin/chromium";
/** The tests' config: its import map holds playwright-core and the contract checker's ajv. */
const TEST_CONFIG = new URL("../deno.json", import.meta.url).pathname;

Deno.test("[browser] demo page, live pushes, restart/reconnect, recovery and the quick start, in Chromium", async () => {
  const found = await Deno.stat(CHROMIUM).catch(() => undefined);
  assert.ok(
    found?.isFile,
    `${CHROMIUM} is missing: run "apt-get install -y chromium" (.ci/run installs it)`,
  );
  const scenarios = new URL("./_chromium_scenarios.ts", import.meta.url).pathname;
  const child = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--config", TEST_CONFIG, "-A", "--no-prompt", scenarios],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(child.stdout) + new TextDecoder().decode(child.stderr);
  assert.equal(child.code, 0, `Chromium scenarios failed:\n${output}`);
  // Both scenarios really ran (none filtered or ignored) and drove the browser step by step.
  assert.match(output, /^ok \| 3 passed \(\d+ steps\) \| 0 failed/m, output);
  assert.match(output, /reconnects after a restart \.\.\. ok/, output);
  assert.match(output, /demo shows offsets and a recovered badge \.\.\. ok/, output);
  assert.match(output, /quick start works verbatim from another origin \.\.\. ok/, output);
});
