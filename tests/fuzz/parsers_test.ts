import assert from "node:assert/strict";
import fc from "fast-check";
import { ERRORS, PushError } from "../../src/errors.ts";
import { type ActionName, parseAction } from "../../src/protocol/api.ts";
import { parseInbound } from "../../src/protocol/inbound.ts";
import { errorEnvelope } from "../../src/protocol/outbound.ts";
import { hostileText } from "./_arbitraries.ts";

const ACTIONS: ActionName[] = ["CREATE_CHANNEL", "PING_CHANNEL", "PUSH_MESSAGE", "DELETE_CHANNEL"];

/** Runs per property; the figures in the README's Reliability section count these. */
export const PARSER_RUNS = 3000;

function assertValidError(error: unknown, allowed: number[]): void {
  assert.ok(error instanceof PushError);
  assert.ok(allowed.includes(error.status), `status ${error.status}`);
  const envelope = JSON.parse(errorEnvelope(error));
  assert.equal(envelope.messageType, "ERROR");
  assert.equal(envelope.code, error.status);
  assert.equal(envelope.message, ERRORS[error.code].message);
  assert.equal(typeof envelope.data.errorDetails, "string");
  assert.ok(envelope.data.errorDetails.length < 300, "errorDetails is one short sentence");
}

Deno.test("parseAction() never throws: any text is a request or a 400/413 error", () => {
  fc.assert(
    fc.property(hostileText, fc.constantFrom(...ACTIONS), (text, action) => {
      const result = parseAction(action, text, { maxMessageBytes: 64 });
      if (result.ok) assert.equal(result.value.action, action);
      else assertValidError(result.error, [400, 413]);
    }),
    { numRuns: PARSER_RUNS },
  );
  assert.equal(({} as Record<string, unknown>).polluted, undefined, "no prototype pollution");
});

Deno.test("parseInbound() never throws: any text is a frame or a 400 error", () => {
  fc.assert(
    fc.property(hostileText, (text) => {
      const result = parseInbound(text);
      if (result.ok) assert.ok(["SUBSCRIBE", "UNSUBSCRIBE"].includes(result.value.action));
      else assertValidError(result.error, [400]);
    }),
    { numRuns: PARSER_RUNS },
  );
  assert.equal(({} as Record<string, unknown>).polluted, undefined, "no prototype pollution");
});
