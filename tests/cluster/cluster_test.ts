/**
 * Cluster mode end to end: one throwaway redis-server and two in-process nodes sharing it
 * (startServer with REDIS_URL, each on its own free ports).
 */
import assert from "node:assert/strict";
import {
  action,
  createChannel,
  post,
  push,
  startTestServer,
  TestClient,
  type TestServer,
} from "../_helpers.ts";
import { eventually, RedisServer } from "./_redis.ts";

function node(redis: RedisServer, env: Record<string, string> = {}): Promise<TestServer> {
  return startTestServer({ REDIS_URL: redis.url, ...env });
}

function act(server: TestServer, path: string, name: string, data: Record<string, unknown>) {
  return post(`${server.httpUrl}${path}`, action(name, data));
}

const ADMIN_TOKEN = "admin-token-of-16+chars";

Deno.test("[cluster] pushes, deletes and pings cross nodes", async (t) => {
  await using redis = await RedisServer.start();
  await using a = await node(redis, { ADMIN_TOKEN });
  await using b = await node(redis, { ADMIN_TOKEN });

  await t.step("a channel created on A is pinged on B", async () => {
    await createChannel(a, "news");
    const reply = await act(b, "/channel/ping", "PING_CHANNEL", {
      channel: "news",
      channelToken: null,
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.message, "OK");
    const missing = await act(b, "/channel/ping", "PING_CHANNEL", {
      channel: "nope",
      channelToken: null,
    });
    assert.equal(missing.status, 404);
  });

  await t.step("a subscriber on A receives a push posted to B", async () => {
    const token = await createChannel(b, "cross");
    await using subscriber = await TestClient.connect(a.wsUrl);
    assert.equal((await subscriber.act("SUBSCRIBE", "cross")).message, "Subscribed");
    const reply = await push(b, { channel: "cross", channelToken: token, message: "hello A" });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.message, "Sent");
    const frame = await subscriber.next();
    assert.equal(frame.messageType, "CLIENT_PUSH");
    assert.equal(frame.data.uuid, subscriber.uuid);
    assert.deepEqual(frame.data.pushMessage, { channel: "cross", message: "hello A" });
  });

  await t.step("a delete on B notifies A's subscribers; the token is refused at once", async () => {
    const token = await createChannel(a, "doomed");
    await using onA = await TestClient.connect(a.wsUrl);
    await using onB = await TestClient.connect(b.wsUrl);
    await onA.act("SUBSCRIBE", "doomed");
    await onB.act("SUBSCRIBE", "doomed");
    // A has checked (and cached) the token before the delete.
    assert.equal(
      (await push(a, { channel: "doomed", channelToken: token, message: "1" })).status,
      200,
    );
    assert.equal((await onA.next()).data.pushMessage.message, "1");
    assert.equal((await onB.next()).data.pushMessage.message, "1");
    const deleted = await act(b, "/channel/delete", "DELETE_CHANNEL", {
      channel: "doomed",
      channelToken: token,
    });
    assert.equal(deleted.status, 200);
    assert.equal(
      (await push(a, { channel: "doomed", channelToken: token, message: "2" })).status,
      404,
    );
    for (const client of [onA, onB]) {
      const ack = await client.next(1000);
      assert.equal(ack.message, "Channel Deleted");
      assert.deepEqual(ack.data.subscribedChannels, []);
    }
  });

  await t.step("a targeted push reaches only the named UUID, on whichever node", async () => {
    const token = await createChannel(a, "targets");
    await using onA = await TestClient.connect(a.wsUrl);
    await using onB = await TestClient.connect(b.wsUrl);
    await onA.act("SUBSCRIBE", "targets");
    await onB.act("SUBSCRIBE", "targets");
    const toB = await push(a, {
      channel: "targets",
      channelToken: token,
      message: "only B",
      recipients: [onB.uuid],
    });
    assert.equal(toB.status, 200);
    await push(a, { channel: "targets", channelToken: token, message: "everyone" });
    // Per channel, pushes arrive in order: A's first frame being the broadcast proves it got
    // nothing before it.
    assert.equal((await onB.next()).data.pushMessage.message, "only B");
    assert.equal((await onB.next()).data.pushMessage.message, "everyone");
    assert.equal((await onA.next()).data.pushMessage.message, "everyone");
  });

  await t.step(
    "/sysadmin shows the node's own connections and the cluster's channels",
    async () => {
      await using _onB = await TestClient.connect(b.wsUrl);
      const sysadmin = async (server: TestServer) => {
        const response = await fetch(`${server.httpUrl}/sysadmin`, {
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        });
        assert.equal(response.status, 200);
        return (await response.json()).data;
      };
      const fromA = await sysadmin(a);
      const fromB = await sysadmin(b);
      assert.deepEqual(fromA.channels, ["news", "cross", "targets"]);
      assert.equal(fromA.channelsAmount, 3);
      assert.deepEqual(fromB.channels, fromA.channels);
      assert.equal(fromA.clientsAmount, 0);
      assert.equal(fromB.clientsAmount, 1);
    },
  );

  await t.step("/metrics shows the Redis state and pub/sub counters", async () => {
    const text = await fetch(`${a.httpUrl}/metrics`).then((r) => r.text());
    assert.match(text, /^pushserver_redis_up 1$/m);
    assert.match(text, /^pushserver_channels 3$/m);
    assert.match(text, /^pushserver_pubsub_channels 0$/m);
    assert.match(text, /^pushserver_pubsub_messages_received_total [1-9]\d*$/m);
    assert.match(text, /^pushserver_pubsub_publishes_total [1-9]\d*$/m);
    assert.match(text, /^pushserver_redis_disconnects_total 0$/m);
  });
});

