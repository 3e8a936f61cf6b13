import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../src/config.ts";

Deno.test("MAX_REPLAY_BYTES_IN_FLIGHT is 64 MiB by default, 1 MiB to 4 GiB", () => {
  assert.equal(loadConfig({}).maxReplayBytesInFlight, 64 * 1024 * 1024);
  assert.equal(
    loadConfig({ MAX_REPLAY_BYTES_IN_FLIGHT: "1048576" }).maxReplayBytesInFlight,
    1 << 20,
  );
  assert.equal(
    loadConfig({ MAX_REPLAY_BYTES_IN_FLIGHT: "4294967296" }).maxReplayBytesInFlight,
    4 * 1024 * 1024 * 1024,
  );
  for (const bad of ["1048575", "4294967297", "x", "-1"]) {
    assert.throws(
      () => loadConfig({ MAX_REPLAY_BYTES_IN_FLIGHT: bad }),
      (e) => e instanceof ConfigError && /MAX_REPLAY_BYTES_IN_FLIGHT/.test(e.message),
    );
  }
});
