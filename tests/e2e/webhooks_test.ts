/**
 * Black-box tests of PROTOCOL.md v1.2 "Webhooks" against a real HTTP receiver, on a single node
 * and on a two-node cluster (publishers on node A, subscribers on node B).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { action, createChannel, post, push, TestClient } from "../_helpers.ts";
import { verifyWebhook } from "../../src/publisher/webhook.js";
import type { WebhookEvent } from "../../src/webhooks/events.ts";
import { type Answer, Receiver } from "../webhooks/_receiver.ts";
import { e2e } from "./_backends.ts";
import { ServerProcess } from "./_process.ts";

const SECRET = "e2e-webhook-secret-0123456789";

function webhookEnv(receiver: Receiver): Record<string, string> {
  return { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET };
}

/** The names of `channel`'s events, in arrival order, each delivery id counted once. */
function namesOf(receiver: Receiver, channel: string): string[] {
  return receiver.events().filter((e) => e.channel === channel).map((e) => e.name);
}

/** Asserts `names` is created, then occupied/vacated pairs (at least one), then deleted. */
function assertAlternates(names: readonly string[]): void {
  assert.equal(names[0], "channel_created", names.join());
  assert.equal(names.at(-1), "channel_deleted", names.join());
  const middle = names.slice(1, -1);
  assert(middle.length >= 2 && middle.length % 2 === 0, names.join());
  middle.forEach((name, i) =>
    assert.equal(name, i % 2 === 0 ? "channel_occupied" : "channel_vacated", names.join())
  );
}

async function deleteChannel(httpUrl: string, channel: string, channelToken: string) {
  const reply = await post(
    `${httpUrl}/channel/delete`,
    action("DELETE_CHANNEL", { channel, channelToken }),
  );
  assert.equal(reply.status, 200);
}

e2e("webhooks: signed deliveries of the channel lifecycle, in order", async (t, backend) => {
  await using receiver = Receiver.start();
  await using server = await backend.start(webhookEnv(receiver));

  const token = await createChannel(server, "room");
  const client = await TestClient.connect(server.wsUrl);
  assert.equal((await client.act("SUBSCRIBE", "room")).message, "Subscribed");
  assert.equal((await client.act("UNSUBSCRIBE", "room")).message, "Unsubscribed");
  assert.equal((await client.act("SUBSCRIBE", "room")).message, "Subscribed");
  await deleteChannel(server.httpUrl, "room", token);
  assert.equal((await client.next()).message, "Channel Deleted");
  await client.close();
  await receiver.until(() => namesOf(receiver, "room").includes("channel_deleted"), "delete");

  await t.step("every event of the channel, once each, in the order it happened", () => {
    assert.deepEqual(namesOf(receiver, "room"), [
      "channel_created",
      "channel_occupied",
      "channel_vacated",
      "channel_occupied",
      "channel_vacated",
      "channel_deleted",
    ]);
  });

  await t.step("POST application/json, X-Pushserver-Signature verifies, body shape", async () => {
    for (const got of receiver.received) {
      assert.equal(got.contentType, "application/json");
      assert.match(got.signature ?? "", /^sha256=[0-9a-f]{64}$/);
      assert.equal(await verifyWebhook(SECRET, got.rawBody, got.signature), true);
      assert.equal(
        await verifyWebhook("another-secret-0123456", got.rawBody, got.signature),
        false,
      );
      const { id, timeMs, events } = got.delivery;
      assert.equal(typeof id, "string");
      assert(Number.isInteger(timeMs));
      assert(events.length >= 1 && events.length <= 100);
      for (const event of events) {
        assert.deepEqual(Object.keys(event).sort(), ["channel", "name", "timeMs"]);
        assert(Number.isInteger(event.timeMs));
      }
    }
  });

  await t.step("events close together share a delivery", () => {
    assert(receiver.received.length < 6, `${receiver.received.length} deliveries for 6 events`);
  });

  await t.step("/metrics counts delivered events", async () => {
    const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
    assert.match(text, /^pushserver_webhook_events_queued \d+$/m);
    assert.match(text, /^pushserver_webhook_events_dropped_total 0$/m);
    assert.match(text, /^pushserver_webhook_delivery_seconds_count \d+$/m);
    // In a cluster, one node (the lease holder) sent them all.
    let delivered = 0;
    for (const node of server.nodes) {
      const body = await (await fetch(`${node.httpUrl}/metrics`)).text();
      delivered += Number(/^pushserver_webhook_events_delivered_total (\d+)$/m.exec(body)![1]);
    }
    assert(delivered >= 6, `delivered ${delivered}`);
  });
});

