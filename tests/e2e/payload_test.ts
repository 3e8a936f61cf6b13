/**
 * PROTOCOL.md v1.2 "Payloads: any JSON value", end to end in both modes: any JSON value except
 * null is delivered, stored and replayed as the same value; strings stay byte-for-byte v1; the
 * size limit counts a string's own bytes, else its JSON text's; too deep, non-finite numbers
 * and lone surrogates are 400.
 */
import assert from "node:assert/strict";
import { bcryptHasher } from "../../src/channels/tokens.ts";
import { DatabaseSync } from "node:sqlite";
import { startTestServer } from "../_helpers.ts";
import { bothModes } from "./_both_modes.ts";
import { assertError, call, createWith, type Json, postJson, WsClient } from "./_v11.ts";

const LIMIT = 200;

function pushBody(channel: string, token: string, messageJson: string): string {
  return `{"messageType":"SERVER_ACTION","action":"PUSH_MESSAGE","data":{"channel":${
    JSON.stringify(channel)
  },"channelToken":${JSON.stringify(token)},"recipients":[],"message":${messageJson}}}`;
}

function nested(depth: number): Json {
  let value: Json = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { k: value };
  return value;
}

const VALUES: readonly [string, Json][] = [
  ["an integer", 42],
  ["a negative float", -3.25],
  ["zero", 0],
  ["a large number", 12345678901234567890],
  ["a tiny number", 5e-324],
  ["true", true],
  ["false", false],
  ["an empty array", []],
  ["an empty object", {}],
  ["an array of mixed values", [1, "two", null, { three: [3] }, false]],
  ["a nested object", { user: { name: "Zoë", tags: ["a", "b"], score: 9.5, ok: true } }],
  ["unicode keys and values", { "频道": "🚀 naïve", "emoji😀": ["\u2028", '\\"quoted"'] }],
  ["64 levels of nesting", nested(64)],
];

bothModes("any JSON value is delivered and replayed as the same value", async (t, servers) => {
  const { publisher, subscriber } = servers;
  const channel = await createWith(publisher, "values", {
    history: { size: 100, ttlSeconds: 600 },
  });
  await using client = await WsClient.connect(subscriber.wsUrl);
  assert.equal((await client.subscribe("values")).message, "Subscribed");

  let offset = 0;
  for (const [what, value] of VALUES) {
    await t.step(`${what} round-trips live`, async () => {
      const reply = await call(publisher, "PUSH_MESSAGE", {
        channel: "values",
        channelToken: channel.token,
        recipients: [],
        message: value,
      });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      offset = reply.body.data.offset;
      const frame = await client.next();
      assert.equal(frame.messageType, "CLIENT_PUSH");
      assert.deepEqual(frame.data.pushMessage.message, value);
      assert.equal(frame.data.pushMessage.offset, offset);
    });
  }

  await t.step("a resuming subscriber gets every value back from history", async () => {
    await using late = await WsClient.connect(subscriber.wsUrl);
    const ack = await late.subscribe("values", { offset: 0, epoch: channel.epoch });
    assert.equal(ack.data.recovery.recovered, true);
    const replayed = await late.pushesUpTo(offset);
    assert.deepEqual(replayed.map((f) => f.data.pushMessage.message), VALUES.map(([, v]) => v));
  });

  await t.step("a targeted push on a channel without history carries the value", async () => {
    const plain = await createWith(publisher, "plain");
    assert.equal((await client.subscribe("plain")).message, "Subscribed");
    const reply = await call(publisher, "PUSH_MESSAGE", {
      channel: "plain",
      channelToken: plain.token,
      recipients: [client.uuid],
      message: { to: "you" },
    });
    assert.deepEqual(reply.body.data, { channel: "plain", channelToken: null });
    assert.deepEqual((await client.next()).data.pushMessage, {
      channel: "plain",
      message: { to: "you" },
    });
  });
});

bothModes("a string message stays byte-for-byte v1", async (_t, servers) => {
  const { publisher, subscriber } = servers;
  const { token } = await createWith(publisher, "v1");
  await using client = await WsClient.connect(subscriber.wsUrl);
  await client.subscribe("v1");
  const message = 'say "hi" \u2028 ünïcödé 🚀 {"not":"json"}';
  const reply = await call(publisher, "PUSH_MESSAGE", {
    channel: "v1",
    channelToken: token,
    recipients: [],
    message,
  });
  assert.deepEqual(reply.body, {
    messageType: "SERVER_ACK",
    code: 200,
    message: "Sent",
    data: { channel: "v1", channelToken: null },
  });
  assert.equal(
    await client.nextRaw(),
    `{"messageType":"CLIENT_PUSH","code":200,"message":"Push Message","data":{"uuid":"${client.uuid}","subscribedChannels":["v1"],"pushMessage":{"channel":"v1","message":${
      JSON.stringify(message)
    }}}}`,
  );
});

