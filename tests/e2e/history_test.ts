/**
 * Black-box tests of PROTOCOL.md v1.1 "History and recovery", against the real server: history
 * options at create, offsets on acks and frames, recovery on subscribe (also while pushes keep
 * arriving), retention by size and TTL, malformed `since`, and durability across `kill -9`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ServerProcess } from "./_process.ts";
import {
  assertAck,
  assertError,
  broadcast,
  call,
  createWith,
  type Json,
  NOBODY,
  WsClient,
} from "./_v11.ts";
import { e2e } from "./_backends.ts";

const HISTORY = { size: 100, ttlSeconds: 3600 };

/** The v1 `CLIENT_PUSH` frame of a stored push. */
function storedPush(
  uuid: string,
  channels: string[],
  push: { channel: string; message: string; offset: number; epoch: string },
) {
  return {
    messageType: "CLIENT_PUSH",
    code: 200,
    message: "Push Message",
    data: { uuid, subscribedChannels: channels, pushMessage: push },
  };
}

/** The `Subscribed` ack on a history channel. */
function subscribedWith(
  uuid: string,
  channels: string[],
  recovery: { channel: string; epoch: string; offset: number; recovered: boolean },
) {
  return {
    messageType: "CLIENT_ACK",
    code: 200,
    message: "Subscribed",
    data: { uuid, subscribedChannels: channels, recovery },
  };
}

/** The offsets carried by a list of push frames. */
function offsets(frames: Json[]): number[] {
  return frames.map((f) => f.data.pushMessage.offset);
}

/** `[from, from + 1, ..., to]`. */
function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

