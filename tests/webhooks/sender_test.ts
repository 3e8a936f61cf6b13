/**
 * The webhook sender against a real HTTP receiver, on a hand-driven clock: signatures, batching,
 * retries with the same id and growing gaps, dropping after the retry window (PROTOCOL.md v1.2
 * "Webhooks").
 */
import assert from "node:assert/strict";
import { SqliteChannelStore } from "../../src/local/sqlite_store.ts";
import { SqliteOutbox } from "../../src/local/sqlite_outbox.ts";
import { silentLogger } from "../../src/log.ts";
import { verifyWebhook } from "../../src/publisher/webhook.js";
import { retryDelayMs } from "../../src/webhooks/sender.ts";
import { WebhookSigner } from "../../src/webhooks/signature.ts";
import { Webhooks } from "../../src/webhooks/webhooks.ts";
import { FakeTimers } from "./_fake_timers.ts";
import { type Answer, Receiver } from "./_receiver.ts";

const SECRET = "a-webhook-secret-of-32-characters";

/** A sender over an in-memory SQLite outbox, on `timers`, posting to `receiver`. */
function startWebhooks(receiver: Receiver, timers: FakeTimers, retryS = 3600) {
  const store = new SqliteChannelStore(":memory:");
  const webhooks = new Webhooks({
    config: { url: receiver.url, secret: SECRET, retryS },
    outbox: new SqliteOutbox(store.database, timers.now),
    logger: silentLogger(),
    now: timers.now,
    timers,
  });
  webhooks.start();
  return {
    webhooks,
    async [Symbol.asyncDispose]() {
      await webhooks.close();
      store.close();
    },
  };
}

/** Fires timers until `done()` (each run finishes before the next timer exists). */
async function drive(timers: FakeTimers, done: () => boolean, maxFires = 500): Promise<void> {
  for (let i = 0; !done(); i++) {
    assert(i < maxFires, "the sender never got there");
    await timers.fire();
  }
}

Deno.test("WebhookSigner signs with HMAC-SHA256, lowercase hex (RFC 4231 test case 2)", async () => {
  const signature = await new WebhookSigner("Jefe").sign("what do ya want for nothing?");
  assert.equal(
    signature,
    "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  );
});

Deno.test("verifyWebhook() accepts the server's signature and nothing else", async () => {
  const body = JSON.stringify({ id: "x", timeMs: 1, events: [] });
  const header = await new WebhookSigner(SECRET).sign(body);
  assert.equal(await verifyWebhook(SECRET, body, header), true);
  assert.equal(await verifyWebhook(SECRET, new TextEncoder().encode(body), header), true);
  assert.equal(await verifyWebhook(SECRET, body + " ", header), false, "body changed");
  assert.equal(await verifyWebhook(SECRET + "x", body, header), false, "other secret");
  const flipped = header.slice(0, -1) + (header.endsWith("0") ? "1" : "0");
  assert.equal(await verifyWebhook(SECRET, body, flipped), false, "one digit off");
  for (
    const bad of [null, undefined, "", header.slice(7), "sha1=" + header.slice(7), header + "0"]
  ) {
    assert.equal(await verifyWebhook(SECRET, body, bad), false, String(bad));
  }
  await assert.rejects(() => verifyWebhook("", body, header), TypeError);
});

Deno.test("retry delays: 1 s doubling, at most 60 s apart", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 20].map(retryDelayMs),
    [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000],
  );
});

Deno.test("a delivery is a signed JSON POST of {id, timeMs, events}", async () => {
  const timers = new FakeTimers();
  await using receiver = Receiver.start();
  await using sender = startWebhooks(receiver, timers);
  const before = timers.now();
  await sender.webhooks.created("news");
  await drive(timers, () => receiver.received.length === 1);
  const [got] = receiver.received;
  assert.equal(got!.contentType, "application/json");
  assert.match(got!.signature ?? "", /^sha256=[0-9a-f]{64}$/);
  assert.equal(await verifyWebhook(SECRET, got!.rawBody, got!.signature), true);
  const { id, timeMs, events } = got!.delivery;
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert(Number.isInteger(timeMs) && timeMs >= before);
  assert.deepEqual(events, [{ name: "channel_created", channel: "news", timeMs: before }]);
  await drive(timers, () => sender.webhooks.stats().delivered === 1);
  const stats = sender.webhooks.stats();
  assert.equal(stats.queued, 0);
  assert.equal(stats.lastDeliveryMs, timers.now());
});

