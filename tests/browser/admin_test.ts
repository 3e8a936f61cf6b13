/** Runs `_admin_scenario.ts` as a child `deno test -A` (see `_child.ts` for why). */
import assert from "node:assert/strict";
import { runScenarios } from "./_child.ts";

Deno.test("[browser] the admin page works in Chromium, on one node and on a two-node cluster", async () => {
  const output = await runScenarios("_admin_scenario.ts", {
    check: false,
    env: Deno.env.get("UPDATE_SCREENSHOTS") === "1" ? { UPDATE_SCREENSHOTS: "1" } : {},
  });
  assert.match(output, /^ok \| 2 passed \(\d+ steps\) \| 0 failed/m, output);
});
