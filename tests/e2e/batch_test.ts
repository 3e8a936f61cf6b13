/**
 * PROTOCOL.md v1.2 "Batch publish": `POST /push/batch` (`PUSH_BATCH`) in both modes.
 */
import assert from "node:assert/strict";
import { bothModes } from "./_both_modes.ts";
import { assertError, call, createWith, type Json, NOBODY, postJson, WsClient } from "./_v11.ts";

const LIMIT = 100;

function batch(pushes: unknown): Record<string, unknown> {
  return { pushes };
}

/** The `{code, message, data}` of a /push answer, as a batch result carries it. */
function asResult(body: Json): Json {
  const { messageType: _, ...result } = body;
  return result;
}

bothModes("a batch answers each item exactly as /push would", async (t, servers) => {
  const { publisher, subscriber } = servers;
  const news = await createWith(publisher, "news");
  const other = await createWith(publisher, "other");
  await using client = await WsClient.connect(subscriber.wsUrl);
  await client.subscribe("news");

  const items: Record<string, unknown>[] = [
    { channel: "news", channelToken: news.token, recipients: [], message: "first" },
    { channel: "news", channelToken: other.token, recipients: [], message: "wrong token" },
    { channel: "missing", channelToken: news.token, recipients: [], message: "no channel" },
    { channel: "news", channelToken: news.token, recipients: [], message: "é".repeat(LIMIT) },
    { channel: "news", channelToken: news.token, recipients: [NOBODY, "nope"], message: "x" },
    { channel: "news", channelToken: null, recipients: [], message: "no token" },
    { channel: "news", channelToken: news.token, recipients: [], message: null },
    { channel: "news", channelToken: news.token, recipients: [], message: { n: 2 } },
  ];

  await t.step("results are in order and equal the single answers", async () => {
    const reply = await call(publisher, "PUSH_BATCH", batch(items));
    assert.equal(reply.status, 200);
    assert.equal(reply.body.messageType, "SERVER_ACK");
    assert.equal(reply.body.message, "Batch");
    const { results } = reply.body.data;
    assert.deepEqual(results.map((r: Json) => r.code), [200, 403, 404, 413, 400, 401, 400, 200]);
    assert.deepEqual(results[4].data, { errorDetails: "data.recipients[1]: invalid UUID" });
    assert.deepEqual(results[3].data, {
      errorDetails: `message is ${2 * LIMIT} bytes; the limit is ${LIMIT}`,
    });
    // Only the good items were delivered, in list order.
    assert.equal((await client.next()).data.pushMessage.message, "first");
    assert.deepEqual((await client.next()).data.pushMessage.message, { n: 2 });
    assert.ok(await client.receivedNothing());
    for (const [i, item] of items.entries()) {
      const single = await call(publisher, "PUSH_MESSAGE", item);
      assert.deepEqual(results[i], asResult(single.body), `item ${i}`);
    }
    client.drain();
  });

  await t.step("a batch of 100 is accepted, and every push is counted", async () => {
    const metrics = async () => {
      const text = await (await fetch(`${publisher.httpUrl}/metrics`)).text();
      return Number(/^pushserver_pushes_total (\d+)$/m.exec(text)?.[1]);
    };
    const before = await metrics();
    const pushes = Array.from({ length: 100 }, (_, i) => ({
      channel: "news",
      channelToken: news.token,
      recipients: [],
      message: i,
    }));
    const reply = await call(publisher, "PUSH_BATCH", batch(pushes));
    assert.equal(reply.body.data.results.length, 100);
    assert.ok(reply.body.data.results.every((r: Json) => r.code === 200));
    assert.equal(await metrics(), before + 100);
    for (let i = 0; i < 100; i++) assert.equal((await client.next()).data.pushMessage.message, i);
  });
}, { env: { MAX_MESSAGE_BYTES: String(LIMIT) } });

