/**
 * Black-box tests of PROTOCOL.md v1.2 "Presence", on one node and on a two-node cluster. In
 * cluster mode the members are spread over both nodes (A and B), so every Joined/Left frame,
 * count and member list crosses nodes through Redis.
 */
import assert from "node:assert/strict";
import { assertAck, assertError, call, createWith, type Json, NOBODY, WsClient } from "./_v11.ts";
import { type Deployment, e2e } from "./_backends.ts";
import { ServerProcess } from "./_process.ts";
import { SseClient } from "./_sse_client.ts";
import { PushClient } from "../../src/client/pushserver.js";
import { PushPublisher } from "../../src/publisher/publisher.js";
import { runCli } from "../../src/cli/main.ts";

const SUBSCRIBE = (channel: string, info?: unknown) =>
  JSON.stringify({
    messageType: "CLIENT_ACTION",
    action: "SUBSCRIBE",
    data: info === undefined ? { channel } : { channel, info },
  });
const PRESENCE = (channel: string) =>
  JSON.stringify({ messageType: "CLIENT_ACTION", action: "PRESENCE", data: { channel } });

/** A subscriber on node `i` (modulo the node count): members alternate between nodes. */
function connect(server: Deployment, i: number): Promise<WsClient> {
  return WsClient.connect(server.nodes[i % server.nodes.length]!.wsUrl);
}

/** Subscribes with `info` and returns the ack (the next frame that is not CLIENT_PRESENCE). */
async function join(client: WsClient, channel: string, info?: unknown): Promise<Json> {
  client.send(SUBSCRIBE(channel, info));
  return await nextNot(client, "CLIENT_PRESENCE");
}

async function nextNot(client: WsClient, messageType: string): Promise<Json> {
  for (;;) {
    const frame = await client.next();
    if (frame.messageType !== messageType) return frame;
  }
}

/** The next CLIENT_PRESENCE frame, within `ms` (PROTOCOL.md: within 1 s; slack for a loaded CI). */
async function presenceFrame(client: WsClient, ms = 1000): Promise<Json> {
  const started = Date.now();
  const frame = await client.next(ms * 3);
  assert.equal(frame.messageType, "CLIENT_PRESENCE", JSON.stringify(frame));
  assert.ok(Date.now() - started <= ms * 3, `after ${Date.now() - started} ms`);
  return frame;
}

function presenceOf(uuid: string, channel: string, message: string, info: unknown): Json {
  return {
    messageType: "CLIENT_PRESENCE",
    code: 200,
    message,
    data: { channel, uuid, info },
  };
}

async function readPresence(server: Deployment, channel: string, token: string): Promise<Json> {
  const reply = await call(server, "READ_PRESENCE", { channel, channelToken: token });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  return reply.body.data;
}

/** Polls `read` until `ok` (bounded): counts of other nodes are written asynchronously. */
async function until<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  ms = 5000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sortByUuid = (members: Json[]) => [...members].sort((a, b) => a.uuid < b.uuid ? -1 : 1);