Deno.test("[cluster] v1.1 features work across nodes", async (t) => {
  await using redis = await RedisServer.start();
  await using a = await node(redis);
  await using b = await node(redis);

  await t.step("history: push on B, recover on A, offsets shared", async () => {
    const created = await act(a, "/channel/create", "CREATE_CHANNEL", {
      channel: "log",
      history: { size: 10, ttlSeconds: 60 },
    });
    assert.equal(created.status, 200);
    const { channelToken: token, epoch } = created.body.data;
    for (const [i, server] of [b, b, b].entries()) {
      const sent = await push(server, {
        channel: "log",
        channelToken: token,
        message: `m${i + 1}`,
      });
      assert.equal(sent.status, 200);
      assert.deepEqual(sent.body.data, {
        channel: "log",
        channelToken: null,
        offset: i + 1,
        epoch,
      });
    }
    await using late = await TestClient.connect(a.wsUrl);
    const ack = await late.act("SUBSCRIBE", "log", {
      data: { channel: "log", since: { offset: 1, epoch } },
    });
    assert.equal(ack.message, "Subscribed");
    assert.deepEqual(ack.data.recovery, { channel: "log", epoch, offset: 3, recovered: true });
    for (const offset of [2, 3]) {
      const frame = await late.next();
      assert.deepEqual(frame.data.pushMessage, {
        channel: "log",
        message: `m${offset}`,
        offset,
        epoch,
      });
    }
    const next = await push(a, { channel: "log", channelToken: token, message: "m4" });
    assert.equal(next.body.data.offset, 4);
    assert.deepEqual((await late.next()).data.pushMessage, {
      channel: "log",
      message: "m4",
      offset: 4,
      epoch,
    });
  });

  let token = "";
  let onA: TestClient | undefined;
  await t.step("a grant on B lets a connection on A subscribe to a private channel", async () => {
    const created = await act(b, "/channel/create", "CREATE_CHANNEL", {
      channel: "vip",
      private: true,
    });
    token = created.body.data.channelToken;
    onA = await TestClient.connect(a.wsUrl);
    const refused = await onA.act("SUBSCRIBE", "vip");
    assert.equal(refused.code, 403);
    const granted = await act(b, "/channel/authorize", "AUTHORIZE_SUBSCRIBER", {
      channel: "vip",
      channelToken: token,
      uuid: onA.uuid,
    });
    assert.equal(granted.status, 200);
    assert.equal(granted.body.message, "Authorized");
    assert.equal((await onA.act("SUBSCRIBE", "vip")).message, "Subscribed");
  });

  await t.step("revoke on B kicks the subscriber on A", async () => {
    assert(onA !== undefined);
    const revoked = await act(b, "/channel/revoke", "REVOKE_SUBSCRIBER", {
      channel: "vip",
      channelToken: token,
      uuid: onA.uuid,
    });
    assert.equal(revoked.status, 200);
    const ack = await onA.next(1000);
    assert.equal(ack.message, "Subscription Revoked");
    assert.deepEqual(ack.data.subscribedChannels, []);
    assert.equal((await onA.act("SUBSCRIBE", "vip")).code, 403);
  });

  await t.step("a closed connection is unknown to authorize on every node", async () => {
    assert(onA !== undefined);
    const uuid = onA.uuid;
    await onA.close();
    await eventually(5000, "authorize answers 404 for a closed connection", async () => {
      const reply = await act(b, "/channel/authorize", "AUTHORIZE_SUBSCRIBER", {
        channel: "vip",
        channelToken: token,
        uuid,
      });
      return reply.status === 404 && reply.body.data.errorDetails.includes(uuid);
    });
  });

  await t.step(
    "rotate on A: the old token is refused on B at once, the new one works",
    async () => {
      const old = await createChannel(a, "rot");
      // B verifies (and caches) the old token first.
      assert.equal(
        (await push(b, { channel: "rot", channelToken: old, message: "x" })).status,
        200,
      );
      const rotated = await act(a, "/channel/rotate", "ROTATE_TOKEN", {
        channel: "rot",
        channelToken: old,
      });
      assert.equal(rotated.status, 200);
      const fresh = rotated.body.data.channelToken;
      assert.equal(
        (await push(b, { channel: "rot", channelToken: old, message: "x" })).status,
        403,
      );
      const ping = await act(b, "/channel/ping", "PING_CHANNEL", {
        channel: "rot",
        channelToken: old,
      });
      assert.equal(ping.status, 403);
      assert.equal(
        (await push(b, { channel: "rot", channelToken: fresh, message: "y" })).status,
        200,
      );
    },
  );

  await t.step("a rotate on B right after A cached the token: A refuses it at once", async () => {
    const old = await createChannel(b, "rot2");
    assert.equal((await push(a, { channel: "rot2", channelToken: old, message: "x" })).status, 200);
    const rotated = await act(b, "/channel/rotate", "ROTATE_TOKEN", {
      channel: "rot2",
      channelToken: old,
    });
    const fresh = rotated.body.data.channelToken;
    // No waiting for the invalidation: the push's compare-and-set refuses the old record.
    assert.equal((await push(a, { channel: "rot2", channelToken: old, message: "x" })).status, 403);
    assert.equal(
      (await act(a, "/channel/delete", "DELETE_CHANNEL", { channel: "rot2", channelToken: old }))
        .status,
      403,
    );
    assert.equal(
      (await push(a, { channel: "rot2", channelToken: fresh, message: "y" })).status,
      200,
    );
  });
});

