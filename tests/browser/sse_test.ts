/**
 * Runs the Chromium SSE scenarios in `_sse_scenarios.ts` as a child `deno test -A` (see
 * demo_test.ts for why).
 */
import assert from "node:assert/strict";

const CHROMIUM = "/usr/bin/chromium";
/** The tests' config: its import map holds playwright-core and the contract checker's ajv. */
const TEST_CONFIG = new URL("../deno.json", import.meta.url).pathname;

Deno.test("[browser] EventSource with ?channel= and the client's SSE fallback, in Chromium", async () => {
  const found = await Deno.stat(CHROMIUM).catch(() => undefined);
  assert.ok(
    found?.isFile,
    `${CHROMIUM} is missing: run "apt-get install -y chromium" (.ci/run installs it)`,
  );
  const scenarios = new URL("./_sse_scenarios.ts", import.meta.url).pathname;
  const child = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--config", TEST_CONFIG, "-A", "--no-prompt", scenarios],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(child.stdout) + new TextDecoder().decode(child.stderr);
  assert.equal(child.code, 0, `Chromium SSE scenarios failed:\n${output}`);
  assert.match(output, /^ok \| 1 passed \(2 steps\) \| 0 failed/m, output);
  assert.match(output, /plain EventSource with \?channel= .* \.\.\. ok/, output);
  assert.match(output, /the client falls back to SSE \.\.\. ok/, output);
});
