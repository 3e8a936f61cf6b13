/**
 * The subscriber protocol's behaviours, one test body run over WebSocket and Server-Sent
 * Events, single node and two cluster nodes (subscribers on A, publishers on B).
 */
import assert from "node:assert/strict";
import { broadcast, call, createWith } from "./_v11.ts";
import { connect, MATRIX, startNodes, subscribe, unsubscribe } from "./_transport.ts";
import { clientFrame } from "../_helpers.ts";

for (const { transport, backend } of MATRIX) {
  Deno.test(`[e2e] subscriber protocol over ${transport} (${backend})`, async (t) => {
    await using nodes = await startNodes(backend);
    const { a, b } = nodes;
    const news = await createWith(b, "news");
    await using client = await connect(a, transport);
    await using other = await connect(a, transport);

    await t.step("subscribe, push, unsubscribe, in order", async () => {
      const ack = await subscribe(client, "news");
      assert.equal(ack.messageType, "CLIENT_ACK");
      assert.equal(ack.message, "Subscribed");
      assert.deepEqual(ack.data, { uuid: client.uuid, subscribedChannels: ["news"] });
      assert.deepEqual((await subscribe(client, "news")).data.subscribedChannels, ["news"]);
      await broadcast(b, "news", news.token, "one");
      await broadcast(b, "news", news.token, "two");
      for (const message of ["one", "two"]) {
        const frame = await client.next();
        assert.deepEqual(frame, {
          messageType: "CLIENT_PUSH",
          code: 200,
          message: "Push Message",
          data: {
            uuid: client.uuid,
            subscribedChannels: ["news"],
            pushMessage: { channel: "news", message },
          },
        });
      }
      assert.equal(await other.receivedNothing(), true);
      assert.deepEqual((await unsubscribe(client, "news")).data.subscribedChannels, []);
      await broadcast(b, "news", news.token, "three");
      assert.equal(await client.receivedNothing(), true);
    });

    await t.step("errors: missing channel 404, bad JSON, bad shape, foreign uuid", async () => {
      const missing = await subscribe(client, "nope");
      assert.equal(missing.code, 404);
      assert.equal(missing.message, "Not found");
      assert.equal((await client.refused("{not json")).message, "Bad JSON");
      assert.equal(
        (await client.refused(clientFrame("JUMP", "news"))).message,
        "Invalid message",
      );
      const foreign = await subscribe(client, "news", {});
      assert.equal(foreign.message, "Subscribed");
      await client.send(clientFrame("UNSUBSCRIBE", "news", { uuid: other.uuid }));
      const refused = await client.next();
      assert.equal(refused.code, 403);
      await unsubscribe(client, "news");
    });

    await t.step("a targeted push reaches only the listed subscriber", async () => {
      await subscribe(client, "news");
      await subscribe(other, "news");
      const reply = await call(b, "PUSH_MESSAGE", {
        channel: "news",
        channelToken: news.token,
        recipients: [other.uuid],
        message: "just you",
      });
      assert.equal(reply.status, 200);
      assert.equal((await other.next()).data.pushMessage.message, "just you");
      assert.equal(await client.receivedNothing(), true);
    });

    await t.step("delete: subscribers get Channel Deleted", async () => {
      const reply = await call(b, "DELETE_CHANNEL", { channel: "news", channelToken: news.token });
      assert.equal(reply.status, 200);
      for (const subscriber of [client, other]) {
        const frame = await subscriber.next();
        assert.equal(frame.message, "Channel Deleted");
        assert.deepEqual(frame.data.subscribedChannels, []);
      }
    });

    await t.step("private: 403 without a grant; grant, then revoke", async () => {
      const vip = await createWith(b, "vip", { private: true });
      const refused = await subscribe(client, "vip");
      assert.equal(refused.code, 403);
      const granted = await call(b, "AUTHORIZE_SUBSCRIBER", {
        channel: "vip",
        channelToken: vip.token,
        uuid: client.uuid,
      });
      assert.equal(granted.status, 200);
      assert.equal((await subscribe(client, "vip")).message, "Subscribed");
      const revoked = await call(b, "REVOKE_SUBSCRIBER", {
        channel: "vip",
        channelToken: vip.token,
        uuid: client.uuid,
      });
      assert.equal(revoked.status, 200);
      const frame = await client.next();
      assert.equal(frame.message, "Subscription Revoked");
      assert.deepEqual(frame.data.subscribedChannels, []);
    });

    await t.step("recovery: missed pushes replayed in order after the ack", async () => {
      const log = await createWith(b, "log", { history: { size: 100, ttlSeconds: 3600 } });
      const first = await subscribe(client, "log");
      assert.equal(first.data.recovery.recovered, false);
      const top = first.data.recovery.offset;
      await unsubscribe(client, "log");
      for (const message of ["m1", "m2", "m3"]) await broadcast(b, "log", log.token, message);
      const ack = await subscribe(client, "log", { since: { offset: top, epoch: log.epoch } });
      assert.equal(ack.message, "Subscribed");
      assert.equal(ack.data.recovery.recovered, true);
      const replayed = [await client.next(), await client.next(), await client.next()];
      assert.deepEqual(replayed.map((f) => f.data.pushMessage.message), ["m1", "m2", "m3"]);
      assert.deepEqual(replayed.map((f) => f.data.pushMessage.offset), [top + 1, top + 2, top + 3]);
      await broadcast(b, "log", log.token, "live");
      assert.equal((await client.next()).data.pushMessage.offset, top + 4);
    });

    await t.step("compact frames", async () => {
      await using compact = await connect(a, transport, { compact: true });
      const ch = await createWith(b, "compact");
      const ack = await subscribe(compact, "compact");
      assert.deepEqual(ack.data, { uuid: compact.uuid, channel: "compact" });
      await broadcast(b, "compact", ch.token, "small");
      assert.deepEqual((await compact.next()).data, {
        pushMessage: { channel: "compact", message: "small" },
      });
    });
  });
}
