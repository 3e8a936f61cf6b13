/**
 * PROTOCOL.md v1.2 "Idempotent pushes" (Hardening): `data.idempotencyKey` on `PUSH_MESSAGE` and
 * batch items. A key used on the same channel within 300 s is not delivered or stored again and
 * is answered like the first push, on any node; a publisher that got a 503 can retry safely.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Deployment, e2e } from "./_backends.ts";
import { assertError, call, createWith, type Json, WsClient } from "./_v11.ts";

const LOCKER = new URL("./_sqlite_locker.ts", import.meta.url).pathname;
const HISTORY = { size: 100, ttlSeconds: 3600 };

/** A clock the test moves forward: real time plus the jumps it made. */
function movableClock(): { now: () => number; advance(ms: number): void } {
  let jumped = 0;
  return { now: () => Date.now() + jumped, advance: (ms) => jumped += ms };
}

/** Pushes `message` on `channel`; the whole reply. */
function push(
  d: { readonly httpUrl: string },
  channel: string,
  token: string,
  data: Record<string, unknown>,
) {
  return call(d, "PUSH_MESSAGE", { channel, channelToken: token, recipients: [], ...data });
}

/**
 * The next push `sub` receives is `expected`, and then comes a marker pushed right after (no
 * key): so nothing else (a second copy) was delivered in between, on either node.
 */
async function receivesOnly(
  d: Deployment,
  sub: WsClient,
  channel: string,
  token: string,
  expected: Json,
): Promise<void> {
  assert.deepEqual((await sub.next()).data.pushMessage.message, expected);
  const marker = `marker ${crypto.randomUUID()}`;
  assert.equal((await push(d, channel, token, { message: marker })).status, 200);
  assert.equal((await sub.next()).data.pushMessage.message, marker);
}

e2e("idempotencyKey: a key is pushed once per channel for 300 s", async (t, backend) => {
  const clock = movableClock();
  await using d = await backend.start({}, { now: clock.now });
  const stored = await createWith(d, "stored", { history: HISTORY });
  const plain = await createWith(d, "plain");
  await using sub = await WsClient.connect(d.wsUrl);
  await sub.subscribe("stored");
  await sub.subscribe("plain");
  const first = await push(d, "stored", stored.token, {
    message: { n: 1 },
    idempotencyKey: "order-17",
    receipt: true,
  });
  assert.equal(first.status, 200);
  assert.deepEqual(first.body.data, {
    channel: "stored",
    channelToken: null,
    offset: 1,
    epoch: stored.epoch,
    delivered: 1,
  });
  assert.deepEqual((await sub.next()).data.pushMessage.message, { n: 1 });

  await t.step("a retry is answered like the first, not delivered or stored again", async () => {
    for (const receipt of [true, false]) {
      const again = await push(d, "stored", stored.token, {
        message: { n: "retry" },
        idempotencyKey: "order-17",
        receipt,
      });
      assert.equal(again.status, 200);
      assert.equal(again.body.message, "Sent");
      assert.deepEqual(again.body.data, first.body.data);
    }
    const marker = await push(d, "stored", stored.token, { message: "after" });
    assert.equal(marker.body.data.offset, 2, "the retries took no offset");
    assert.equal((await sub.next()).data.pushMessage.message, "after");
    const history = await call(d, "READ_HISTORY", {
      channel: "stored",
      channelToken: stored.token,
    });
    assert.deepEqual(history.body.data.publications.map((p: Json) => p.message), [
      { n: 1 },
      "after",
    ]);
  });

  await t.step("the same key on another channel is independent", async () => {
    const other = await push(d, "plain", plain.token, { message: "p", idempotencyKey: "order-17" });
    assert.deepEqual(other.body.data, { channel: "plain", channelToken: null });
    await receivesOnly(d, sub, "plain", plain.token, "p");
    const again = await push(d, "plain", plain.token, { message: "p", idempotencyKey: "order-17" });
    assert.deepEqual(again.body.data, { channel: "plain", channelToken: null });
    const marker = `marker ${crypto.randomUUID()}`;
    await push(d, "plain", plain.token, { message: marker });
    assert.equal((await sub.next()).data.pushMessage.message, marker);
  });

  await t.step("two concurrent pushes with one key: one push, one answer", async () => {
    const [a, b] = await Promise.all(
      ["a", "b"].map((message) =>
        push(d, "stored", stored.token, { message, idempotencyKey: "same-time" })
      ),
    );
    assert.equal(a!.status, 200);
    assert.deepEqual(b!.body.data, a!.body.data);
    assert.equal(a!.body.data.offset, 3);
    const got = (await sub.next()).data.pushMessage;
    assert.equal(got.offset, 3);
    const marker = await push(d, "stored", stored.token, { message: "m4" });
    assert.equal(marker.body.data.offset, 4);
    assert.equal((await sub.next()).data.pushMessage.offset, 4);
  });

  await t.step("with receipts, on every node at once: one push, the same counts", async () => {
    // In cluster mode the repeats reach Redis while the first push's counts are still coming in.
    const answers = await Promise.all(
      [...d.nodes, ...d.nodes].map((node, i) =>
        push(node, "plain", plain.token, {
          message: `r${i}`,
          idempotencyKey: "receipted",
          receipt: true,
        })
      ),
    );
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body.data, { channel: "plain", channelToken: null, delivered: 1 });
    }
    assert.match((await sub.next()).data.pushMessage.message, /^r\d$/);
    const marker = `marker ${crypto.randomUUID()}`;
    await push(d, "plain", plain.token, { message: marker });
    assert.equal((await sub.next()).data.pushMessage.message, marker);
  });

  await t.step("batch items: a repeated key in one batch or from a push before", async () => {
    const item = (message: string, idempotencyKey: string) => ({
      channel: "stored",
      channelToken: stored.token,
      recipients: [],
      message,
      idempotencyKey,
    });
    const reply = await call(d, "PUSH_BATCH", {
      pushes: [item("b1", "batch-1"), item("b1 again", "batch-1"), item("x", "order-17")],
    });
    assert.equal(reply.status, 200);
    const [one, two, three] = reply.body.data.results;
    assert.deepEqual(one, {
      code: 200,
      message: "Sent",
      data: { channel: "stored", channelToken: null, offset: 5, epoch: stored.epoch },
    });
    assert.deepEqual(two, one);
    assert.deepEqual(three, { code: 200, message: "Sent", data: first.body.data });
    assert.equal((await sub.next()).data.pushMessage.message, "b1");
    const marker = await push(d, "stored", stored.token, { message: "m6" });
    assert.equal(marker.body.data.offset, 6);
    assert.equal((await sub.next()).data.pushMessage.offset, 6);
  });

  await t.step("300 s later the key is free again", async () => {
    clock.advance(299_000);
    const still = await push(d, "stored", stored.token, { message: 0, idempotencyKey: "order-17" });
    assert.deepEqual(still.body.data, first.body.data);
    clock.advance(1_001);
    const fresh = await push(d, "stored", stored.token, {
      message: { n: 2 },
      idempotencyKey: "order-17",
    });
    assert.deepEqual(fresh.body.data, {
      channel: "stored",
      channelToken: null,
      offset: 7,
      epoch: stored.epoch,
    });
    assert.deepEqual((await sub.next()).data.pushMessage.message, { n: 2 });
  });

  await t.step("a key that is not 1-64 printable ASCII characters is 400", async () => {
    for (const key of ["", "x".repeat(65), "caf\u00e9", "tab\there", 17, true, {}]) {
      const reply = await push(d, "plain", plain.token, { message: "no", idempotencyKey: key });
      assert.match(
        assertError(reply, 400, "Bad Request") ?? "",
        /^data\.idempotencyKey: /,
        JSON.stringify(key),
      );
    }
    const longest = await push(d, "plain", plain.token, {
      message: "yes",
      idempotencyKey: " ~".repeat(32),
    });
    assert.equal(longest.status, 200);
    const none = await push(d, "plain", plain.token, { message: "null", idempotencyKey: null });
    assert.equal(none.status, 200);
    assert.equal((await sub.next()).data.pushMessage.message, "yes");
    assert.equal((await sub.next()).data.pushMessage.message, "null");
    assert.ok(await sub.receivedNothing());
  });
});