e2e("CREATE_CHANNEL with history", async (t, backend) => {
  await using server = await backend.start();

  await t.step("the ack carries channel, channelToken, history and epoch", async () => {
    const reply = await call(server, "CREATE_CHANNEL", { channel: "h", history: HISTORY });
    assert.equal(reply.status, 200);
    assert.deepEqual(Object.keys(reply.body.data).sort(), [
      "channel",
      "channelToken",
      "epoch",
      "history",
    ]);
    assert.match(reply.body.data.channelToken, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(typeof reply.body.data.epoch, "string");
    assert.notEqual(reply.body.data.epoch, "");
    assertAck(reply, "Created", {
      channel: "h",
      channelToken: reply.body.data.channelToken,
      history: HISTORY,
      epoch: reply.body.data.epoch,
    });
  });

  await t.step("every created channel gets its own epoch", async () => {
    const a = await createWith(server, "e1", { history: HISTORY });
    const b = await createWith(server, "e2", { history: HISTORY });
    assert.notEqual(a.epoch, b.epoch);
  });

  await t.step("the bounds 1–10000 and 1–2592000 are accepted", async () => {
    for (
      const history of [
        { size: 1, ttlSeconds: 1 },
        { size: 10000, ttlSeconds: 2592000 },
      ]
    ) {
      const reply = await call(server, "CREATE_CHANNEL", {
        channel: `bounds-${history.size}`,
        history,
      });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.deepEqual(reply.body.data.history, history);
    }
  });

  await t.step("history null or absent is a v1 channel with a v1 ack", async () => {
    for (const [channel, extra] of [["v1-null", { history: null }], ["v1-absent", {}]] as const) {
      const reply = await call(server, "CREATE_CHANNEL", { channel, ...extra });
      assertAck(reply, "Created", { channel, channelToken: reply.body.data.channelToken });
    }
  });

  await t.step("any other history value is 400 and creates nothing", async () => {
    const bad: unknown[] = [
      { size: 10 },
      { ttlSeconds: 10 },
      {},
      { size: 0, ttlSeconds: 10 },
      { size: 10001, ttlSeconds: 10 },
      { size: -1, ttlSeconds: 10 },
      { size: 1.5, ttlSeconds: 10 },
      { size: "10", ttlSeconds: 10 },
      { size: null, ttlSeconds: 10 },
      { size: 10, ttlSeconds: 0 },
      { size: 10, ttlSeconds: 2592001 },
      { size: 10, ttlSeconds: 1.5 },
      { size: 10, ttlSeconds: "60" },
      { size: 10, ttlSeconds: null },
      5,
      "yes",
      true,
      [],
      [10, 60],
    ];
    for (const history of bad) {
      const reply = await call(server, "CREATE_CHANNEL", { channel: "never", history });
      const details = assertError(reply, 400, "Bad Request");
      assert.equal(typeof details, "string", JSON.stringify(history));
      const ping = await call(server, "PING_CHANNEL", { channel: "never", channelToken: null });
      assert.equal(ping.status, 404, `${JSON.stringify(history)} created nothing`);
    }
  });
});

e2e("history pushes: offsets on acks and frames; targeted pushes stay v1", async (t, backend) => {
  await using server = await backend.start();
  const { token, epoch } = await createWith(server, "h", { history: HISTORY });
  await using sub = await WsClient.connect(server.wsUrl);
  const ack = await sub.subscribe("h");
  assert.deepEqual(
    ack,
    subscribedWith(sub.uuid, ["h"], { channel: "h", epoch, offset: 0, recovered: false }),
    "offset 0 before the first push; without since, recovered is false",
  );

  await t.step("broadcasts get offsets 1, 2, 3 on the ack and on the frame", async () => {
    for (let offset = 1; offset <= 3; offset++) {
      const reply = await call(server, "PUSH_MESSAGE", {
        channel: "h",
        channelToken: token,
        recipients: [],
        message: `m${offset}`,
      });
      assertAck(reply, "Sent", { channel: "h", channelToken: null, offset, epoch });
      assert.deepEqual(
        await sub.next(),
        storedPush(sub.uuid, ["h"], { channel: "h", message: `m${offset}`, offset, epoch }),
      );
    }
  });

  await t.step("a targeted push is not stored, has no offset, and looks like v1", async () => {
    const reply = await call(server, "PUSH_MESSAGE", {
      channel: "h",
      channelToken: token,
      recipients: [sub.uuid],
      message: "just you",
    });
    assertAck(reply, "Sent", { channel: "h", channelToken: null });
    assert.deepEqual(await sub.next(), {
      messageType: "CLIENT_PUSH",
      code: 200,
      message: "Push Message",
      data: {
        uuid: sub.uuid,
        subscribedChannels: ["h"],
        pushMessage: { channel: "h", message: "just you" },
      },
    });
    // Not stored: the next broadcast is 4, and a replay from 0 holds only the broadcasts.
    assert.equal((await broadcast(server, "h", token, "m4")).offset, 4);
    assert.equal((await sub.next()).data.pushMessage.offset, 4);
    await using late = await WsClient.connect(server.wsUrl);
    const lateAck = await late.subscribe("h", { offset: 0, epoch });
    assert.deepEqual(lateAck.data.recovery, { channel: "h", epoch, offset: 4, recovered: true });
    const replay = await late.pushesUpTo(4);
    assert.deepEqual(replay.map((f) => f.data.pushMessage.message), ["m1", "m2", "m3", "m4"]);
    assert.ok(await late.receivedNothing(), "nothing beyond the four broadcasts");
  });

  await t.step("a targeted push to nobody subscribed is 200 and also unstored", async () => {
    const reply = await call(server, "PUSH_MESSAGE", {
      channel: "h",
      channelToken: token,
      recipients: [NOBODY],
      message: "x",
    });
    assertAck(reply, "Sent", { channel: "h", channelToken: null });
    assert.equal((await broadcast(server, "h", token, "m5")).offset, 5);
    assert.equal((await sub.next()).data.pushMessage.offset, 5);
  });

  await t.step("ping with the right token shows the settings; with null it is v1", async () => {
    assertAck(await call(server, "PING_CHANNEL", { channel: "h", channelToken: token }), "OK", {
      channel: "h",
      channelToken: null,
      private: false,
      history: HISTORY,
    });
    assertAck(await call(server, "PING_CHANNEL", { channel: "h", channelToken: null }), "OK", {
      channel: "h",
      channelToken: null,
    });
    const wrong = await call(server, "PING_CHANNEL", { channel: "h", channelToken: "nope" });
    assertError(wrong, 403, "Forbidden");
  });
});

e2e(
  "recovery across a reconnect: replay in order right after the ack, then live",
  async (t, backend) => {
    await using server = await backend.start();
    const { token, epoch } = await createWith(server, "r", { history: HISTORY });
    await createWith(server, "plain");
    let last = 0;
    {
      await using first = await WsClient.connect(server.wsUrl);
      await first.subscribe("r");
      for (let i = 1; i <= 3; i++) await broadcast(server, "r", token, `live-${i}`);
      last = offsets(await first.pushesUpTo(3)).at(-1)!;
      assert.equal(last, 3);
    }
    for (let i = 4; i <= 6; i++) await broadcast(server, "r", token, `missed-${i}`);

    await t.step("since the last seen offset: recovered, replay 4..6, then live 7", async () => {
      await using again = await WsClient.connect(server.wsUrl);
      assert.equal((await again.subscribe("plain")).message, "Subscribed");
      const ack = await again.subscribe("r", { offset: last, epoch });
      assert.deepEqual(
        ack,
        subscribedWith(again.uuid, ["plain", "r"], {
          channel: "r",
          epoch,
          offset: 6,
          recovered: true,
        }),
      );
      for (let offset = 4; offset <= 6; offset++) {
        assert.deepEqual(
          await again.next(),
          storedPush(again.uuid, ["plain", "r"], {
            channel: "r",
            message: `missed-${offset}`,
            offset,
            epoch,
          }),
        );
      }
      await broadcast(server, "r", token, "live-7");
      assert.deepEqual(
        await again.next(),
        storedPush(again.uuid, ["plain", "r"], {
          channel: "r",
          message: "live-7",
          offset: 7,
          epoch,
        }),
      );
    });

    await t.step("since the top: recovered with offset = since, nothing replayed", async () => {
      await using upToDate = await WsClient.connect(server.wsUrl);
      const ack = await upToDate.subscribe("r", { offset: 7, epoch });
      assert.deepEqual(ack.data.recovery, { channel: "r", epoch, offset: 7, recovered: true });
      assert.ok(await upToDate.receivedNothing());
    });

    await t.step("since null is like no since: recovered false at the top", async () => {
      await using fresh = await WsClient.connect(server.wsUrl);
      const ack = await fresh.subscribe("r", null);
      assert.deepEqual(ack.data.recovery, { channel: "r", epoch, offset: 7, recovered: false });
      assert.ok(await fresh.receivedNothing());
      await broadcast(server, "r", token, "live-8");
      assert.equal((await fresh.next()).data.pushMessage.offset, 8, "live pushes follow");
    });

    await t.step("a wrong epoch: recovered false, offset = top, nothing replayed", async () => {
      await using client = await WsClient.connect(server.wsUrl);
      const ack = await client.subscribe("r", { offset: 2, epoch: `${epoch}x` });
      assert.deepEqual(ack.data.recovery, { channel: "r", epoch, offset: 8, recovered: false });
      assert.ok(await client.receivedNothing());
      await broadcast(server, "r", token, "live-9");
      assert.equal((await client.next()).data.pushMessage.offset, 9);
    });

    await t.step("a future offset: recovered false, offset = top, nothing replayed", async () => {
      await using client = await WsClient.connect(server.wsUrl);
      const ack = await client.subscribe("r", { offset: 1000, epoch });
      assert.deepEqual(ack.data.recovery, { channel: "r", epoch, offset: 9, recovered: false });
      assert.ok(await client.receivedNothing());
    });

    await t.step("subscribing again: recovered false at the top, nothing replayed", async () => {
      await using client = await WsClient.connect(server.wsUrl);
      await client.subscribe("r", { offset: 9, epoch });
      const again = await client.subscribe("r", { offset: 0, epoch });
      assert.deepEqual(
        again,
        subscribedWith(client.uuid, ["r"], { channel: "r", epoch, offset: 9, recovered: false }),
      );
      assert.ok(await client.receivedNothing(), "no replay on a second subscribe");
      await broadcast(server, "r", token, "live-10");
      assert.equal((await client.next()).data.pushMessage.offset, 10, "delivered once");
      assert.ok(await client.receivedNothing(), "no duplicate");
    });
  },
);

e2e("since on a channel without history is ignored; the ack is v1", async (_t, backend) => {
  await using server = await backend.start();
  const { token } = await createWith(server, "v1");
  await using client = await WsClient.connect(server.wsUrl);
  const ack = await client.subscribe("v1", { offset: 3, epoch: "whatever" });
  assert.deepEqual(ack, {
    messageType: "CLIENT_ACK",
    code: 200,
    message: "Subscribed",
    data: { uuid: client.uuid, subscribedChannels: ["v1"] },
  });
  assert.ok(await client.receivedNothing());
  const sent = await call(server, "PUSH_MESSAGE", {
    channel: "v1",
    channelToken: token,
    recipients: [],
    message: "m",
  });
  assertAck(sent, "Sent", { channel: "v1", channelToken: null });
  assert.deepEqual((await client.next()).data.pushMessage, { channel: "v1", message: "m" });
});

e2e(
  "a malformed since is 400 Invalid message on any channel, and nothing happens",
  async (t, backend) => {
    await using server = await backend.start();
    const history = await createWith(server, "h", { history: HISTORY });
    const v1 = await createWith(server, "v1");
    await broadcast(server, "h", history.token, "one");
    const epoch = history.epoch;
    const malformed: unknown[] = [
      { offset: -1, epoch },
      { offset: 1.5, epoch },
      { offset: "1", epoch },
      { offset: null, epoch },
      { offset: 1 },
      { epoch },
      { offset: 1, epoch: 5 },
      { offset: 1, epoch: null },
      {},
      5,
      "1",
      true,
      [1, epoch],
    ];
    for (const channel of ["h", "v1"]) {
      await t.step(`on ${channel === "h" ? "a history" : "a v1"} channel`, async () => {
        await using client = await WsClient.connect(server.wsUrl);
        for (const since of malformed) {
          const reply = await client.subscribe(channel, since);
          assert.equal(reply.messageType, "ERROR", JSON.stringify(since));
          assert.equal(reply.code, 400);
          assert.equal(reply.message, "Invalid message");
          assert.equal(typeof reply.data.errorDetails, "string");
          assert.ok(await client.receivedNothing(), `${JSON.stringify(since)}: no replay`);
        }
        // Nothing happened: not subscribed, so a push does not reach it.
        await broadcast(server, channel, channel === "h" ? history.token : v1.token, "two");
        assert.ok(await client.receivedNothing(), "not subscribed after the errors");
        const ack = await client.subscribe(channel);
        assert.deepEqual(ack.data.subscribedChannels, [channel]);
      });
    }
  },
);

e2e("retention by size is exact", async (_t, backend) => {
  await using server = await backend.start();
  const { token, epoch } = await createWith(server, "s", { history: { size: 3, ttlSeconds: 60 } });
  for (let i = 1; i <= 5; i++) await broadcast(server, "s", token, `m${i}`);

  // 2..5 asked, but only 3, 4, 5 are kept: not recovered.
  await using tooOld = await WsClient.connect(server.wsUrl);
  const lost = await tooOld.subscribe("s", { offset: 1, epoch });
  assert.deepEqual(lost.data.recovery, { channel: "s", epoch, offset: 5, recovered: false });
  assert.ok(await tooOld.receivedNothing());

  // 3..5 asked, all kept: exactly those three.
  await using justInTime = await WsClient.connect(server.wsUrl);
  const kept = await justInTime.subscribe("s", { offset: 2, epoch });
  assert.deepEqual(kept.data.recovery, { channel: "s", epoch, offset: 5, recovered: true });
  const replay = await justInTime.pushesUpTo(5);
  assert.deepEqual(offsets(replay), [3, 4, 5]);
  assert.deepEqual(replay.map((f) => f.data.pushMessage.message), ["m3", "m4", "m5"]);
  assert.ok(await justInTime.receivedNothing());

  // One more push drops 3: from 2 it is no longer recoverable, from 3 it is.
  await broadcast(server, "s", token, "m6");
  await using later = await WsClient.connect(server.wsUrl);
  assert.equal((await later.subscribe("s", { offset: 2, epoch })).data.recovery.recovered, false);
  await using later2 = await WsClient.connect(server.wsUrl);
  assert.equal((await later2.subscribe("s", { offset: 3, epoch })).data.recovery.recovered, true);
  assert.deepEqual(offsets(await later2.pushesUpTo(6)), [4, 5, 6]);
});

e2e("retention by TTL: pushes older than ttlSeconds are gone", async (_t, backend) => {
  // An injected clock: the real time plus a skew the test moves. It stays the real time while
  // pushes are stored, because in cluster mode Redis stamps them with its own clock (TIME).
  let skew = 0;
  await using server = await backend.start({}, { now: () => Date.now() + skew });
  const { token, epoch } = await createWith(server, "t", {
    history: { size: 100, ttlSeconds: 60 },
  });
  await broadcast(server, "t", token, "a");
  await broadcast(server, "t", token, "b");
  {
    await using young = await WsClient.connect(server.wsUrl);
    const ack = await young.subscribe("t", { offset: 0, epoch });
    assert.deepEqual(ack.data.recovery, { channel: "t", epoch, offset: 2, recovered: true });
    assert.deepEqual(offsets(await young.pushesUpTo(2)), [1, 2]);
  }
  skew = 61_000;
  await using old = await WsClient.connect(server.wsUrl);
  const ack = await old.subscribe("t", { offset: 0, epoch });
  assert.deepEqual(ack.data.recovery, { channel: "t", epoch, offset: 2, recovered: false });
  assert.ok(await old.receivedNothing(), "expired pushes are not replayed");
  skew = 0;
  await broadcast(server, "t", token, "c");
  assert.equal((await old.next()).data.pushMessage.offset, 3, "live pushes follow");
  await using fresh = await WsClient.connect(server.wsUrl);
  const recent = await fresh.subscribe("t", { offset: 2, epoch });
  assert.deepEqual(recent.data.recovery, { channel: "t", epoch, offset: 3, recovered: true });
  assert.deepEqual((await fresh.next()).data.pushMessage.message, "c");
});

e2e("delete and re-create gives a new epoch; the old one recovers nothing", async (_t, backend) => {
  await using server = await backend.start();
  const first = await createWith(server, "d", { history: HISTORY });
  await broadcast(server, "d", first.token, "old");
  await using sub = await WsClient.connect(server.wsUrl);
  await sub.subscribe("d");
  const deleted = await call(server, "DELETE_CHANNEL", { channel: "d", channelToken: first.token });
  assertAck(deleted, "Deleted", { channel: "d", channelToken: null });
  assert.deepEqual(await sub.next(), {
    messageType: "CLIENT_ACK",
    code: 200,
    message: "Channel Deleted",
    data: { uuid: sub.uuid, subscribedChannels: [] },
  });
  const second = await createWith(server, "d", { history: HISTORY });
  assert.notEqual(second.epoch, first.epoch);
  const ack = await sub.subscribe("d", { offset: 0, epoch: first.epoch });
  assert.deepEqual(ack.data.recovery, {
    channel: "d",
    epoch: second.epoch,
    offset: 0,
    recovered: false,
  });
  assert.ok(await sub.receivedNothing(), "the old channel's history is gone");
  assert.equal((await broadcast(server, "d", second.token, "new")).offset, 1, "offsets restart");
});

e2e(
  "subscribing with since while a publisher pushes: each sees a contiguous sequence",
  async (_t, backend) => {
    // 300 pushes from 3 concurrent publishers; 6 subscribers join at staggered points. Bounded.
    const TOTAL = 300;
    const SUBSCRIBERS = 6;
    await using server = await backend.start();
    const { token, epoch } = await createWith(server, "c", {
      history: { size: 1000, ttlSeconds: 3600 },
    });
    const messages = new Map<number, string>();
    let acked = 0;
    let highest = 0;
    let sent = 0;
    const progress: (() => void)[] = [];
    const publisher = async () => {
      while (sent < TOTAL) {
        const message = `msg-${sent++}`;
        const data = await broadcast(server, "c", token, message);
        assert.equal(data.epoch, epoch);
        assert.ok(!messages.has(data.offset), `offset ${data.offset} reused`);
        messages.set(data.offset, message);
        highest = Math.max(highest, data.offset);
        acked++;
        for (const wake of progress.splice(0)) wake();
      }
    };
    const untilAcked = async (count: number) => {
      while (acked < count) {
        const { promise, resolve } = Promise.withResolvers<void>();
        progress.push(resolve);
        await promise;
      }
    };

    const subscriber = async (i: number) => {
      await untilAcked(i * 40);
      await using client = await WsClient.connect(server.wsUrl);
      // Even: from the start; odd: from what the publisher has seen acknowledged; the last: no since.
      const since = i === SUBSCRIBERS - 1
        ? undefined
        : i % 2 === 0
        ? { offset: 0, epoch }
        : { offset: highest, epoch };
      const ack = await client.subscribe("c", since);
      assert.equal(ack.message, "Subscribed", JSON.stringify(ack));
      const recovery = ack.data.recovery;
      assert.equal(recovery.epoch, epoch);
      assert.equal(recovery.recovered, since !== undefined, JSON.stringify({ since, recovery }));
      const start = since === undefined ? recovery.offset : since.offset;
      if (since !== undefined) assert.ok(recovery.offset >= since.offset);
      await untilAcked(TOTAL);
      const frames = start === TOTAL ? [] : await client.pushesUpTo(TOTAL);
      assert.deepEqual(offsets(frames), range(start + 1, TOTAL), `subscriber ${i}: no gap, no dup`);
      for (const frame of frames) {
        const { offset, message } = frame.data.pushMessage;
        assert.equal(message, messages.get(offset), `subscriber ${i}, offset ${offset}`);
      }
      // The replay ends at recovery.offset: the frames up to it came before any live push.
      assert.ok(await client.receivedNothing());
    };

    await Promise.all([
      ...Array.from({ length: 3 }, publisher),
      ...Array.from({ length: SUBSCRIBERS }, (_, i) => subscriber(i)),
    ]);
    assert.deepEqual([...messages.keys()].sort((a, b) => a - b), range(1, TOTAL));
  },
);

/** Pushes from `workers` concurrent loops until the process dies; returns acked offsets. */
async function pushUntilKilled(
  server: ServerProcess,
  channel: string,
  token: string,
  options: { killAfter: number; round: number },
): Promise<{ acked: Map<number, string>; cutOff: number }> {
  const acked = new Map<number, string>();
  let cutOff = 0;
  let next = 0;
  const worker = async () => {
    // Bounded: at most 3,000 pushes per round.
    while (next < 3000) {
      const message = `r${options.round}-${next++}`;
      let reply;
      try {
        reply = await call(server, "PUSH_MESSAGE", {
          channel,
          channelToken: token,
          recipients: [],
          message,
        });
      } catch {
        cutOff++; // the process died with this push in flight: its outcome is unknown
        return;
      }
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      acked.set(reply.body.data.offset, message);
      if (acked.size === options.killAfter) server.kill("SIGKILL");
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { acked, cutOff };
}

// Single node only: it kills the process over its SQLite file (durability of the local store);
// in cluster mode durability is Redis's (PROTOCOL.md "Multi-node").
Deno.test("[e2e][single] kill -9 during a push storm: every acknowledged push is recoverable, offsets never reused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pushserver-history-kill-" });
  const env = { DB_PATH: join(dir, "push.db") };
  try {
    let token = "";
    let epoch = "";
    const acked = new Map<number, string>();
    const delivered = new Map<number, string>();
    for (let round = 0; round < 2; round++) {
      await using server = await ServerProcess.spawn(env);
      if (round === 0) {
        ({ token, epoch } = await createWith(server, "k", {
          history: { size: 10000, ttlSeconds: 86400 },
        }));
      }
      // A live subscriber records what was delivered before the kill.
      await using live = await WsClient.connect(server.wsUrl);
      const ack = await live.subscribe("k");
      assert.equal(ack.data.recovery.epoch, epoch, "the epoch survives the kill");
      const storm = await pushUntilKilled(server, "k", token, { killAfter: 150, round });
      assert.equal((await server.exit()).signal, "SIGKILL");
      await live.closed;
      for (const frame of live.drain()) {
        if (frame.messageType !== "CLIENT_PUSH") continue;
        const { offset, message } = frame.data.pushMessage;
        assert.ok(!delivered.has(offset) || delivered.get(offset) === message, "no reuse");
        delivered.set(offset, message);
      }
      for (const [offset, message] of storm.acked) {
        assert.ok(!acked.has(offset), `offset ${offset} acknowledged twice`);
        acked.set(offset, message);
      }
      assert.ok(storm.acked.size >= 150);
      assert.ok(storm.cutOff >= 1, "the kill landed mid-storm");
    }

    await using server = await ServerProcess.spawn(env);
    const ping = await call(server, "PING_CHANNEL", { channel: "k", channelToken: token });
    assert.deepEqual(ping.body.data.history, { size: 10000, ttlSeconds: 86400 });
    await using reader = await WsClient.connect(server.wsUrl);
    const ack = await reader.subscribe("k", { offset: 0, epoch });
    const { recovery } = ack.data;
    assert.equal(recovery.epoch, epoch, "epoch unchanged");
    assert.equal(recovery.recovered, true, "every stored push is still retained");
    const highestAcked = Math.max(...acked.keys(), ...delivered.keys());
    const replay = recovery.offset === 0 ? [] : await reader.pushesUpTo(recovery.offset);
    const replayed = new Map<number, string>(
      replay.map((f) => [f.data.pushMessage.offset, f.data.pushMessage.message]),
    );
    assert.equal(replayed.size, replay.length, "no duplicate in the replay");
    const ordered = offsets(replay);
    assert.deepEqual(ordered, [...ordered].sort((a, b) => a - b), "replay in offset order");
    const lost = [...acked].filter(([offset, message]) => replayed.get(offset) !== message);
    assert.deepEqual(lost, [], "every acknowledged push is in the history");
    const undelivered = [...delivered].filter(([o, m]) => replayed.get(o) !== m);
    assert.deepEqual(undelivered, [], "every delivered push is in the history");
    const after = await broadcast(server, "k", token, "after");
    assert.equal(after.epoch, epoch);
    assert.ok(after.offset > highestAcked, `${after.offset} > ${highestAcked}: never reused`);
    assert.ok(after.offset > recovery.offset);
    assert.equal((await reader.next()).data.pushMessage.offset, after.offset);
    server.kill("SIGTERM");
    assert.equal((await server.exit()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

e2e(
  "a replay larger than the send buffer is paced, not closed as a slow consumer",
  async (_t, backend) => {
    // Smallest sizes that show it: a 64 KiB send-buffer limit and a 1.6 MiB replay (25×).
    await using server = await backend.start({ MAX_BUFFERED_BYTES: "65536" });
    const COUNT = 200;
    const { token, epoch } = await createWith(server, "big", {
      history: { size: COUNT, ttlSeconds: 600 },
    });
    const body = "x".repeat(8 * 1024);
    for (let i = 1; i <= COUNT; i++) await broadcast(server, "big", token, `${i}:${body}`);
    await using reader = await WsClient.connect(server.wsUrl);
    const ack = await reader.subscribe("big", { offset: 0, epoch });
    assert.deepEqual(ack.data.recovery, { channel: "big", epoch, offset: COUNT, recovered: true });
    // A live push during the replay waits behind it.
    const live = broadcast(server, "big", token, "live");
    const frames = await reader.pushesUpTo(COUNT + 1);
    await live;
    assert.deepEqual(offsets(frames), range(1, COUNT + 1));
    assert.equal(frames.at(-1).data.pushMessage.message, "live");
    assert.equal(reader.socket.readyState, WebSocket.OPEN, "still open");
  },
);
