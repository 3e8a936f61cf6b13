import assert from "node:assert/strict";
import fc from "fast-check";
import { ACTION_SCHEMAS, parseAction, wellFormedPush } from "../../src/protocol/api.ts";

const limits = { maxMessageBytes: 16 };
const uuid = "3f0c4b8e-7d2a-4c1b-9a6e-2b5d8f1e0c7a";

function body(action: string, data: unknown, messageType: unknown = "SERVER_ACTION"): string {
  return JSON.stringify({ messageType, action, data });
}

Deno.test("parseAction() accepts each action's documented shape", () => {
  const create = parseAction("CREATE_CHANNEL", body("CREATE_CHANNEL", { channel: "news" }), limits);
  assert.deepEqual(create, {
    ok: true,
    value: {
      messageType: "SERVER_ACTION",
      action: "CREATE_CHANNEL",
      data: { channel: "news", history: null, private: false, presence: false },
    },
  });
  const withOptions = parseAction(
    "CREATE_CHANNEL",
    body("CREATE_CHANNEL", {
      channel: "news",
      history: { size: 10, ttlSeconds: 60 },
      private: true,
    }),
    limits,
  );
  assert.ok(withOptions.ok);
  assert.deepEqual(withOptions.value.data.history, { size: 10, ttlSeconds: 60 });
  assert.equal(withOptions.value.data.private, true);
  const push = parseAction(
    "PUSH_MESSAGE",
    body("PUSH_MESSAGE", {
      channel: "n",
      channelToken: "t",
      recipients: [uuid.toUpperCase()],
      message: "m",
    }),
    limits,
  );
  assert.ok(push.ok);
  assert.deepEqual(push.value.data.recipients, [uuid], "UUIDs are normalized to lower case");
});

Deno.test("parseAction() treats an absent token like null", () => {
  const ping = parseAction("PING_CHANNEL", body("PING_CHANNEL", { channel: "n" }), limits);
  assert.ok(ping.ok);
  assert.equal(ping.value.data.channelToken, null);
});

Deno.test("parseAction() rejects bad input with the protocol's code and a precise detail", () => {
  const cases: [string, number, string][] = [
    ["not json", 400, "Body is not valid JSON"],
    ["[1]", 400, "body must be an object"],
    [body("PING_CHANNEL", { channel: "n" }), 400, 'action: must be "CREATE_CHANNEL"'],
    [body("CREATE_CHANNEL", { channel: "n" }, "X"), 400, 'messageType: must be "SERVER_ACTION"'],
    [body("CREATE_CHANNEL", null), 400, "data: must be an object"],
    [body("CREATE_CHANNEL", {}), 400, "data.channel: is required"],
    [body("CREATE_CHANNEL", { channel: 1 }), 400, "data.channel: must be a string"],
    [
      body("CREATE_CHANNEL", { channel: "" }),
      400,
      "data.channel: must be 1 to 200 characters long",
    ],
    [
      body("CREATE_CHANNEL", { channel: "a\u0007" }),
      400,
      "data.channel: must not contain control characters",
    ],
  ];
  for (const [text, status, details] of cases) {
    const result = parseAction("CREATE_CHANNEL", text, limits);
    assert.ok(!result.ok, text);
    assert.equal(result.error.status, status, text);
    assert.equal(result.error.details, details, text);
  }
});

Deno.test("parseAction() names the failing recipient index", () => {
  const result = parseAction(
    "PUSH_MESSAGE",
    body("PUSH_MESSAGE", {
      channel: "n",
      channelToken: "t",
      recipients: [uuid, "nope"],
      message: "m",
    }),
    limits,
  );
  assert.ok(!result.ok);
  assert.equal(result.error.details, "data.recipients[1]: invalid UUID");
});

Deno.test("parseAction() answers 413 for an oversized message before any other field check", () => {
  const message = "€".repeat(6); // 18 UTF-8 bytes, 6 characters
  const result = parseAction(
    "PUSH_MESSAGE",
    body("PUSH_MESSAGE", { channel: "", recipients: "bad", message }),
    limits,
  );
  assert.ok(!result.ok);
  assert.equal(result.error.status, 413);
  assert.equal(result.error.details, "message is 18 bytes; the limit is 16");
  const fits = parseAction(
    "PUSH_MESSAGE",
    body("PUSH_MESSAGE", {
      channel: "n",
      channelToken: "t",
      recipients: [],
      message: "€".repeat(5),
    }),
    limits,
  );
  assert.ok(fits.ok, "15 bytes fit");
});

Deno.test("parseAction() ignores __proto__ keys and unknown fields", () => {
  const text =
    '{"__proto__":{"polluted":1},"messageType":"SERVER_ACTION","action":"CREATE_CHANNEL",' +
    '"data":{"channel":"n","__proto__":{"x":1},"extra":true}}';
  const result = parseAction("CREATE_CHANNEL", text, limits);
  assert.ok(result.ok);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("wellFormedPush() agrees with the zod schema on every push-like body", () => {
  const channel = fc.oneof(
    fc.constantFrom(
      "news",
      "",
      "x".repeat(200),
      "x".repeat(201),
      "a\u0000b",
      "频道 🚀",
      "😀".repeat(200),
    ),
    fc.string(),
    fc.integer(),
    fc.constant(null),
  );
  const recipient = fc.oneof(fc.uuid(), fc.constant(uuid.toUpperCase()), fc.string(), fc.integer());
  const field = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });
  const body = fc.record({
    messageType: fc.oneof(fc.constant("SERVER_ACTION"), fc.string()),
    action: fc.oneof(fc.constant("PUSH_MESSAGE"), fc.constant("PING_CHANNEL")),
    data: fc.oneof(
      fc.record({
        channel: field(channel),
        channelToken: field(fc.oneof(fc.string(), fc.constant(null), fc.integer())),
        recipients: field(fc.oneof(fc.array(recipient, { maxLength: 4 }), fc.string())),
        message: field(fc.oneof(fc.string(), fc.integer())),
        extra: field(fc.string()),
      }),
      fc.array(fc.string()),
      fc.constant(null),
    ),
  });
  fc.assert(
    fc.property(body, (generated) => {
      const json = JSON.parse(JSON.stringify(generated));
      const fast = wellFormedPush(json);
      const zod = ACTION_SCHEMAS.PUSH_MESSAGE.safeParse(json);
      // The fast path only takes string messages (v1.2: any JSON value is valid; zod decides).
      if (typeof json?.data?.message === "string") {
        assert.equal(fast !== undefined, zod.success, JSON.stringify(json));
      } else assert.ok(fast === undefined || zod.success, JSON.stringify(json));
      if (fast !== undefined && zod.success) assert.deepEqual(fast, zod.data);
    }),
    { numRuns: 3000 },
  );
});