e2e(
  "idempotencyKey: a push answered 503 and retried with its key is delivered once",
  async (t, backend) => {
    const dir = await Deno.makeTempDir({ prefix: "pushserver-once-" });
    const dbPath = join(dir, "p.db");
    try {
      await using d = await backend.start({ DB_PATH: dbPath });
      const { token, epoch } = await createWith(d, "orders", { history: HISTORY });
      await using sub = await WsClient.connect(d.wsUrl);
      await sub.subscribe("orders");
      // A push first, so that the channel's record and token are known to the node.
      assert.equal((await push(d, "orders", token, { message: "warm" })).status, 200);
      assert.equal((await sub.next()).data.pushMessage.message, "warm");

      await t.step("the store stops answering: the push is answered 503", async () => {
        await using _outage = await storeOutage(d, dbPath);
        const reply = await push(d, "orders", token, { message: "once", idempotencyKey: "k-503" });
        assertError(reply, 503, "Service Unavailable");
      });

      await t.step(
        "the retry with the key is answered 200, and the push arrived once",
        async () => {
          const retry = await push(d, "orders", token, {
            message: "once",
            idempotencyKey: "k-503",
          });
          assert.equal(retry.status, 200);
          assert.deepEqual(retry.body.data, {
            channel: "orders",
            channelToken: null,
            offset: 2,
            epoch,
          });
          await receivesOnly(d, sub, "orders", token, "once");
          const history = await call(d, "READ_HISTORY", { channel: "orders", channelToken: token });
          assert.deepEqual(
            history.body.data.publications.map((p: Json) => p.message).slice(0, 2),
            ["warm", "once"],
          );
          assert.equal(history.body.data.publications.length, 3);
        },
      );

      await t.step("after a restart the key still answers the first push", async () => {
        await d.restart();
        const again = await push(d, "orders", token, { message: "once", idempotencyKey: "k-503" });
        assert.deepEqual(again.body.data, {
          channel: "orders",
          channelToken: null,
          offset: 2,
          epoch,
        });
        const next = await push(d, "orders", token, { message: "next" });
        assert.equal(next.body.data.offset, 4);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/**
 * Makes the deployment's store stop answering until disposed: another process holds the SQLite
 * file's lock (single), or the cluster's redis-server is frozen with SIGSTOP. A Redis frozen
 * that way still runs the commands it was sent once it resumes: that is the case a key is for.
 */
async function storeOutage(d: Deployment, dbPath: string): Promise<AsyncDisposable> {
  if (d.redis !== undefined) {
    const redis = d.redis;
    redis.freeze(true);
    return { [Symbol.asyncDispose]: () => Promise.resolve(redis.freeze(false)) };
  }
  const locker = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", LOCKER, dbPath],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const lines = locker.stdout.pipeThrough(new TextDecoderStream()).values();
  assert.equal((await lines.next()).value?.trim(), "locked");
  return {
    [Symbol.asyncDispose]: async () => {
      await locker.stdin.close();
      assert.equal((await lines.next()).value?.trim(), "released");
      await lines.return?.();
      assert.equal((await locker.status).code, 0);
    },
  };
}
