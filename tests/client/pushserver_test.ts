import assert from "node:assert/strict";
import {
  backoffDelay,
  LOCAL_ERROR_CODE,
  PushClient,
  type PushClientEvents,
  PushError,
  type PushMeta,
} from "../../src/client/pushserver.js";
import { action, createChannel, post, push, startTestServer } from "../_helpers.ts";
import { freePort, Inbox, startV1Server, within } from "./_support.ts";

/** Resolves with the next `name` event of `client`. */
function nextEvent<K extends keyof PushClientEvents>(
  client: PushClient,
  name: K,
  ms = 5000,
): Promise<PushClientEvents[K]> {
  const { promise, resolve } = Promise.withResolvers<PushClientEvents[K]>();
  const off = client.on(name, (event) => {
    off();
    resolve(event);
  });
  return within(ms, promise, `the "${name}" event`).finally(off);
}

/**
 * Settings for a server that can be stopped and started again on the same ports, with its
 * channels kept in a file DB (removed on dispose).
 */
async function restartableEnv(): Promise<AsyncDisposable & { env: Record<string, string> }> {
  const dir = await Deno.makeTempDir({ prefix: "pushserver_client_" });
  return {
    env: { PORT_WS: String(freePort()), PORT_HTTP: String(freePort()), DB_PATH: `${dir}/push.db` },
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("backoffDelay() grows by factor from minDelayMs, caps at maxDelayMs, minus jitter", () => {
  const options = { minDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5 };
  const none = () => 0;
  assert.deepEqual(
    [0, 1, 2, 3, 4, 10].map((attempt) => backoffDelay(attempt, options, none)),
    [100, 200, 400, 800, 1000, 1000],
  );
  // The most jitter can remove is `jitter` of the delay.
  assert.equal(backoffDelay(3, options, () => 0.999999), 400);
  assert.equal(backoffDelay(0, { ...options, jitter: 0 }, () => 0.9), 100);
  // Defaults: 500 ms first, 30 s cap.
  assert.equal(backoffDelay(0, {}, none), 500);
  assert.equal(backoffDelay(20, {}, none), 30_000);
});

Deno.test("[e2e] PushClient against a real server", async (t) => {
  await using server = await startTestServer();
  const token = await createChannel(server, "news");

  await t.step("connect() resolves once the server has assigned a UUID", async () => {
    await using client = await PushClient.connect(server.wsUrl);
    assert.match(
      client.uuid,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.equal(client.state, "open");
    assert.deepEqual(client.channels, []);
  });

  await t.step("subscribe() resolves on the ack; pushes arrive with their meta", async () => {
    await using client = await PushClient.connect(server.wsUrl);
    const inbox = new Inbox<[string, PushMeta]>();
    const unsubscribe = await client.subscribe<string>(
      "news",
      (message, meta) => inbox.put([message, meta]),
    );
    assert.equal(typeof unsubscribe, "function");
    assert.deepEqual(client.channels, ["news"]);
    assert.equal(
      (await push(server, { channel: "news", channelToken: token, message: "héllo" })).status,
      200,
    );
    assert.deepEqual(await inbox.take(), [
      "héllo",
      { channel: "news", uuid: client.uuid, subscribedChannels: ["news"] },
    ]);
  });

  await t.step("subscribe() to a missing channel rejects with the server's 404", async () => {
    await using client = await PushClient.connect(server.wsUrl);
    const error = await client.subscribe("nope", () => {}).then(
      () => assert.fail("subscribe should reject"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof PushError);
    assert.equal(error.code, 404);
    assert.equal(error.message, "Not found");
    assert.equal(error.errorDetails, 'Could not find a channel called "nope"');
    assert.deepEqual(client.channels, []);
  });

  await t.step("subscribe() rejects with 400 for an invalid channel name", async () => {
    await using client = await PushClient.connect(server.wsUrl);
    await assert.rejects(client.subscribe("", () => {}), (e: unknown) => {
      assert.ok(e instanceof PushError);
      assert.equal(e.code, 400);
      return true;
    });
  });

  await t.step(
    "the unsubscribe function removes its handler; the last one unsubscribes",
    async () => {
      await using client = await PushClient.connect(server.wsUrl);
      const first = new Inbox<string>();
      const second = new Inbox<string>();
      const offFirst = await client.subscribe("news", first.put);
      const offSecond = await client.subscribe("news", second.put);
      await push(server, { channel: "news", channelToken: token, message: "both" });
      assert.equal(await first.take(), "both");
      assert.equal(await second.take(), "both");

      await offFirst();
      await offFirst(); // idempotent
      assert.deepEqual(client.channels, ["news"]);
      await push(server, { channel: "news", channelToken: token, message: "second only" });
      assert.equal(await second.take(), "second only");
      assert.equal(first.size, 0);

      await offSecond();
      assert.deepEqual(client.channels, []);
      // A probe client proves the push went out; the unsubscribed client must not get it.
      await using probe = await PushClient.connect(server.wsUrl);
      const probed = new Inbox<string>();
      await probe.subscribe("news", probed.put);
      await push(server, { channel: "news", channelToken: token, message: "nobody" });
      assert.equal(await probed.take(), "nobody");
      assert.equal(first.size + second.size, 0);
    },
  );

  await t.step(
    "a handler that throws is reported as an error event; others still run",
    async () => {
      await using client = await PushClient.connect(server.wsUrl);
      const errors = nextEvent(client, "error");
      const inbox = new Inbox<string>();
      await client.subscribe("news", () => {
        throw new Error("handler bug");
      });
      await client.subscribe("news", inbox.put);
      await push(server, { channel: "news", channelToken: token, message: "still here" });
      assert.equal(await inbox.take(), "still here");
      const { error, channel } = await errors;
      assert.equal(channel, "news");
      assert.ok(error instanceof Error);
      assert.equal(error.message, "handler bug");
    },
  );

  await t.step("deleting a subscribed channel emits channelDeleted and drops it", async () => {
    const doomed = await createChannel(server, "doomed");
    await using client = await PushClient.connect(server.wsUrl);
    await client.subscribe("news", () => {});
    await client.subscribe("doomed", () => {});
    const deleted = nextEvent(client, "channelDeleted");
    const reply = await post(
      `${server.httpUrl}/channel/delete`,
      action("DELETE_CHANNEL", { channel: "doomed", channelToken: doomed }),
    );
    assert.equal(reply.status, 200);
    assert.deepEqual(await deleted, { channel: "doomed" });
    assert.deepEqual(client.channels, ["news"]);
  });

  await t.step("close() is final: later subscribes reject with code 0", async () => {
    const client = await PushClient.connect(server.wsUrl);
    await client.close();
    assert.equal(client.state, "closed");
    await assert.rejects(client.subscribe("news", () => {}), (e: unknown) => {
      assert.ok(e instanceof PushError);
      assert.equal(e.code, LOCAL_ERROR_CODE);
      return true;
    });
  });
});

Deno.test("[e2e] PushClient.connect() rejects with code 0 when nothing listens", async () => {
  const port = freePort();
  await assert.rejects(PushClient.connect(`ws://127.0.0.1:${port}`), (e: unknown) => {
    assert.ok(e instanceof PushError);
    assert.equal(e.code, LOCAL_ERROR_CODE);
    assert.equal(e.message, "Connection failed");
    assert.match(e.errorDetails ?? "", new RegExp(`127\\.0\\.0\\.1:${port}`));
    return true;
  });
});

Deno.test("[e2e] PushClient reconnects after a server restart and resubscribes", async () => {
  await using restartable = await restartableEnv();
  const { env } = restartable;
  const first = await startTestServer(env);
  const token = await createChannel(first, "news");
  await using client = await PushClient.connect(first.wsUrl, { minDelayMs: 20, maxDelayMs: 100 });
  const inbox = new Inbox<[string, PushMeta]>();
  await client.subscribe<string>("news", (message, meta) => inbox.put([message, meta]));
  const oldUuid = client.uuid;

  const disconnected = nextEvent(client, "disconnected");
  await first.shutdown();
  const lost = await disconnected;
  assert.equal(lost.code, 1001);
  assert.equal(lost.willReconnect, true);
  assert.equal(client.state, "reconnecting");

  const reconnected = nextEvent(client, "reconnected", 10_000);
  await using second = await startTestServer(env);
  const event = await reconnected;
  assert.notEqual(event.uuid, oldUuid);
  assert.equal(event.previousUuid, oldUuid);
  assert.equal(event.uuid, client.uuid);
  assert.deepEqual(event.channels, ["news"]);
  assert.equal(client.state, "open");

  const reply = await push(second, { channel: "news", channelToken: token, message: "after" });
  assert.equal(reply.status, 200);
  const [message, meta] = await inbox.take();
  assert.equal(message, "after");
  assert.equal(meta.uuid, client.uuid);
});

Deno.test("[e2e] PushClient queues a subscribe made while reconnecting", async () => {
  await using restartable = await restartableEnv();
  const { env } = restartable;
  const first = await startTestServer(env);
  const token = await createChannel(first, "later");
  await using client = await PushClient.connect(first.wsUrl, { minDelayMs: 20, maxDelayMs: 100 });
  const disconnected = nextEvent(client, "disconnected");
  await first.shutdown();
  await disconnected;

  const inbox = new Inbox<string>();
  const subscribed = client.subscribe("later", inbox.put);
  await using second = await startTestServer(env);
  await within(10_000, subscribed, "the queued subscribe");
  assert.deepEqual(client.channels, ["later"]);
  await push(second, { channel: "later", channelToken: token, message: "queued ok" });
  assert.equal(await inbox.take(), "queued ok");
});

Deno.test("[e2e] PushClient reports a channel that is gone after a reconnect", async () => {
  // An in-memory store forgets the channel across the restart, so resubscribing gets a 404.
  const env = { PORT_WS: String(freePort()), PORT_HTTP: String(freePort()) };
  const first = await startTestServer(env);
  await createChannel(first, "ephemeral");
  await using client = await PushClient.connect(first.wsUrl, { minDelayMs: 20, maxDelayMs: 100 });
  await client.subscribe("ephemeral", () => {});
  const disconnected = nextEvent(client, "disconnected");
  await first.shutdown();
  await disconnected;

  const failed = nextEvent(client, "error", 10_000);
  const reconnected = nextEvent(client, "reconnected", 10_000);
  await using _second = await startTestServer(env);
  const { error, channel } = await failed;
  assert.equal(channel, "ephemeral");
  assert.ok(error instanceof PushError);
  assert.equal(error.code, 404);
  assert.deepEqual((await reconnected).channels, []);
  assert.deepEqual(client.channels, []);
});

Deno.test("[e2e] PushClient with reconnect: false closes for good when the server goes", async () => {
  const server = await startTestServer();
  const client = await PushClient.connect(server.wsUrl, { reconnect: false });
  const disconnected = nextEvent(client, "disconnected");
  await server.shutdown();
  const event = await disconnected;
  assert.equal(event.code, 1001);
  assert.equal(typeof event.reason, "string");
  assert.equal(event.willReconnect, false);
  assert.equal(event.delayMs, null);
  assert.equal(client.state, "closed");
  await client.close();
});

Deno.test("[e2e] PushClient resubscribes past the server's frame rate limit (429 is retried)", async () => {
  await using restartable = await restartableEnv();
  const { env } = restartable;
  const names = Array.from({ length: 8 }, (_, i) => `c${i}`);
  const first = await startTestServer(env);
  for (const name of names) await createChannel(first, name);
  await using client = await PushClient.connect(first.wsUrl, { minDelayMs: 20, maxDelayMs: 100 });
  for (const name of names) await client.subscribe(name, () => {});
  const disconnected = nextEvent(client, "disconnected");
  await first.shutdown();
  await disconnected;

  let errors = 0;
  client.on("error", () => errors++);
  const reconnected = nextEvent(client, "reconnected", 10_000);
  // The restarted server allows a burst of only 5 frames, then 20 per second.
  await using _second = await startTestServer({
    ...env,
    WS_FRAME_BURST: "5",
    WS_FRAME_RATE: "20",
  });
  const event = await reconnected;
  assert.deepEqual([...event.channels].sort(), names);
  assert.deepEqual(client.channels, names);
  assert.equal(errors, 0);
});

Deno.test("[e2e] PushClient restores 1,000 channels within 15 s of a restart, without a 429 or a 1008", async () => {
  // The attack: with 500–1,000 channels the client's resubscribe burst passed the server's frame
  // limit (100/s, burst 200) and was closed with 1008, again and again. 1,000 is the server's
  // default MAX_SUBSCRIPTIONS_PER_CONNECTION, the most one connection can hold.
  await using restartable = await restartableEnv();
  const { env } = restartable;
  const names = Array.from({ length: 1000 }, (_, i) => `many-${i}`);
  // The first server accepts frames at any rate so the setup does not depend on the fix.
  const first = await startTestServer({
    ...env,
    WS_FRAME_RATE: "1000000",
    WS_FRAME_BURST: "1000000",
  });
  const tokens = new Map<string, string>();
  for (let i = 0; i < names.length; i += 25) {
    await Promise.all(
      names.slice(i, i + 25).map(async (name) =>
        tokens.set(name, await createChannel(first, name))
      ),
    );
  }
  await using client = await PushClient.connect(first.wsUrl, { minDelayMs: 20, maxDelayMs: 100 });
  const inbox = new Inbox<[string, string]>();
  await Promise.all(
    names.map((name) =>
      client.subscribe<string>(name, (message, meta) => inbox.put([meta.channel, message]))
    ),
  );
  assert.equal(client.channels.length, 1000);

  const closes: number[] = [];
  client.on("disconnected", ({ code }) => closes.push(code));
  const errors: unknown[] = [];
  client.on("error", ({ error }) => errors.push(error));
  const disconnected = nextEvent(client, "disconnected");
  await first.shutdown();
  await disconnected;

  const reconnected = nextEvent(client, "reconnected", 15_000);
  const started = performance.now();
  // The restarted server has the default frame limits (100/s, burst 200).
  await using second = await startTestServer(env);
  const event = await reconnected;
  const elapsedMs = performance.now() - started;
  assert.ok(elapsedMs < 15_000, `restored in ${Math.round(elapsedMs)} ms`);
  assert.equal(event.channels.length, 1000);
  assert.deepEqual([...event.channels].sort(), [...names].sort());
  assert.deepEqual(closes, [1001], "only the shutdown closed the client (no 1008)");
  assert.deepEqual(errors, []);
  const metrics = await (await fetch(`${second.httpUrl}/metrics`)).text();
  assert.doesNotMatch(metrics, /pushserver_errors_total\{transport="ws",code="429"\}/);
  // The last channel restored is live.
  const last = names[names.length - 1]!;
  await push(second, { channel: last, channelToken: tokens.get(last)!, message: "back" });
  assert.deepEqual(await inbox.take(), [last, "back"]);
});

Deno.test("[e2e] PushClient uses compact frames with this server and keeps its own channel list", async () => {
  await using server = await startTestServer();
  const tokens = new Map<string, string>();
  for (const name of ["one", "two", "three"]) tokens.set(name, await createChannel(server, name));
  await using client = await PushClient.connect(server.wsUrl);
  assert.equal(client.compact, true);
  const inbox = new Inbox<[string, PushMeta]>();
  for (const name of tokens.keys()) {
    await client.subscribe<string>(name, (message, meta) => inbox.put([message, meta]));
  }
  await push(server, { channel: "two", channelToken: tokens.get("two")!, message: "hi" });
  assert.deepEqual(await inbox.take(), ["hi", {
    channel: "two",
    uuid: client.uuid,
    subscribedChannels: ["one", "two", "three"],
  }]);

  const deleted = nextEvent(client, "channelDeleted");
  const del = await post(
    `${server.httpUrl}/channel/delete`,
    action("DELETE_CHANNEL", { channel: "one", channelToken: tokens.get("one") }),
  );
  assert.equal(del.status, 200);
  assert.deepEqual(await deleted, { channel: "one" });

  const revoked = nextEvent(client, "subscriptionRevoked");
  const revoke = await post(
    `${server.httpUrl}/channel/revoke`,
    action("REVOKE_SUBSCRIBER", {
      channel: "two",
      channelToken: tokens.get("two"),
      uuid: client.uuid,
    }),
  );
  assert.equal(revoke.status, 200);
  assert.deepEqual(await revoked, { channel: "two" });
  assert.deepEqual(client.channels, ["three"]);

  await push(server, { channel: "three", channelToken: tokens.get("three")!, message: "left" });
  assert.deepEqual(await inbox.take(), ["left", {
    channel: "three",
    uuid: client.uuid,
    subscribedChannels: ["three"],
  }]);
});

Deno.test("[e2e] PushClient speaks v1 to a server that does not accept the subprotocol", async () => {
  await using server = startV1Server();
  await using client = await PushClient.connect(server.url);
  assert.equal(client.compact, false);
  await client.subscribe("old", () => {});
  await client.subscribe("older", () => {});
  assert.deepEqual(client.channels, ["old", "older"]);
});
