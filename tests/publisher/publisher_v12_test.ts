/**
 * The publisher SDK's v1.2 methods (issue 20): `push()` with any JSON value, `receipt` and
 * `idempotencyKey`; `pushBatch()` with per-item results; `history()` and `historyPages()`.
 */
import assert from "node:assert/strict";
import { PushApiError, PushPublisher } from "../../src/publisher/publisher.js";
import type { BatchResult, HistoryPage } from "../../src/publisher/publisher.d.ts";
import { startTestServer, TestClient } from "../_helpers.ts";

Deno.test("[e2e] PushPublisher v1.2: JSON messages, receipts, keys, batches, history", async (t) => {
  await using server = await startTestServer();
  const publisher = new PushPublisher({ baseUrl: server.httpUrl });
  const plain = await publisher.createChannel("plain");
  const feed = await publisher.createChannel("feed", {
    history: { size: 100, ttlSeconds: 3600 },
  });
  await using sub = await TestClient.connect(server.wsUrl);
  await sub.act("SUBSCRIBE", "plain");
  await sub.act("SUBSCRIBE", "feed");

  await t.step("push() sends any JSON value and answers receipts", async () => {
    const result = await publisher.push("plain", plain.channelToken, { a: [1, true] }, {
      receipt: true,
    });
    assert.deepEqual(result, { channel: "plain", delivered: 1 });
    assert.deepEqual((await sub.next()).data.pushMessage.message, { a: [1, true] });
    const targeted = await publisher.push("plain", plain.channelToken, 42, {
      receipt: true,
      recipients: [sub.uuid, "00000000-0000-4000-8000-000000000000"],
    });
    assert.deepEqual(targeted, {
      channel: "plain",
      delivered: 1,
      undelivered: ["00000000-0000-4000-8000-000000000000"],
    });
    assert.equal((await sub.next()).data.pushMessage.message, 42);
    assert.deepEqual(await publisher.push("plain", plain.channelToken, "v1"), {
      channel: "plain",
    });
    assert.equal((await sub.next()).data.pushMessage.message, "v1");
  });

  await t.step("push() with idempotencyKey: a retry is answered like the first", async () => {
    const first = await publisher.push("feed", feed.channelToken, "once", {
      idempotencyKey: "sdk-1",
    });
    assert.deepEqual(first, { channel: "feed", offset: 1, epoch: feed.epoch });
    const again = await publisher.push("feed", feed.channelToken, "once", {
      idempotencyKey: "sdk-1",
    });
    assert.deepEqual(again, first);
    assert.equal((await sub.next()).data.pushMessage.message, "once");
    assert.equal(await sub.receivedNothing(), true);
  });

  await t.step("pushBatch() answers one typed result per item, in order", async () => {
    const results: BatchResult[] = await publisher.pushBatch([
      { channel: "feed", channelToken: feed.channelToken, message: { n: 2 } },
      { channel: "feed", channelToken: "wrong", message: "no" },
      { channel: "nope", channelToken: feed.channelToken, message: "no" },
      { channel: "plain", channelToken: plain.channelToken, message: "b", receipt: true },
    ]);
    assert.deepEqual(results, [
      { ok: true, channel: "feed", offset: 2, epoch: feed.epoch! },
      { ok: false, code: 403, message: "Forbidden", errorDetails: "Channel token is invalid" },
      {
        ok: false,
        code: 404,
        message: "Not found",
        errorDetails: 'Could not find a channel called "nope"',
      },
      { ok: true, channel: "plain", delivered: 1 },
    ]);
    // Order holds per channel only: the history push waits for its commit.
    const got = [await sub.next(), await sub.next()].map((frame) => frame.data.pushMessage);
    got.sort((a, b) => a.channel.localeCompare(b.channel));
    assert.deepEqual(got.map((push) => push.message), [{ n: 2 }, "b"]);
  });

  await t.step("pushBatch() rejects only a batch that is wrong as a whole", async () => {
    const error = await publisher.pushBatch([]).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof PushApiError);
    assert.equal(error.code, 400);
  });

  for (let i = 3; i <= 12; i++) {
    await publisher.push("feed", feed.channelToken, i % 2 === 0 ? `m${i}` : { i });
  }

  await t.step("history() reads a page; since and limit page on", async () => {
    const page = await publisher.history("feed", feed.channelToken, { limit: 3 });
    assert.equal(page.epoch, feed.epoch);
    assert.equal(page.offset, 12);
    assert.equal(page.recovered, undefined);
    assert.deepEqual(page.publications.map((p) => p.message), ["once", { n: 2 }, { i: 3 }]);
    assert.ok(!Number.isNaN(Date.parse(page.publications[0]!.time)));
    const next = await publisher.history("feed", feed.channelToken, {
      since: { offset: 3, epoch: feed.epoch! },
      limit: 2,
    });
    assert.equal(next.recovered, true);
    assert.deepEqual(next.publications.map((p) => p.offset), [4, 5]);
  });

  await t.step("historyPages() yields every retained push once, in order", async () => {
    const offsets: number[] = [];
    let pages = 0;
    for await (const page of publisher.historyPages("feed", feed.channelToken, { limit: 5 })) {
      pages++;
      offsets.push(...page.publications.map((p) => p.offset));
    }
    assert.deepEqual(offsets, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.equal(pages, 3);
    const from: number[] = [];
    for await (
      const page of publisher.historyPages("feed", feed.channelToken, {
        since: { offset: 9, epoch: feed.epoch! },
        limit: 2,
      })
    ) from.push(...page.publications.map((p) => p.offset));
    assert.deepEqual(from, [10, 11, 12]);
  });

  await t.step("historyPages() from another epoch yields one unrecovered page", async () => {
    const pages: HistoryPage[] = [];
    for await (
      const page of publisher.historyPages("feed", feed.channelToken, {
        since: { offset: 1, epoch: "stale" },
      })
    ) pages.push(page);
    assert.equal(pages.length, 1);
    assert.equal(pages[0]!.recovered, false);
    assert.deepEqual(pages[0]!.publications, []);
  });

  await t.step("history() on a channel without history throws 409", async () => {
    const error = await publisher.history("plain", plain.channelToken).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof PushApiError);
    assert.equal(error.code, 409);
  });
});