bothModes("the size limit, nesting, numbers and surrogates of a message", async (t, servers) => {
  const { publisher } = servers;
  const { token } = await createWith(publisher, "limits");
  const post = (messageJson: string) =>
    postJson(`${publisher.httpUrl}/push`, pushBody("limits", token, messageJson));

  await t.step(
    "an object whose JSON text is at the limit is accepted, one byte more is 413",
    async () => {
      const fits = JSON.stringify({ k: "é".repeat((LIMIT - 8) / 2) });
      assert.equal(new TextEncoder().encode(fits).length, LIMIT);
      assert.equal((await post(fits)).status, 200);
      // Whitespace in the body does not count: the limit is on the value's JSON text.
      assert.equal((await post(fits.replace(":", " :  "))).status, 200);
      const over = JSON.stringify({ k: "é".repeat((LIMIT - 8) / 2), x: 1 });
      const details = assertError(await post(over), 413, "Payload Too Large");
      assert.equal(details, `message is ${LIMIT + 6} bytes; the limit is ${LIMIT}`);
    },
  );

  await t.step("a string counts its own bytes, not its JSON quotes", async () => {
    assert.equal((await post(JSON.stringify("x".repeat(LIMIT)))).status, 200);
    const details = assertError(
      await post(JSON.stringify("é".repeat(LIMIT))),
      413,
      "Payload Too Large",
    );
    assert.equal(details, `message is ${LIMIT * 2} bytes; the limit is ${LIMIT}`);
  });

  await t.step("nesting deeper than 64 levels is 400", async () => {
    assert.equal((await post("[".repeat(64) + "1" + "]".repeat(64))).status, 200);
    const tooDeep = "[".repeat(65) + "1" + "]".repeat(65);
    const details = assertError(await post(tooDeep), 400, "Bad Request");
    assert.match(details ?? "", /^data\.message: .*64 levels/);
  });

  await t.step("a number literal that is not finite is 400", async () => {
    for (const literal of ["1e999", "-1e999", "[1, 2e400]", '{"a":1e309}']) {
      const details = assertError(await post(literal), 400, "Bad Request");
      assert.match(details ?? "", /^data\.message: /, literal);
    }
  });

  await t.step("a lone surrogate anywhere in the message is 400", async () => {
    for (
      const literal of ['"a\\ud800"', '["\\udc00"]', '{"\\ud800":1}', '{"k":{"v":"x\\udbff"}}']
    ) {
      const details = assertError(await post(literal), 400, "Bad Request");
      assert.match(details ?? "", /^data\.message: .*surrogate/, literal);
    }
  });

  await t.step("null and absent stay 400", async () => {
    assertError(await post("null"), 400, "Bad Request");
    const reply = await call(publisher, "PUSH_MESSAGE", {
      channel: "limits",
      channelToken: token,
      recipients: [],
    });
    assert.equal(assertError(reply, 400, "Bad Request"), "data.message: is required");
  });
}, { env: { MAX_MESSAGE_BYTES: String(LIMIT) } });

Deno.test("[e2e] history written by the v1.1 schema replays its strings after the upgrade", async () => {
  const dir = await Deno.makeTempDir({ prefix: "payload-" });
  try {
    const path = `${dir}/old.db`;
    const hasher = bcryptHasher(4);
    const tokenHash = await hasher.hash("old-token");
    hasher.close();
    // The v1.1 schema exactly as its two migrations left it, with a channel and two pushes.
    const db = new DatabaseSync(path);
    db.exec(`
      CREATE TABLE schema_version (version INTEGER NOT NULL);
      INSERT INTO schema_version (version) VALUES (2);
      CREATE TABLE channels (name TEXT PRIMARY KEY NOT NULL, token_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL, epoch TEXT, private INTEGER NOT NULL DEFAULT 0,
        history_size INTEGER, history_ttl_s INTEGER, top_offset INTEGER NOT NULL DEFAULT 0)
        WITHOUT ROWID;
      CREATE TABLE history (channel TEXT NOT NULL, offset INTEGER NOT NULL,
        created_at INTEGER NOT NULL, message TEXT NOT NULL, PRIMARY KEY (channel, offset))
        WITHOUT ROWID;`);
    const now = Date.now();
    db.prepare("INSERT INTO channels VALUES ('old', ?, ?, 'e1', 0, 10, 3600, 2)").run(
      tokenHash,
      now,
    );
    // A v1 string that looks like JSON must come back as the same string.
    db.prepare("INSERT INTO history VALUES ('old', 1, ?, '{\"a\":1}'), ('old', 2, ?, '42')").run(
      now,
      now,
    );
    db.close();

    await using server = await startTestServer({ DB_PATH: path });
    const reply = await call(server, "PUSH_MESSAGE", {
      channel: "old",
      channelToken: "old-token",
      recipients: [],
      message: { a: 1 },
    });
    assert.equal(reply.body.data.offset, 3);
    await using client = await WsClient.connect(server.wsUrl);
    const ack = await client.subscribe("old", { offset: 0, epoch: "e1" });
    assert.equal(ack.data.recovery.recovered, true);
    const replayed = await client.pushesUpTo(3);
    assert.deepEqual(replayed.map((f) => f.data.pushMessage.message), ['{"a":1}', "42", { a: 1 }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
