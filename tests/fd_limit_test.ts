import assert from "node:assert/strict";
import { connectionCaps, openFileLimit } from "../src/fd_limit.ts";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            512                  20000                files
Max locked memory         8388608              8388608              bytes
`;

Deno.test("openFileLimit() reads the soft limit from /proc/self/limits", () => {
  assert.equal(openFileLimit(() => LIMITS), 512);
});

Deno.test("openFileLimit() is undefined when unlimited or unreadable", () => {
  assert.equal(openFileLimit(() => LIMITS.replace("512   ", "unlimited")), undefined);
  assert.equal(
    openFileLimit(() => {
      throw new Deno.errors.NotFound("no /proc");
    }),
    undefined,
  );
  assert.equal(openFileLimit(() => "garbage"), undefined);
});

Deno.test("openFileLimit() reads this process's limit on Linux", () => {
  if (Deno.build.os !== "linux") return;
  const limit = openFileLimit();
  assert.ok(limit === undefined || (Number.isSafeInteger(limit) && limit > 0), String(limit));
});

Deno.test("connectionCaps() keeps 64 descriptors plus a quarter of the limit out of the WebSocket cap", () => {
  assert.deepEqual(connectionCaps(50_000, 512), { wsConnections: 320, httpInFlight: 128 });
  assert.deepEqual(connectionCaps(50_000, 1024), { wsConnections: 704, httpInFlight: 256 });
  assert.deepEqual(connectionCaps(50_000, 65_536), { wsConnections: 49_088, httpInFlight: 16_384 });
  // MAX_CONNECTIONS wins when it is lower.
  assert.deepEqual(connectionCaps(100, 65_536), { wsConnections: 100, httpInFlight: 16_384 });
  // Tiny limits still leave one WebSocket and 16 requests.
  assert.deepEqual(connectionCaps(50_000, 32), { wsConnections: 1, httpInFlight: 16 });
  // Unknown limit: only the setting applies.
  assert.deepEqual(connectionCaps(50_000, undefined), {
    wsConnections: 50_000,
    httpInFlight: Infinity,
  });
});