e2e("presence channels: create, ping, info, PRESENCE and READ_PRESENCE", async (t, backend) => {
  await using server = await backend.start();

  await t.step("presence: true → ack presence: true; other types 400", async () => {
    const reply = await call(server, "CREATE_CHANNEL", { channel: "room", presence: true });
    assertAck(reply, "Created", {
      channel: "room",
      channelToken: reply.body.data.channelToken,
      presence: true,
    });
    for (const value of ["true", 1, {}]) {
      const bad = await call(server, "CREATE_CHANNEL", { channel: "never", presence: value });
      assertError(bad, 400, "Bad Request");
    }
    const plain = await call(server, "CREATE_CHANNEL", { channel: "plain", presence: null });
    assertAck(plain, "Created", { channel: "plain", channelToken: plain.body.data.channelToken });
  });

  await t.step("ping with the right token shows presence; a null token sees v1", async () => {
    const { token } = await createWith(server, "pinged", { presence: true });
    assertAck(
      await call(server, "PING_CHANNEL", { channel: "pinged", channelToken: token }),
      "OK",
      {
        channel: "pinged",
        channelToken: null,
        private: false,
        history: null,
        presence: true,
      },
    );
    assertAck(
      await call(server, "PING_CHANNEL", { channel: "pinged", channelToken: null }),
      "OK",
      { channel: "pinged", channelToken: null },
    );
  });

  const { token } = await createWith(server, "lobby", { presence: true });
  await using ann = await connect(server, 0);
  await using bob = await connect(server, 1);

  await t.step(
    "Subscribed carries presence.count; info is checked on presence channels",
    async () => {
      for (const info of [[], "ann", 1, true, { big: "x".repeat(1020) }]) {
        ann.send(SUBSCRIBE("lobby", info));
        const error = await ann.next();
        assert.equal(error.messageType, "ERROR", JSON.stringify(error));
        assert.equal(error.code, 400);
        assert.equal(error.message, "Invalid message");
        assert.match(error.data.errorDetails, /info/);
      }
      const ack = await join(ann, "lobby", { user: "ann" });
      assert.deepEqual(ack, {
        messageType: "CLIENT_ACK",
        code: 200,
        message: "Subscribed",
        data: { uuid: ann.uuid, subscribedChannels: ["lobby"], presence: { count: 1 } },
      });
    },
  );

  await t.step(
    "the other member gets Joined within 1 s (across nodes); never one's own",
    async () => {
      const ack = await join(bob, "lobby");
      assert.deepEqual(ack.data.presence, { count: 2 });
      assert.deepEqual(await presenceFrame(ann), presenceOf(bob.uuid, "lobby", "Joined", {}));
    },
  );

  await t.step("PRESENCE lists every member on every node; READ_PRESENCE agrees", async () => {
    const expected = sortByUuid([
      { uuid: ann.uuid, info: { user: "ann" } },
      { uuid: bob.uuid, info: {} },
    ]);
    for (const client of [ann, bob]) {
      client.send(PRESENCE("lobby"));
      const reply = await nextNot(client, "CLIENT_PRESENCE");
      assert.equal(reply.messageType, "CLIENT_ACK", JSON.stringify(reply));
      assert.equal(reply.message, "Presence");
      assert.equal(reply.data.channel, "lobby");
      assert.equal(reply.data.count, 2);
      assert.deepEqual(sortByUuid(reply.data.members), expected);
      assert.equal(reply.data.truncated, undefined);
    }
    const read = await readPresence(server, "lobby", token);
    assert.equal(read.channelToken, null);
    assert.equal(read.count, 2);
    assert.deepEqual(sortByUuid(read.members), expected);
  });

  await t.step("PRESENCE on a channel this connection is not subscribed to is 403", async () => {
    await using carl = await connect(server, 0);
    carl.send(PRESENCE("lobby"));
    const reply = await carl.next();
    assert.equal(reply.messageType, "ERROR");
    assert.equal(reply.code, 403);
    assert.equal(reply.message, "Forbidden");
  });

  await t.step("READ_PRESENCE: 404 unknown channel, 401 no token, 403 wrong token", async () => {
    assertError(
      await call(server, "READ_PRESENCE", { channel: "nope", channelToken: "x" }),
      404,
      "Not found",
    );
    assertError(
      await call(server, "READ_PRESENCE", { channel: "lobby", channelToken: null }),
      401,
      "Unauthorized",
    );
    assertError(
      await call(server, "READ_PRESENCE", { channel: "lobby", channelToken: "wrong" }),
      403,
      "Forbidden",
    );
  });

  await t.step("a channel without presence: info ignored, v1 ack, count across nodes", async () => {
    const { token: plainToken } = await createWith(server, "news", {});
    await using c1 = await connect(server, 0);
    await using c2 = await connect(server, 1);
    for (const client of [c1, c2]) {
      client.send(SUBSCRIBE("news", "not an object"));
      const ack = await client.next();
      assert.deepEqual(ack.data, { uuid: client.uuid, subscribedChannels: ["news"] });
    }
    const read = await until(
      () => readPresence(server, "news", plainToken),
      (data) => data.count === 2,
    );
    assert.deepEqual(read, { channel: "news", channelToken: null, count: 2, members: [] });
    c1.send(PRESENCE("news"));
    assert.deepEqual((await c1.next()).data, { channel: "news", count: 2, members: [] });
  });

  await t.step("unsubscribe → Left to the others", async () => {
    bob.send(JSON.stringify({
      messageType: "CLIENT_ACTION",
      action: "UNSUBSCRIBE",
      data: { channel: "lobby" },
    }));
    assert.equal((await nextNot(bob, "CLIENT_PRESENCE")).message, "Unsubscribed");
    assert.deepEqual(await presenceFrame(ann), presenceOf(bob.uuid, "lobby", "Left", {}));
    assert.equal((await readPresence(server, "lobby", token)).count, 1);
    // bob never got a frame about itself (all its frames were read in order).
    assert.ok(
      bob.drain().every((f) => f.data?.uuid !== bob.uuid || f.messageType !== "CLIENT_PRESENCE"),
    );
  });
});