e2e(
  "webhooks: occupied and vacated strictly alternate under concurrent subscribers on every node",
  async (_t, backend) => {
    await using receiver = Receiver.start();
    await using server = await backend.start(webhookEnv(receiver));
    const token = await createChannel(server, "busy");
    const clients = await Promise.all(
      server.nodes.flatMap((node) => [1, 2, 3].map(() => TestClient.connect(node.wsUrl))),
    );
    // Every client subscribes and unsubscribes 8 times at once with the others, on both nodes.
    await Promise.all(clients.map(async (client) => {
      for (let i = 0; i < 8; i++) {
        assert.equal((await client.act("SUBSCRIBE", "busy")).message, "Subscribed");
        assert.equal((await client.act("UNSUBSCRIBE", "busy")).message, "Unsubscribed");
      }
    }));
    // Half of them end subscribed and just disconnect.
    await Promise.all(clients.map(async (client, i) => {
      if (i % 2 === 0) await client.act("SUBSCRIBE", "busy");
      await client.close();
    }));
    await deleteChannel(server.httpUrl, "busy", token);
    await receiver.until(() => namesOf(receiver, "busy").includes("channel_deleted"), "delete");
    assertAlternates(namesOf(receiver, "busy"));
  },
);

e2e(
  "webhooks: deleting an occupied channel emits channel_vacated before channel_deleted",
  async (_t, backend) => {
    await using receiver = Receiver.start();
    await using server = await backend.start(webhookEnv(receiver));
    const token = await createChannel(server, "full");
    await using client = await TestClient.connect(server.wsUrl);
    await client.act("SUBSCRIBE", "full");
    await deleteChannel(server.httpUrl, "full", token);
    assert.equal((await client.next()).message, "Channel Deleted");
    await receiver.until(() => namesOf(receiver, "full").includes("channel_deleted"), "delete");
    // A later re-create is a new channel with its own lifecycle.
    await createChannel(server, "full");
    await receiver.until(() => namesOf(receiver, "full").length === 5, "re-create");
    assert.deepEqual(namesOf(receiver, "full"), [
      "channel_created",
      "channel_occupied",
      "channel_vacated",
      "channel_deleted",
      "channel_created",
    ]);
  },
);

e2e("webhooks: with the receiver hanging, pushes keep their latency", async (_t, backend) => {
  await using receiver = Receiver.start(() => "hang");
  await using server = await backend.start(webhookEnv(receiver));
  const token = await createChannel(server, "live");
  // The sender is now stuck on a request that never answers.
  await receiver.until(() => receiver.received.length >= 1, "the first delivery");
  await using client = await TestClient.connect(server.wsUrl);
  await client.act("SUBSCRIBE", "live");
  const latencies: number[] = [];
  for (let i = 0; i < 200; i++) {
    const sent = performance.now();
    const reply = await push(server, { channel: "live", channelToken: token, message: `m${i}` });
    assert.equal(reply.status, 200);
    const frame = await client.next();
    assert.equal(frame.data.pushMessage.message, `m${i}`);
    latencies.push(performance.now() - sent);
  }
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
  // PROTOCOL.md: under 100 ms. A generous bound here (the machine is shared); a sender in the
  // way would cost the 10 s attempt timeout. docs/webhooks.md has the measured figure.
  assert(p99 < 1000, `push→delivery p99 ${p99.toFixed(1)} ms`);
  assert.equal(receiver.received.length, 1, "still the one hanging delivery");
});

