import assert from "node:assert/strict";
import fc from "fast-check";
import { inboundSchema, parseInbound } from "../../src/protocol/inbound.ts";
import { wellFormedInbound } from "../../src/protocol/inbound_fast_path.ts";

/** Mostly present: absent one time in eight. */
const field = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined, freq: 8 });
/** Mostly `usual`, sometimes one of the near misses. */
const mostly = <T>(usual: fc.Arbitrary<T>, ...misses: fc.Arbitrary<unknown>[]) =>
  fc.oneof({ arbitrary: usual, weight: 3 * misses.length }, ...misses);

const channel = mostly(
  fc.constantFrom("news", "x".repeat(200), "频道 🚀"),
  fc.constantFrom("", "x".repeat(201), "a\u0000b"),
  fc.string(),
  fc.integer(),
  fc.constant(null),
);
const since = mostly(
  fc.record({ offset: fc.nat(), epoch: fc.string() }),
  fc.record({
    offset: field(
      fc.oneof(
        fc.integer({ min: -3, max: 3 }),
        fc.integer(),
        fc.constantFrom(-0, 1.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2),
        fc.string(),
      ),
    ),
    epoch: field(mostly(fc.string(), fc.integer(), fc.constant(null))),
    extra: field(fc.string()),
  }),
  fc.constant(null),
  fc.string(),
  fc.array(fc.nat(), { maxLength: 2 }),
);
/** Frames like the ones clients send, and near misses of every field. */
const frame = fc.record({
  messageType: field(mostly(fc.constant("CLIENT_ACTION"), fc.string())),
  action: field(
    mostly(fc.constantFrom("SUBSCRIBE", "UNSUBSCRIBE"), fc.constantFrom("subscribe", "PUSH", "")),
  ),
  data: field(
    mostly(
      fc.record({
        channel: field(channel),
        since: fc.option(since, { nil: undefined, freq: 2 }),
        extra: field(fc.string()),
      }),
      fc.array(fc.string(), { maxLength: 2 }),
      fc.constant(null),
      fc.string(),
    ),
  ),
  uuid: fc.option(mostly(fc.uuid(), fc.string(), fc.constant(null), fc.integer()), {
    nil: undefined,
    freq: 2,
  }),
  extra: field(fc.string()),
});

Deno.test("wellFormedInbound() agrees with the zod schema on every frame-like value", () => {
  fc.assert(
    fc.property(frame, (generated) => {
      const json = JSON.parse(JSON.stringify(generated));
      const fast = wellFormedInbound(json);
      const zod = inboundSchema.safeParse(json);
      assert.equal(fast !== undefined, zod.success, JSON.stringify(json));
      if (fast !== undefined && zod.success) assert.deepEqual(fast, zod.data);
    }),
    { numRuns: 5000 },
  );
});

Deno.test("parseInbound() takes the fast path for a plain SUBSCRIBE and keeps zod's answer", () => {
  const text = '{"messageType":"CLIENT_ACTION","action":"SUBSCRIBE","data":{"channel":"c"}}';
  const result = parseInbound(text);
  assert.deepEqual(result, {
    ok: true,
    value: { messageType: "CLIENT_ACTION", action: "SUBSCRIBE", data: { channel: "c" } },
  });
  assert.deepEqual(wellFormedInbound(JSON.parse(text)), result.ok ? result.value : undefined);
  // What the fast path leaves to zod is still worded by zod.
  const wrong = parseInbound('{"messageType":"CLIENT_ACTION","action":"SUBSCRIBE","data":{}}');
  assert.equal(wrong.ok, false);
  assert.equal(
    wellFormedInbound({ messageType: "CLIENT_ACTION", action: "SUBSCRIBE", data: {} }),
    undefined,
  );
});
