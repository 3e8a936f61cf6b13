/** Hostile inputs for the publisher and subscriber parsers, as fast-check arbitraries. */
import fc from "fast-check";

const encoder = new TextEncoder();

/** Nested arrays/objects `depth` levels deep, as JSON text. */
export function deepNesting(depth: number, kind: "array" | "object"): string {
  return kind === "array"
    ? "[".repeat(depth) + "]".repeat(depth)
    : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
}

/** Any JSON-ish value, including the awkward ones (prototype keys, huge numbers, NaN-like text). */
const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.string({ unit: "binary", maxLength: 50 }),
  fc.integer(),
  fc.double(),
  fc.constantFrom(null, true, false, 0, -0, 1e308, -1, "", "__proto__", "constructor"),
  fc.constant({ __proto__: { polluted: true } }),
  fc.constant(JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}')),
  fc.array(fc.integer(), { maxLength: 20 }),
);

/** A publisher envelope with any subset of fields, each either plausible or hostile. */
export const mutatedAction: fc.Arbitrary<string> = fc
  .record(
    {
      messageType: fc.oneof(fc.constant("SERVER_ACTION"), weirdValue),
      action: fc.oneof(
        fc.constantFrom("CREATE_CHANNEL", "PING_CHANNEL", "PUSH_MESSAGE", "DELETE_CHANNEL"),
        weirdValue,
      ),
      data: fc.oneof(
        fc.record(
          {
            channel: fc.oneof(
              fc.constantFrom("news", "missing", "", "x".repeat(201), "bad\u0000name"),
              fc.string({ unit: "binary", maxLength: 40 }),
              weirdValue,
            ),
            channelToken: fc.oneof(fc.constant(null), fc.string({ maxLength: 60 }), weirdValue),
            recipients: fc.oneof(
              fc.array(fc.uuid(), { maxLength: 5 }),
              fc.array(weirdValue, { maxLength: 5 }),
              weirdValue,
            ),
            message: fc.oneof(fc.string({ unit: "binary", maxLength: 100 }), weirdValue),
            __proto__: weirdValue,
          },
          { requiredKeys: [] },
        ),
        weirdValue,
      ),
    },
    { requiredKeys: [] },
  )
  .map((value) => JSON.stringify(value));

/** A subscriber frame with any subset of fields, each either plausible or hostile. */
export const mutatedFrame: fc.Arbitrary<string> = fc
  .record(
    {
      messageType: fc.oneof(fc.constant("CLIENT_ACTION"), weirdValue),
      action: fc.oneof(fc.constantFrom("SUBSCRIBE", "UNSUBSCRIBE"), weirdValue),
      data: fc.oneof(
        fc.record({
          channel: fc.oneof(
            fc.constantFrom("news", "missing", ""),
            fc.string({ unit: "binary", maxLength: 40 }),
            weirdValue,
          ),
        }, { requiredKeys: [] }),
        weirdValue,
      ),
      uuid: fc.oneof(fc.uuid(), weirdValue),
    },
    { requiredKeys: [] },
  )
  .map((value) => JSON.stringify(value));

/** Text payloads: JSON-ish or not, nested, huge arrays, any Unicode. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: mutatedAction, weight: 4 },
  { arbitrary: mutatedFrame, weight: 4 },
  { arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)), weight: 2 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 200 }), weight: 2 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 200 }), weight: 1 },
  {
    arbitrary: fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.constantFrom("array", "object"))
      .map(([depth, kind]) => deepNesting(depth, kind as "array" | "object")),
    weight: 1,
  },
  {
    arbitrary: fc.integer({ min: 100, max: 3000 }).map((n) =>
      JSON.stringify({
        messageType: "SERVER_ACTION",
        action: "PUSH_MESSAGE",
        data: {
          channel: "news",
          channelToken: "x",
          recipients: new Array(n).fill(1),
          message: "m",
        },
      })
    ),
    weight: 1,
  },
);

/** Raw body bytes: encoded hostile text, random bytes, or text with invalid UTF-8 spliced in. */
export const hostileBytes: fc.Arbitrary<Uint8Array<ArrayBuffer>> = fc.oneof(
  { arbitrary: hostileText.map((t) => encoder.encode(t)), weight: 6 },
  { arbitrary: fc.uint8Array({ maxLength: 512 }), weight: 2 },
  {
    arbitrary: fc.tuple(
      mutatedAction,
      fc.constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [
        0xe2,
        0x82,
      ]),
      fc.nat(),
    ).map(([text, bad, at]) => {
      const bytes = encoder.encode(text);
      const cut = at % (bytes.length + 1);
      const out = new Uint8Array(bytes.length + bad.length);
      out.set(bytes.subarray(0, cut));
      out.set(bad, cut);
      out.set(bytes.subarray(cut), cut + bad.length);
      return out;
    }),
    weight: 2,
  },
);
