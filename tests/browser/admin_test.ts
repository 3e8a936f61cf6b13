/**
 * Runs `_admin_scenario.ts` as a child `deno test -A`: playwright-core reads /proc when it
 * loads, which Deno grants only to --allow-all (see demo_test.ts).
 */
import assert from "node:assert/strict";

// Not imported from _chromium.ts: that loads playwright-core, which needs --allow-all.
const CHROMIUM = "/usr/bin/chromium";
/** The tests' config: its import map holds playwright-core and axe-core. */
const TEST_CONFIG = new URL("../deno.json", import.meta.url).pathname;

Deno.test("[browser] the admin page works in Chromium, on one node and on a two-node cluster", async () => {
  const found = await Deno.stat(CHROMIUM).catch(() => undefined);
  assert.ok(
    found?.isFile,
    `${CHROMIUM} is missing: run "apt-get install -y chromium" (.ci/run installs it)`,
  );
  const scenario = new URL("./_admin_scenario.ts", import.meta.url).pathname;
  const child = await new Deno.Command(Deno.execPath(), {
    // `deno task check` type-checks the scenario; checking it again here only costs time.
    args: ["test", "--config", TEST_CONFIG, "-A", "--no-prompt", "--no-check", scenario],
    env: {
      NO_COLOR: "1",
      ...(Deno.env.get("UPDATE_SCREENSHOTS") === "1" ? { UPDATE_SCREENSHOTS: "1" } : {}),
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(child.stdout) + new TextDecoder().decode(child.stderr);
  assert.equal(child.code, 0, `Chromium scenario failed:\n${output}`);
  assert.match(output, /^ok \| 2 passed \(\d+ steps\) \| 0 failed/m, output);
});
