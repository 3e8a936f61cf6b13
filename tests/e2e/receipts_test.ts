/**
 * PROTOCOL.md v1.2 "Receipts": `receipt: true` counts what a push reached, on every node.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_helpers.ts";
import { RedisServer } from "../cluster/_redis.ts";
import { bothModes } from "./_both_modes.ts";
import { ServerProcess } from "./_process.ts";
import { assertError, call, createWith, NOBODY, WsClient } from "./_v11.ts";

const OTHER = "00000000-0000-4000-8000-000000000001";

bothModes("receipts count local and remote connections exactly", async (t, servers) => {
  const { publisher, subscriber } = servers;
  const plain = await createWith(publisher, "plain");
  const stored = await createWith(publisher, "stored", { history: { size: 10, ttlSeconds: 60 } });
  // Two subscribers on the publisher's node and two on the other (the same node single-node).
  await using a1 = await WsClient.connect(publisher.wsUrl);
  await using a2 = await WsClient.connect(publisher.wsUrl);
  await using b1 = await WsClient.connect(subscriber.wsUrl);
  await using b2 = await WsClient.connect(subscriber.wsUrl);
  for (const client of [a1, a2, b1, b2]) await client.subscribe("plain");
  for (const client of [a1, b1]) await client.subscribe("stored");
  const push = (data: Record<string, unknown>) =>
    call(publisher, "PUSH_MESSAGE", { recipients: [], message: "m", ...data });

  await t.step("a broadcast with receipt counts every connection", async () => {
    const reply = await push({ channel: "plain", channelToken: plain.token, receipt: true });
    assert.deepEqual(reply.body.data, { channel: "plain", channelToken: null, delivered: 4 });
    for (const client of [a1, a2, b1, b2]) {
      assert.equal((await client.next()).data.pushMessage.message, "m");
    }
  });

  await t.step("a stored broadcast with receipt has its offset and the count", async () => {
    const reply = await push({
      channel: "stored",
      channelToken: stored.token,
      receipt: true,
      message: { v: 1 },
    });
    assert.deepEqual(reply.body.data, {
      channel: "stored",
      channelToken: null,
      offset: 1,
      epoch: stored.epoch,
      delivered: 2,
    });
    for (const client of [a1, b1]) {
      assert.deepEqual((await client.next()).data.pushMessage.message, { v: 1 });
    }
  });

  await t.step(
    "a targeted push names the listed UUIDs it did not reach, once, in order",
    async () => {
      const recipients = [NOBODY, b2.uuid, OTHER, a1.uuid.toUpperCase(), NOBODY, b2.uuid];
      const reply = await push({
        channel: "plain",
        channelToken: plain.token,
        receipt: true,
        recipients,
      });
      assert.deepEqual(reply.body.data, {
        channel: "plain",
        channelToken: null,
        delivered: 2,
        undelivered: [NOBODY, OTHER],
      });
      assert.equal((await b2.next()).data.pushMessage.message, "m");
      assert.equal((await a1.next()).data.pushMessage.message, "m");
      assert.ok(await a2.receivedNothing());
      assert.ok(await b1.receivedNothing());
    },
  );

  await t.step("a connection not subscribed to the channel is undelivered", async () => {
    const reply = await push({
      channel: "stored",
      channelToken: stored.token,
      receipt: true,
      recipients: [b2.uuid, b1.uuid],
    });
    assert.deepEqual(reply.body.data, {
      channel: "stored",
      channelToken: null,
      delivered: 1,
      undelivered: [b2.uuid],
    });
    b1.drain();
  });

  await t.step("without receipt, or with receipt: false/null, the ack is v1's", async () => {
    for (const receipt of [undefined, false, null]) {
      const reply = await push({ channel: "plain", channelToken: plain.token, receipt });
      assert.deepEqual(reply.body.data, { channel: "plain", channelToken: null });
    }
  });

  await t.step("a receipt of another type is 400", async () => {
    const reply = await push({ channel: "plain", channelToken: plain.token, receipt: "yes" });
    assert.match(assertError(reply, 400, "Bad Request") ?? "", /^data\.receipt: /);
  });
});

Deno.test("[e2e] a receipt is partial when a node is frozen, and the push still arrives", async () => {
  await using redis = await RedisServer.start();
  await using a = await startTestServer({ REDIS_URL: redis.url });
  await using frozen = await ServerProcess.spawn({ REDIS_URL: redis.url, LOG_LEVEL: "error" });
  const { token } = await createWith(a, "news");
  await using local = await WsClient.connect(a.wsUrl);
  await using remote = await WsClient.connect(`ws://127.0.0.1:${frozen.wsPort}`);
  await local.subscribe("news");
  await remote.subscribe("news");

  frozen.kill("SIGSTOP");
  try {
    const started = Date.now();
    const reply = await call(a, "PUSH_MESSAGE", {
      channel: "news",
      channelToken: token,
      recipients: [],
      message: "while frozen",
      receipt: true,
    });
    const took = Date.now() - started;
    assert.deepEqual(reply.body.data, {
      channel: "news",
      channelToken: null,
      delivered: 1,
      partial: true,
    });
    assert.ok(took >= 900 && took < 3000, `answered after ${took} ms`);
    assert.equal((await local.next()).data.pushMessage.message, "while frozen");
  } finally {
    frozen.kill("SIGCONT");
  }
  // The frozen node delivers what it received once it runs again.
  assert.equal((await remote.next()).data.pushMessage.message, "while frozen");
  // And answers in time again: the next receipt is whole.
  const reply = await call(a, "PUSH_MESSAGE", {
    channel: "news",
    channelToken: token,
    recipients: [],
    message: "thawed",
    receipt: true,
  });
  assert.deepEqual(reply.body.data, { channel: "news", channelToken: null, delivered: 2 });
});
