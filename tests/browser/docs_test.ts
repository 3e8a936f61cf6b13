/** Runs `_docs_scenario.ts` as a child `deno test -A` (see `_child.ts` for why). */
import assert from "node:assert/strict";
import { runScenarios } from "./_child.ts";

Deno.test("[browser] /docs renders offline in Chromium", async () => {
  const output = await runScenarios("_docs_scenario.ts", { check: false });
  assert.match(output, /^ok \| 1 passed \(2 steps\) \| 0 failed/m, output);
});