Deno.test("events within 1 s share a delivery; at most 100 per delivery, in order", async () => {
  const timers = new FakeTimers();
  await using receiver = Receiver.start();
  await using sender = startWebhooks(receiver, timers);
  const start = timers.now();
  await sender.webhooks.created("a");
  timers.nowMs = start + 300;
  await sender.webhooks.created("b");
  timers.nowMs = start + 600;
  await sender.webhooks.created("c");
  await drive(timers, () => receiver.received.length === 1);
  assert.deepEqual(receiver.received[0]!.delivery.events.map((e) => e.channel), ["a", "b", "c"]);
  assert(timers.now() >= start + 1000, "formed once the oldest event was 1 s old");

  for (let i = 0; i < 250; i++) await sender.webhooks.created(`n${i}`);
  await drive(timers, () => receiver.received.length === 4);
  const sizes = receiver.received.slice(1).map((r) => r.delivery.events.length);
  assert.deepEqual(sizes, [100, 100, 50]);
  const names = receiver.received.slice(1).flatMap((r) => r.delivery.events.map((e) => e.channel));
  assert.deepEqual(names, Array.from({ length: 250 }, (_, i) => `n${i}`));
  assert.equal(new Set(receiver.received.map((r) => r.delivery.id)).size, 4, "distinct ids");
});

Deno.test("a receiver failing the first 3 attempts gets the same id and body after 1, 2, 4 s", async () => {
  const timers = new FakeTimers();
  const answers: Answer = (n) => (n < 3 ? 500 : 200);
  await using receiver = Receiver.start(answers, timers.now);
  await using sender = startWebhooks(receiver, timers);
  await sender.webhooks.created("flaky");
  await drive(timers, () => receiver.received.length === 4);
  const [first, ...rest] = receiver.received;
  for (const again of rest) {
    assert.equal(again.rawBody, first!.rawBody, "the same body, byte for byte");
    assert.equal(again.signature, first!.signature);
  }
  const gaps = rest.map((r, i) => r.at - receiver.received[i]!.at);
  assert.deepEqual(gaps, [1000, 2000, 4000]);
  await drive(timers, () => sender.webhooks.stats().delivered === 1);
  const stats = sender.webhooks.stats();
  assert.equal(stats.retried, 3);
  assert.equal(stats.dropped, 0);
  assert.equal(stats.lastError, "HTTP 500");
  assert.match(sender.webhooks.metrics(), /^pushserver_webhook_retries_total 3$/m);
  assert.match(sender.webhooks.metrics(), /^pushserver_webhook_events_delivered_total 1$/m);
});

Deno.test("after WEBHOOK_RETRY_S of failures a delivery is dropped and counted; the next one goes on", async () => {
  const timers = new FakeTimers();
  let failing = true;
  await using receiver = Receiver.start(() => (failing ? 503 : 204), timers.now);
  await using sender = startWebhooks(receiver, timers, 5);
  await sender.webhooks.created("doomed");
  await drive(timers, () => sender.webhooks.stats().dropped === 1);
  // Attempts at 0, 1, 3 and 7 s: the window of 5 s has passed after the fourth.
  const attempts = receiver.received.map((r) => r.at - receiver.received[0]!.at);
  assert.deepEqual(attempts, [0, 1000, 3000, 7000]);
  assert.equal(new Set(receiver.received.map((r) => r.delivery.id)).size, 1);
  assert.match(sender.webhooks.metrics(), /^pushserver_webhook_events_dropped_total 1$/m);
  failing = false;
  await sender.webhooks.created("next");
  await drive(timers, () => sender.webhooks.stats().delivered === 1);
  const last = receiver.received.at(-1)!.delivery;
  assert.deepEqual(last.events.map((e) => e.channel), ["next"]);
  assert.notEqual(last.id, receiver.received[0]!.delivery.id);
});

Deno.test("SqliteOutbox: occupied/vacated only on transitions; delete of an occupied channel vacates first; a restart vacates what was left occupied", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/outbox.db`;
    const names = async (outbox: SqliteOutbox) => {
      const got: string[] = [];
      await outbox.form(100, 0, (events) => {
        got.push(...events.map((e) => `${e.name}:${e.channel}`));
        return { id: "d", body: "{}" };
      });
      await outbox.finish("d");
      return got;
    };
    const store = new SqliteChannelStore(path);
    const outbox = new SqliteOutbox(store.database);
    await outbox.occupy("a", 1);
    await outbox.occupy("a", 2);
    await outbox.vacate("a", 3);
    await outbox.vacate("a", 4);
    await outbox.occupy("a", 5);
    await outbox.deleted("a", 6);
    await outbox.vacate("a", 7);
    await outbox.deleted("b", 8);
    await outbox.occupy("c", 9);
    assert.deepEqual(await names(outbox), [
      "channel_occupied:a",
      "channel_vacated:a",
      "channel_occupied:a",
      "channel_vacated:a",
      "channel_deleted:a",
      "channel_deleted:b",
      "channel_occupied:c",
    ]);
    store.close();
    const reopened = new SqliteChannelStore(path);
    assert.deepEqual(await names(new SqliteOutbox(reopened.database)), ["channel_vacated:c"]);
    reopened.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