bothModes("batches keep per-channel order, also when concurrent", async (t, servers) => {
  const { publisher, subscriber } = servers;
  const stored = await createWith(publisher, "stored", {
    history: { size: 1000, ttlSeconds: 600 },
  });
  const plain = await createWith(publisher, "plain");
  await using client = await WsClient.connect(subscriber.wsUrl);
  await client.subscribe("stored");
  await client.subscribe("plain");

  await t.step("history items get consecutive offsets in list order", async () => {
    const reply = await call(
      publisher,
      "PUSH_BATCH",
      batch(["a", "b", "c"].map((message) => ({
        channel: "stored",
        channelToken: stored.token,
        recipients: [],
        message,
      }))),
    );
    const offsets = reply.body.data.results.map((r: Json) => r.data.offset);
    assert.deepEqual(offsets, [1, 2, 3]);
    assert.ok(reply.body.data.results.every((r: Json) => r.data.epoch === stored.epoch));
    const frames = await client.pushesUpTo(3);
    assert.deepEqual(frames.map((f) => f.data.pushMessage.message), ["a", "b", "c"]);
  });

  await t.step("four concurrent batches over two channels", async () => {
    const batches = 4;
    const perBatch = 40;
    const replies = await Promise.all(
      Array.from({ length: batches }, (_, b) =>
        call(
          publisher,
          "PUSH_BATCH",
          batch(Array.from({ length: perBatch }, (_, i) => {
            const onStored = i % 2 === 0;
            return {
              channel: onStored ? "stored" : "plain",
              channelToken: onStored ? stored.token : plain.token,
              recipients: [],
              message: { b, i },
            };
          })),
        )),
    );
    for (const reply of replies) {
      assert.ok(reply.body.data.results.every((r: Json) => r.code === 200));
    }
    const received: Json[] = [];
    while (received.length < batches * perBatch) received.push(await client.next());
    for (const channel of ["stored", "plain"]) {
      const next = new Map<number, number>();
      for (const frame of received.filter((f) => f.data.pushMessage.channel === channel)) {
        const { b, i } = frame.data.pushMessage.message;
        assert.ok(i > (next.get(b) ?? -1), `${channel}: batch ${b} item ${i} out of order`);
        next.set(b, i);
      }
    }
    // On the history channel, list order is offset order too.
    for (const reply of replies) {
      const offsets = reply.body.data.results
        .filter((r: Json) => r.data.channel === "stored")
        .map((r: Json) => r.data.offset);
      assert.deepEqual(offsets, [...offsets].sort((x: number, y: number) => x - y));
    }
  });
});

bothModes("a batch is refused as a whole only for the request itself", async (t, { publisher }) => {
  const { token } = await createWith(publisher, "news");
  const item = { channel: "news", channelToken: token, recipients: [], message: "m" };
  const cases: [string, unknown, RegExp][] = [
    ["pushes missing", {}, /^data\.pushes: is required/],
    ["pushes empty", batch([]), /^data\.pushes: /],
    ["101 pushes", batch(Array.from({ length: 101 }, () => item)), /^data\.pushes: /],
    ["not an array", batch(item), /^data\.pushes: /],
    ["an item not an object", batch([item, 1]), /^data\.pushes\[1\]: /],
    ["an item that is an array", batch([[item]]), /^data\.pushes\[0\]: /],
  ];
  for (const [what, data, pattern] of cases) {
    await t.step(`400 when ${what}`, async () => {
      const reply = await call(publisher, "PUSH_BATCH", data as Record<string, unknown>);
      assert.match(assertError(reply, 400, "Bad Request") ?? "", pattern);
    });
  }
  await t.step("400 for the wrong action, 405 for GET, not-JSON 400", async () => {
    const wrong = await postJson(`${publisher.httpUrl}/push/batch`, {
      messageType: "SERVER_ACTION",
      action: "PUSH_MESSAGE",
      data: batch([item]),
    });
    assertError(wrong, 400, "Bad Request");
    const get = await fetch(`${publisher.httpUrl}/push/batch`);
    await get.body?.cancel();
    assert.equal(get.status, 405);
    assertError(await postJson(`${publisher.httpUrl}/push/batch`, "{"), 400, "Bad Request");
  });
});
