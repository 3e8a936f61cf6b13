/**
 * PROTOCOL.md v1.2 "History read": `POST /channel/history` (`READ_HISTORY`) in both modes.
 */
import assert from "node:assert/strict";
import { bothModes } from "./_both_modes.ts";
import { assertAck, assertError, call, createWith, type Json } from "./_v11.ts";

const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

bothModes("READ_HISTORY pages through the retained pushes", async (t, { publisher }) => {
  const { token, epoch } = await createWith(publisher, "feed", {
    history: { size: 10, ttlSeconds: 3600 },
  });
  const read = (data: Record<string, unknown>) =>
    call(publisher, "READ_HISTORY", { channel: "feed", channelToken: token, ...data });
  const pushed: Json[] = [];
  const before = Date.now();
  for (let i = 1; i <= 25; i++) {
    const message = i % 3 === 0 ? { n: i, tags: ["x"] } : i % 3 === 1 ? `push ${i}` : i;
    const reply = await call(publisher, "PUSH_MESSAGE", {
      channel: "feed",
      channelToken: token,
      recipients: [],
      message,
    });
    assert.equal(reply.body.data.offset, i);
    pushed.push(message);
  }
  const after = Date.now();

  await t.step("without since: the oldest `limit` retained pushes, no `recovered`", async () => {
    const reply = await read({ limit: 4 });
    assert.equal(reply.status, 200);
    const data = reply.body.data;
    assert.deepEqual(Object.keys(data).sort(), [
      "channel",
      "channelToken",
      "epoch",
      "offset",
      "publications",
    ]);
    assert.equal(data.epoch, epoch);
    assert.equal(data.offset, 25);
    assert.deepEqual(data.publications.map((p: Json) => p.offset), [16, 17, 18, 19]);
    for (const publication of data.publications) {
      assert.deepEqual(publication.message, pushed[publication.offset - 1]);
      assert.match(publication.time, ISO_UTC_MS);
      const time = Date.parse(publication.time);
      assert.ok(time >= before - 1 && time <= after + 1, publication.time);
    }
  });

  await t.step("reading on from the last offset returns every retained push once", async () => {
    const seen: number[] = [];
    let since: Json = undefined;
    for (let pages = 0; pages < 10; pages++) {
      const reply = await read(since === undefined ? { limit: 3 } : { since, limit: 3 });
      assert.equal(reply.status, 200);
      const { publications } = reply.body.data;
      if (since !== undefined) assert.equal(reply.body.data.recovered, true);
      if (publications.length === 0) break;
      for (const p of publications) {
        seen.push(p.offset);
        assert.deepEqual(p.message, pushed[p.offset - 1]);
      }
      since = { offset: publications.at(-1).offset, epoch };
    }
    assert.deepEqual(seen, [16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
  });

  await t.step("the default limit is 100; 1000 is the most", async () => {
    assert.equal((await read({})).body.data.publications.length, 10);
    assert.equal((await read({ limit: null })).body.data.publications.length, 10);
    assert.equal((await read({ limit: 1000 })).status, 200);
    for (const limit of [0, 1001, 2.5, "5"]) {
      const details = assertError(await read({ limit }), 400, "Bad Request");
      assert.match(details ?? "", /^data\.limit: /);
    }
  });

  await t.step("recovered: false for another epoch, a future offset, a trimmed range", async () => {
    for (
      const since of [{ offset: 20, epoch: "other" }, { offset: 26, epoch }, {
        offset: 3,
        epoch,
      }]
    ) {
      assertAck(await read({ since }), "History", {
        channel: "feed",
        channelToken: null,
        epoch,
        offset: 25,
        publications: [],
        recovered: false,
      });
    }
  });

  await t.step("since at the top: recovered, nothing to read", async () => {
    assertAck(await read({ since: { offset: 25, epoch } }), "History", {
      channel: "feed",
      channelToken: null,
      epoch,
      offset: 25,
      publications: [],
      recovered: true,
    });
    // The oldest retained push follows since 15: still complete.
    const reply = await read({ since: { offset: 15, epoch }, limit: 1 });
    assert.equal(reply.body.data.recovered, true);
    assert.deepEqual(reply.body.data.publications.map((p: Json) => p.offset), [16]);
  });
});

bothModes("READ_HISTORY answers errors in the v1.1 order", async (t, { publisher }) => {
  const plain = await createWith(publisher, "plain");
  const stored = await createWith(publisher, "stored", { history: { size: 5, ttlSeconds: 60 } });
  const read = (data: Record<string, unknown>) => call(publisher, "READ_HISTORY", data);

  await t.step("400 for a bad since or channel, before anything else", async () => {
    const details = assertError(
      await read({ channel: "nope", channelToken: null, since: { offset: -1, epoch: "e" } }),
      400,
      "Bad Request",
    );
    assert.match(details ?? "", /^data\.since\.offset: /);
    assertError(
      await read({ channel: "stored", channelToken: stored.token, since: { offset: 1 } }),
      400,
      "Bad Request",
    );
    assertError(await read({ channel: "", channelToken: stored.token }), 400, "Bad Request");
  });

  await t.step("404 channel, then 401 no token, then 403 wrong token, then 409", async () => {
    assertError(await read({ channel: "nope", channelToken: null }), 404, "Not found");
    assertError(await read({ channel: "plain", channelToken: null }), 401, "Unauthorized");
    assertError(await read({ channel: "plain", channelToken: stored.token }), 403, "Forbidden");
    const details = assertError(
      await read({ channel: "plain", channelToken: plain.token }),
      409,
      "Conflict",
    );
    assert.equal(details, 'The channel "plain" has no history');
  });

  await t.step("an empty history channel answers offset 0 and no publications", async () => {
    assertAck(await read({ channel: "stored", channelToken: stored.token }), "History", {
      channel: "stored",
      channelToken: null,
      epoch: stored.epoch,
      offset: 0,
      publications: [],
    });
  });
});
