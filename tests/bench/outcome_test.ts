/**
 * The bench smoke's judgement: a busy machine is reported, a broken bench fails. The messages
 * below are worded as bench/run.ts and bench/generator.ts word them.
 */
import assert from "node:assert/strict";
import { causeOf, verdict } from "../../bench/_outcome.ts";

const SLOW_START = "Error: pushserver did not start within 90 s: ";
const PORT_TAKEN =
  "Error: pushserver exited before listening (exit code 1): pushserver: PORT_WS: " +
  "cannot listen on 127.0.0.1:41234: Address already in use (os error 98)";
const STARTUP_BUG = "Error: pushserver exited before listening (exit code 1): error: Uncaught " +
  "(in promise) TypeError: config.nope is not a function";
const HUNG = "generator timed out after 121.3 s and was killed";
const OOM_KILLED = "generator failed (killed by signal SIGKILL): ";
const RESET = "Connection reset by peer (os error 104)";
const REFUSED =
  "TypeError: error sending request for url (http://127.0.0.1:4000/channel/create): " +
  "client error (Connect): tcp connect error: Connection refused (os error 111)";
const HANDSHAKE_EOF = "WebSocket handshake: connection closed";
const BUSY_503 = 'push answered 503: {"messageType":"ERROR","code":503}';
const GENERATOR_BUG =
  "generator failed (exit code 1): error: Uncaught SyntaxError: Unexpected token";
const PROTOCOL_CHANGED = 'subscribe failed: {"messageType":"ERROR","code":400}';
const SERVER_500 = 'push answered 500: {"messageType":"ERROR","code":500}';
const MISSING_METRIC = 'no ratio from pushserver {} and baseline {"deliveriesPerS":1}';
const CRASHED = "pushserver exited during the scenario (exit code 1): error: Uncaught RangeError";
const CRASH_RESET = "Connection reset by peer (os error 104)";
const SERVER_OOM = "pushserver exited during the scenario (killed by signal SIGKILL): ";

Deno.test("causeOf: what a busy or crowded machine causes is the environment", () => {
  for (
    const error of [
      SLOW_START,
      PORT_TAKEN,
      HUNG,
      OOM_KILLED,
      RESET,
      REFUSED,
      HANDSHAKE_EOF,
      BUSY_503,
      SERVER_OOM,
    ]
  ) {
    assert.equal(causeOf(error), "environment", error);
  }
});

Deno.test("causeOf: anything else is a defect; a server dying with an exit code is a crash", () => {
  for (const error of [STARTUP_BUG, GENERATOR_BUG, PROTOCOL_CHANGED, SERVER_500, MISSING_METRIC]) {
    assert.equal(causeOf(error), "defect", error);
  }
  assert.equal(causeOf(CRASHED), "crash");
});

Deno.test("verdict: a scenario that works, at once or on a retry, is ok and says what it retried", () => {
  assert.deepEqual(verdict([[]]), { kind: "ok", retried: [] });
  assert.deepEqual(verdict([[SLOW_START], [GENERATOR_BUG], []]), {
    kind: "ok",
    retried: [`attempt 1: ${SLOW_START}`, `attempt 2: ${GENERATOR_BUG}`],
  });
});

Deno.test("verdict: a busy machine on every attempt is inconclusive, never broken", () => {
  assert.equal(verdict([[SLOW_START], [PORT_TAKEN], [HUNG]]).kind, "inconclusive");
  // One attempt explained by the machine is enough: the defect did not reproduce every time.
  assert.equal(verdict([[PROTOCOL_CHANGED], [RESET], [PROTOCOL_CHANGED]]).kind, "inconclusive");
  // A defect-looking error next to a reset in the same attempt is the reset's consequence.
  assert.equal(
    verdict([[PROTOCOL_CHANGED, RESET], [PROTOCOL_CHANGED, REFUSED], [PROTOCOL_CHANGED, RESET]])
      .kind,
    "inconclusive",
  );
  assert.equal(verdict([[SERVER_OOM], [SERVER_OOM], [SERVER_OOM]]).kind, "inconclusive");
});

Deno.test("verdict: a defect on every attempt is broken, with every attempt's reason", () => {
  const judged = verdict([[GENERATOR_BUG], [STARTUP_BUG], [MISSING_METRIC, SERVER_500]]);
  assert.deepEqual(judged, {
    kind: "broken",
    reasons: [
      `attempt 1: ${GENERATOR_BUG}`,
      `attempt 2: ${STARTUP_BUG}`,
      `attempt 3: ${MISSING_METRIC}; ${SERVER_500}`,
    ],
  });
});

Deno.test("verdict: a server that crashes under load is broken even though its clients saw resets", () => {
  assert.equal(
    verdict([[CRASH_RESET, CRASHED], [CRASH_RESET, CRASHED], [CRASHED]]).kind,
    "broken",
  );
});

Deno.test("verdict: no attempt at all is a programming error", () => {
  assert.throws(() => verdict([]), /no attempts/);
});