e2e(
  "webhooks: kill -9 with events queued, then a restart delivers every one",
  async (_t, backend) => {
    const dir = await Deno.makeTempDir({ prefix: "pushserver-webhooks-" });
    try {
      let accepting = false;
      const answer: Answer = () => (accepting ? 204 : 500);
      await using receiver = Receiver.start(answer);
      await using storage = await backend.processEnv();
      const env = { DB_PATH: join(dir, "push.db"), ...storage.env, ...webhookEnv(receiver) };
      const names = Array.from({ length: 30 }, (_, i) => `k${i}`);
      {
        await using server = await ServerProcess.spawn(env);
        for (const name of names) await createChannel(server, name);
        // A delivery was formed and failed at least once; the rest wait behind it.
        await receiver.until(() => receiver.received.length >= 1, "a failing attempt");
        server.kill("SIGKILL");
        assert.equal((await server.exit()).signal, "SIGKILL");
      }
      accepting = true;
      await using restarted = await ServerProcess.spawn(env);
      const created = () =>
        new Set(
          receiver.events().filter((e) => e.name === "channel_created").map((e) => e.channel),
        );
      await receiver.until(
        () => names.every((n) => created().has(n)),
        "every channel_created",
        30_000,
      );
      // Duplicates are allowed, and recognisable: a delivery id always comes with the same body.
      const bodies = new Map<string, string>();
      for (const got of receiver.received) {
        const seen = bodies.get(got.delivery.id);
        if (seen !== undefined) assert.equal(got.rawBody, seen);
        bodies.set(got.delivery.id, got.rawBody);
      }
      const order = receiver.events().filter((e: WebhookEvent) => e.name === "channel_created")
        .map((e) => e.channel);
      assert.deepEqual([...new Set(order)], names, "in the order they happened");
      restarted.kill("SIGTERM");
      await restarted.exit();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

e2e(
  "webhooks: presence joins and leaves are subscriber_joined/subscriber_left with uuid and info",
  async (_t, backend) => {
    await using receiver = Receiver.start();
    await using server = await backend.start(webhookEnv(receiver));
    const created = await post(
      `${server.httpUrl}/channel/create`,
      action("CREATE_CHANNEL", { channel: "lobby", presence: true }),
    );
    assert.equal(created.status, 200);
    const token = created.body.data.channelToken;
    const client = await TestClient.connect(server.wsUrl);
    client.sendRaw(JSON.stringify({
      messageType: "CLIENT_ACTION",
      action: "SUBSCRIBE",
      data: { channel: "lobby", info: { user: "ann" } },
    }));
    assert.equal((await client.next()).message, "Subscribed");
    assert.equal((await client.act("UNSUBSCRIBE", "lobby")).message, "Unsubscribed");
    await client.close();
    await deleteChannel(server.httpUrl, "lobby", token);
    await receiver.until(() => namesOf(receiver, "lobby").includes("channel_deleted"), "delete");

    const events = receiver.events().filter((e) => e.channel === "lobby");
    const names = events.map((e) => e.name);
    assert.equal(names[0], "channel_created", names.join());
    assert.equal(names.at(-1), "channel_deleted", names.join());
    const joined = names.indexOf("subscriber_joined");
    const left = names.indexOf("subscriber_left");
    assert.ok(joined > 0 && left > joined, names.join());
    assert.equal(names.filter((n) => n.startsWith("subscriber_")).length, 2, names.join());
    for (const i of [joined, left]) {
      assert.deepEqual(
        { uuid: (events[i] as { uuid: string }).uuid, info: (events[i] as { info: unknown }).info },
        { uuid: client.uuid, info: { user: "ann" } },
      );
    }
  },
);