Deno.test("[cluster] interest, restarts and Redis failures", async (t) => {
  await using redis = await RedisServer.start();
  let a = await node(redis);
  await using b = await node(redis);
  const pushChannels = async () =>
    ((await redis.call("PUBSUB", "CHANNELS", "pushserver:push:*")) as string[]).sort();

  await t.step("a node SUBSCRIBEs only to channels with local subscribers", async () => {
    await createChannel(a, "quiet");
    await createChannel(a, "busy");
    assert.deepEqual(await pushChannels(), []);
    const subscriber = await TestClient.connect(b.wsUrl);
    await subscriber.act("SUBSCRIBE", "busy");
    assert.deepEqual(await pushChannels(), ["pushserver:push:busy"]);
    assert.deepEqual(await redis.call("PUBSUB", "NUMSUB", "pushserver:push:busy"), [
      "pushserver:push:busy",
      1,
    ]);
    await subscriber.act("UNSUBSCRIBE", "busy");
    await eventually(
      2000,
      "the last subscriber left",
      async () => (await pushChannels()).length === 0,
    );
    await subscriber.close();
  });

  await t.step("restarting one node keeps every channel", async () => {
    const token = await createChannel(a, "kept");
    await a.shutdown();
    a = await node(redis);
    await using subscriber = await TestClient.connect(a.wsUrl);
    assert.equal((await subscriber.act("SUBSCRIBE", "kept")).message, "Subscribed");
    assert.equal(
      (await push(b, { channel: "kept", channelToken: token, message: "again" })).status,
      200,
    );
    assert.equal((await subscriber.next()).data.pushMessage.message, "again");
    const names = await fetch(`${a.httpUrl}/metrics`).then((r) => r.text());
    assert.match(names, /^pushserver_channels 3$/m);
  });

  await t.step("Redis down: 503s and /readyz 503 within seconds; back: heals", async () => {
    const token = await createChannel(a, "durable");
    await using subscriber = await TestClient.connect(a.wsUrl);
    await subscriber.act("SUBSCRIBE", "durable");
    await redis.stop({ save: true });

    const started = Date.now();
    await eventually(
      10_000,
      "/readyz answers 503",
      async () =>
        (await fetch(`${a.httpUrl}/readyz`).then(async (
          r,
        ) => (await r.body?.cancel(), r.status))) ===
          503,
    );
    const down = await push(b, { channel: "durable", channelToken: token, message: "lost" });
    assert.equal(down.status, 503);
    assert.equal(down.body.message, "Service Unavailable");
    assert(Date.now() - started < 5000, "503 within seconds");
    const metrics = await fetch(`${a.httpUrl}/metrics`).then((r) => r.text());
    assert.match(metrics, /^pushserver_redis_up 0$/m);
    // Subscribers stay connected; what needs Redis answers 503.
    const refused = await subscriber.act("SUBSCRIBE", "other");
    assert.equal(refused.messageType, "ERROR");
    assert.equal(refused.code, 503);
    assert.equal(subscriber.socket.readyState, WebSocket.OPEN);

    await redis.start();
    await eventually(30_000, "both nodes ready again", async () => {
      for (const server of [a, b]) {
        const response = await fetch(`${server.httpUrl}/readyz`);
        await response.body?.cancel();
        if (response.status !== 200) return false;
      }
      return true;
    });
    const up = await push(b, { channel: "durable", channelToken: token, message: "back" });
    assert.equal(up.status, 200);
    // Only the push made after the heal: nothing stale, nothing twice.
    assert.equal((await subscriber.next()).data.pushMessage.message, "back");
    assert(await subscriber.receivedNothing());
  });

  await t.step("Redis hangs: actions answer 503 within 1 s, /readyz 503; it resumes", async () => {
    const token = await createChannel(a, "frozen");
    redis.freeze(true);
    try {
      const started = performance.now();
      const reply = await push(a, { channel: "frozen", channelToken: token, message: "late" });
      assert.equal(reply.status, 503);
      assert(performance.now() - started < 1000, `503 after ${performance.now() - started} ms`);
      const health = await fetch(`${a.httpUrl}/healthz`);
      await health.body?.cancel();
      assert.equal(health.status, 200);
      await eventually(5000, "/readyz answers 503", async () => {
        const response = await fetch(`${a.httpUrl}/readyz`);
        await response.body?.cancel();
        return response.status === 503;
      });
    } finally {
      redis.freeze(false);
    }
    await eventually(10_000, "/readyz answers 200 again", async () => {
      const response = await fetch(`${a.httpUrl}/readyz`);
      await response.body?.cancel();
      return response.status === 200;
    });
    assert.equal(
      (await push(a, { channel: "frozen", channelToken: token, message: "ok" })).status,
      200,
    );
  });

  await t.step("Redis restarted empty: subscribers learn their channel is gone", async () => {
    await using subscriber = await TestClient.connect(b.wsUrl);
    await subscriber.act("SUBSCRIBE", "durable");
    await redis.stop();
    await redis.start();
    const ack = await subscriber.next(30_000);
    assert.equal(ack.message, "Channel Deleted");
    const created = await act(a, "/channel/create", "CREATE_CHANNEL", { channel: "durable" });
    assert.equal(created.status, 200);
    assert.equal((await subscriber.act("SUBSCRIBE", "durable")).message, "Subscribed");
    const sent = await push(a, {
      channel: "durable",
      channelToken: created.body.data.channelToken,
      message: "fresh",
    });
    assert.equal(sent.status, 200);
    assert.equal((await subscriber.next()).data.pushMessage.message, "fresh");
  });

  await a.shutdown();
});