e2e("presence: disconnect, revoke and delete", async (t, backend) => {
  await using server = await backend.start();
  const { token } = await createWith(server, "room", { presence: true });
  await using ann = await connect(server, 0);
  assert.deepEqual((await join(ann, "room", { n: 1 })).data.presence, { count: 1 });

  await t.step("disconnect → Left", async () => {
    const bob = await connect(server, 1);
    await join(bob, "room", { n: 2 });
    assert.deepEqual(await presenceFrame(ann), presenceOf(bob.uuid, "room", "Joined", { n: 2 }));
    await bob.close();
    assert.deepEqual(await presenceFrame(ann), presenceOf(bob.uuid, "room", "Left", { n: 2 }));
  });

  await t.step("revoke → Subscription Revoked to it, Left to the others", async () => {
    await using carl = await connect(server, 1);
    await join(carl, "room");
    await presenceFrame(ann);
    const revoked = await call(server, "REVOKE_SUBSCRIBER", {
      channel: "room",
      channelToken: token,
      uuid: carl.uuid,
    });
    assert.equal(revoked.status, 200);
    assert.equal((await carl.next()).message, "Subscription Revoked");
    assert.deepEqual(await presenceFrame(ann), presenceOf(carl.uuid, "room", "Left", {}));
  });

  await t.step("delete → Channel Deleted and no Left", async () => {
    await using dan = await connect(server, 1);
    await join(dan, "room");
    await presenceFrame(ann);
    const deleted = await call(server, "DELETE_CHANNEL", { channel: "room", channelToken: token });
    assert.equal(deleted.status, 200);
    assert.equal((await ann.next()).message, "Channel Deleted");
    assert.equal((await dan.next()).message, "Channel Deleted");
    assert.ok(await ann.receivedNothing());
    assert.ok(await dan.receivedNothing());
    // A re-created channel of that name starts empty.
    const { token: again } = await createWith(server, "room", { presence: true });
    assert.equal((await readPresence(server, "room", again)).count, 0);
  });
  void NOBODY;
});

e2e("presence: PRESENCE_EVENTS_MAX and PRESENCE_MAX_MEMBERS", async (t, backend) => {
  await using server = await backend.start({ PRESENCE_EVENTS_MAX: "2", PRESENCE_MAX_MEMBERS: "3" });
  const { token } = await createWith(server, "big", { presence: true });
  const clients: WsClient[] = [];
  try {
    for (let i = 0; i < 4; i++) clients.push(await connect(server, i));
    const [a, b, c, d] = clients as [WsClient, WsClient, WsClient, WsClient];

    await t.step("up to 2 members: Joined frames; the third joins silently", async () => {
      await join(a, "big");
      await join(b, "big");
      assert.equal((await presenceFrame(a)).data.uuid, b.uuid);
      assert.deepEqual((await join(c, "big")).data.presence, { count: 3 });
    });

    await t.step("a fourth member is 429, and nothing changes", async () => {
      d.send(SUBSCRIBE("big"));
      const error = await d.next();
      assert.equal(error.messageType, "ERROR");
      assert.equal(error.code, 429);
      assert.equal((await readPresence(server, "big", token)).count, 3);
    });

    await t.step("leaving from 3 members: no Left frame; from 2: Left", async () => {
      await c.close();
      await until(() => readPresence(server, "big", token), (data) => data.count === 2);
      await b.close();
      assert.deepEqual(await presenceFrame(a), presenceOf(b.uuid, "big", "Left", {}));
      // No frame about c's join or leave ever reached a.
      assert.ok(await a.receivedNothing());
    });
  } finally {
    for (const client of clients) await client.close();
  }
});

