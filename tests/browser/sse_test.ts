/** Runs the Chromium SSE scenarios in `_sse_scenarios.ts` as a child `deno test -A` (see `_child.ts`). */
import assert from "node:assert/strict";
import { runScenarios } from "./_child.ts";

Deno.test("[browser] EventSource with ?channel= and the client's SSE fallback, in Chromium", async () => {
  const output = await runScenarios("_sse_scenarios.ts");
  assert.match(output, /^ok \| 1 passed \(2 steps\) \| 0 failed/m, output);
  assert.match(output, /plain EventSource with \?channel= .* \.\.\. ok/, output);
  assert.match(output, /the client falls back to SSE \.\.\. ok/, output);
});
