/** Runs the Chromium scenarios in `_chromium_scenarios.ts` as a child `deno test -A` (see `_child.ts`). */
import assert from "node:assert/strict";
import { runScenarios } from "./_child.ts";

Deno.test("[browser] demo page, live pushes, restart/reconnect, recovery and the quick start, in Chromium", async () => {
  const output = await runScenarios("_chromium_scenarios.ts");
  // Both scenarios really ran (none filtered or ignored) and drove the browser step by step.
  assert.match(output, /^ok \| 3 passed \(\d+ steps\) \| 0 failed/m, output);
  assert.match(output, /reconnects after a restart \.\.\. ok/, output);
  assert.match(output, /demo shows offsets and a recovered badge \.\.\. ok/, output);
  assert.match(output, /quick start works verbatim from another origin \.\.\. ok/, output);
});