e2e(
  "presence: a node killed with SIGKILL → its members are Left (short PRESENCE_TTL_MS)",
  async (t, backend) => {
    // Production: PRESENCE_TTL_MS 20,000 → within 25 s (redis_channel_presence.ts); here 1,000 → ~1.25 s.
    const settings = { PRESENCE_TTL_MS: "1000" };
    await using survivor = await backend.start(settings);
    // A third node, on the deployment's Redis, as a process that can be killed for real.
    const doomed = await ServerProcess.spawn({ ...settings, REDIS_URL: survivor.redis!.url });
    try {
      const { token } = await createWith(survivor, "crash", { presence: true });
      await using ann = await WsClient.connect(survivor.wsUrl);
      await join(ann, "crash");
      const victim = await WsClient.connect(`ws://127.0.0.1:${doomed.wsPort}`);
      await join(victim, "crash", { v: 1 });
      assert.deepEqual(
        await presenceFrame(ann),
        presenceOf(victim.uuid, "crash", "Joined", { v: 1 }),
      );
      await t.step("Left within the expiry plus a refresh", async () => {
        doomed.child.kill("SIGKILL");
        const killed = Date.now();
        const left = await presenceFrame(ann, 3000);
        assert.deepEqual(left, presenceOf(victim.uuid, "crash", "Left", { v: 1 }));
        assert.ok(Date.now() - killed <= 3000, `${Date.now() - killed} ms`);
        assert.equal((await readPresence(survivor, "crash", token)).count, 1);
      });
      await victim.closed;
    } finally {
      await doomed[Symbol.asyncDispose]();
    }
  },
  { only: "cluster" },
);

e2e(
  "presence: after Redis restarts, joins still cross nodes and the members are written again",
  async (t, backend) => {
    await using server = await backend.start();
    const redis = server.redis!;
    const { token } = await createWith(server, "heal", { presence: true });
    await using ann = await connect(server, 0);
    await join(ann, "heal", { n: "ann" });
    // Saved with the channel but without the members (the next refresh is seconds away): the
    // heal writes them again.
    await redis.call("DEL", "pushserver:presence:heal", "pushserver:presence-exp:heal");
    await redis.stop({ save: true });
    await redis.start();
    await until(
      async () => {
        for (const node of server.nodes) {
          const response = await fetch(`${node.httpUrl}/readyz`);
          await response.body?.cancel();
          if (response.status !== 200) return false;
        }
        return true;
      },
      (ready) => ready,
      30_000,
    );
    await t.step("the node's members are in Redis again after the heal", async () => {
      const data = await until(
        () => call(server, "READ_PRESENCE", { channel: "heal", channelToken: token }),
        (reply) => reply.status === 200 && reply.body.data.count === 1,
      );
      assert.equal(data.body.data.count, 1, JSON.stringify(data.body));
      assert.deepEqual(data.body.data.members, [{ uuid: ann.uuid, info: { n: "ann" } }]);
    });
    await t.step(
      "a join on the other node reaches ann (presence-events listened to again)",
      async () => {
        await using bob = await connect(server, 1);
        await join(bob, "heal", { n: "bob" });
        assert.deepEqual(
          await presenceFrame(ann),
          presenceOf(bob.uuid, "heal", "Joined", { n: "bob" }),
        );
      },
    );
  },
  { only: "cluster" },
);

e2e("presence from the browser client, the publisher SDK and the CLI", async (t, backend) => {
  await using server = await backend.start();
  const publisher = new PushPublisher({ baseUrl: server.httpUrl });
  const created = await publisher.createChannel("chat", { presence: true });
  assert.equal(created.presence, true);
  assert.equal((await publisher.ping("chat", created.channelToken)).presence, true);
  const ann = await PushClient.connect(server.nodes[0]!.wsUrl, { transports: ["websocket"] });
  const bob = await PushClient.connect(server.nodes.at(-1)!.wsUrl, { transports: ["websocket"] });
  try {
    await t.step("subscribe(…, {info}); joined/left events on the Subscription", async (st) => {
      await ann.subscribe("chat", () => {}, { info: { user: "ann" } });
      const joined = Promise.withResolvers<unknown>();
      const left = Promise.withResolvers<unknown>();
      const subscription = ann.getSubscription("chat")!;
      subscription.on("joined", joined.resolve);
      subscription.on("left", left.resolve);
      const stop = await bob.subscribe("chat", () => {}, { info: { user: "bob" } });
      assert.deepEqual(await joined.promise, {
        channel: "chat",
        uuid: bob.uuid,
        info: { user: "bob" },
      });
      await st.step("client.presence() and publisher.presence() list both", async () => {
        const expected = sortByUuid([
          { uuid: ann.uuid, info: { user: "ann" } },
          { uuid: bob.uuid, info: { user: "bob" } },
        ]);
        const seen = await bob.presence("chat");
        assert.equal(seen.count, 2);
        assert.deepEqual(sortByUuid(seen.members), expected);
        const read = await publisher.presence("chat", created.channelToken);
        assert.equal(read.count, 2);
        assert.deepEqual(sortByUuid(read.members), expected);
      });
      await st.step("CLI: presence NAME --token T", async () => {
        let stdout = "";
        const code = await runCli(
          ["presence", "chat", "--token", created.channelToken, "--http", server.httpUrl],
          { stdout: (text) => stdout += text, stderr: () => {}, env: {} },
        );
        assert.equal(code, 0);
        const lines = stdout.trim().split("\n");
        assert.equal(lines[0], "2");
        assert.ok(lines.includes(`${ann.uuid} {"user":"ann"}`), stdout);
      });
      await stop();
      assert.deepEqual(await left.promise, {
        channel: "chat",
        uuid: bob.uuid,
        info: { user: "bob" },
      });
    });
    await t.step("client.presence() of a channel not subscribed rejects 403", async () => {
      await assert.rejects(
        bob.presence("chat"),
        (e: unknown) => (e as { code: number }).code === 403,
      );
    });
  } finally {
    await ann.close();
    await bob.close();
  }
});

e2e(
  "presence over Server-Sent Events: info, Joined, PRESENCE, compact Subscribed",
  async (_t, backend) => {
    await using server = await backend.start();
    await createWith(server, "sse-room", { presence: true });
    await using ws = await connect(server, 0);
    await join(ws, "sse-room", { via: "ws" });
    await using sse = await SseClient.connect(server.subscriberNode, { compact: true });
    await sse.send(SUBSCRIBE("sse-room", { via: "sse" }));
    const ack = await sse.next();
    assert.deepEqual(ack.data, { uuid: sse.uuid, channel: "sse-room", presence: { count: 2 } });
    assert.deepEqual(
      await presenceFrame(ws),
      presenceOf(sse.uuid, "sse-room", "Joined", { via: "sse" }),
    );
    await sse.send(PRESENCE("sse-room"));
    const reply = await sse.next();
    assert.equal(reply.message, "Presence");
    assert.deepEqual(
      sortByUuid(reply.data.members),
      sortByUuid([{ uuid: ws.uuid, info: { via: "ws" } }, {
        uuid: sse.uuid,
        info: { via: "sse" },
      }]),
    );
  },
);
