/**
 * Black-box tests of PROTOCOL.md v1.1 "Private channels, grants and token rotation" (the
 * private-channel and grant part), and of the error order for the new publisher actions.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertAck,
  assertError,
  broadcast,
  call,
  createWith,
  NOBODY,
  ROUTES,
  WsClient,
} from "./_v11.ts";
import { e2e } from "./_backends.ts";

/** The ERROR frame a subscriber gets for a private channel it holds no grant on. */
async function assertForbidden(client: WsClient, channel: string): Promise<void> {
  const reply = await client.subscribe(channel);
  assert.equal(reply.messageType, "ERROR", JSON.stringify(reply));
  assert.equal(reply.code, 403);
  assert.equal(reply.message, "Forbidden");
  assert.match(reply.data.errorDetails, /private/i);
  assert.match(reply.data.errorDetails, /authori[sz]ed/i);
}

e2e("CREATE_CHANNEL with private", async (t, backend) => {
  await using server = await backend.start();

  await t.step("private: true → the ack also has private: true", async () => {
    const reply = await call(server, "CREATE_CHANNEL", { channel: "p", private: true });
    assertAck(reply, "Created", {
      channel: "p",
      channelToken: reply.body.data.channelToken,
      private: true,
    });
  });

  await t.step("private: false, null or absent → a v1 channel and ack", async () => {
    for (const [channel, extra] of [["f", { private: false }], ["n", { private: null }]] as const) {
      const reply = await call(server, "CREATE_CHANNEL", { channel, ...extra });
      assertAck(reply, "Created", { channel, channelToken: reply.body.data.channelToken });
      await using client = await WsClient.connect(server.wsUrl);
      assert.equal((await client.subscribe(channel)).message, "Subscribed", "public");
    }
  });

  await t.step("any other type is 400 and creates nothing", async () => {
    for (const value of ["true", 1, 0, {}, [], "yes"]) {
      const reply = await call(server, "CREATE_CHANNEL", { channel: "never", private: value });
      assertError(reply, 400, "Bad Request");
      const ping = await call(server, "PING_CHANNEL", { channel: "never", channelToken: null });
      assert.equal(ping.status, 404);
    }
  });

  await t.step("private with history: the ack has both", async () => {
    const history = { size: 5, ttlSeconds: 60 };
    const reply = await call(server, "CREATE_CHANNEL", { channel: "ph", private: true, history });
    assertAck(reply, "Created", {
      channel: "ph",
      channelToken: reply.body.data.channelToken,
      history,
      epoch: reply.body.data.epoch,
      private: true,
    });
    assert.equal(typeof reply.body.data.epoch, "string");
  });

  await t.step("ping: the token holder sees private and history; null token sees v1", async () => {
    const { token } = await createWith(server, "pp", { private: true });
    assertAck(await call(server, "PING_CHANNEL", { channel: "pp", channelToken: token }), "OK", {
      channel: "pp",
      channelToken: null,
      private: true,
      history: null,
    });
    assertAck(await call(server, "PING_CHANNEL", { channel: "pp", channelToken: null }), "OK", {
      channel: "pp",
      channelToken: null,
    });
  });
});

e2e("private channels need a grant; grants are per connection", async (t, backend) => {
  await using server = await backend.start();
  const { token } = await createWith(server, "vip", { private: true });
  await using alice = await WsClient.connect(server.wsUrl);
  await using bob = await WsClient.connect(server.wsUrl);

  await t.step("subscribe without a grant → ERROR 403 and nothing happens", async () => {
    await assertForbidden(alice, "vip");
    await broadcast(server, "vip", token, "secret");
    assert.ok(await alice.receivedNothing(), "no push reaches it");
    const ack = await alice.unsubscribe("vip");
    assert.deepEqual(ack.data.subscribedChannels, [], "not subscribed");
  });

  await t.step("authorize → 200 Authorized; the connection is sent nothing", async () => {
    const reply = await call(server, "AUTHORIZE_SUBSCRIBER", {
      channel: "vip",
      channelToken: token,
      uuid: alice.uuid,
    });
    assertAck(reply, "Authorized", { channel: "vip", channelToken: null, uuid: alice.uuid });
    assert.ok(await alice.receivedNothing());
  });

  await t.step("then subscribe works and pushes arrive", async () => {
    assert.deepEqual(await alice.subscribe("vip"), {
      messageType: "CLIENT_ACK",
      code: 200,
      message: "Subscribed",
      data: { uuid: alice.uuid, subscribedChannels: ["vip"] },
    });
    await broadcast(server, "vip", token, "hello");
    assert.deepEqual((await alice.next()).data.pushMessage, { channel: "vip", message: "hello" });
  });

  await t.step("the grant does not leak to another connection", async () => {
    await assertForbidden(bob, "vip");
    assert.ok(await bob.receivedNothing());
  });

  await t.step("the grant does not survive a reconnect", async () => {
    await using again = await WsClient.connect(server.wsUrl);
    await assertForbidden(again, "vip");
  });

  await t.step("a closed connection's UUID is unknown to authorize (404)", async () => {
    const gone = await WsClient.connect(server.wsUrl);
    const uuid = gone.uuid;
    await gone.close();
    // The close is handled asynchronously on the server: allow it a moment.
    let reply;
    for (let attempt = 0; attempt < 50; attempt++) {
      reply = await call(server, "AUTHORIZE_SUBSCRIBER", {
        channel: "vip",
        channelToken: token,
        uuid,
      });
      if (reply.status === 404) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assertError(reply!, 404, "Not found");
  });

  await t.step("authorizing on a public channel is allowed and changes nothing", async () => {
    const pub = await createWith(server, "pub");
    const reply = await call(server, "AUTHORIZE_SUBSCRIBER", {
      channel: "pub",
      channelToken: pub.token,
      uuid: bob.uuid,
    });
    assertAck(reply, "Authorized", { channel: "pub", channelToken: null, uuid: bob.uuid });
    assert.ok(await bob.receivedNothing());
    await using carol = await WsClient.connect(server.wsUrl);
    assert.equal((await carol.subscribe("pub")).message, "Subscribed", "still public for all");
  });

  await t.step("an upper-case UUID names the same connection", async () => {
    const reply = await call(server, "AUTHORIZE_SUBSCRIBER", {
      channel: "vip",
      channelToken: token,
      uuid: bob.uuid.toUpperCase(),
    });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal((await bob.subscribe("vip")).message, "Subscribed");
  });
});

e2e("authorize, revoke and rotate answer errors in the documented order", async (t, backend) => {
  await using server = await backend.start();
  const { token } = await createWith(server, "ch", { private: true });
  await using client = await WsClient.connect(server.wsUrl);
  const actions = ["AUTHORIZE_SUBSCRIBER", "REVOKE_SUBSCRIBER", "ROTATE_TOKEN"] as const;

  for (const name of actions) {
    const withUuid = name !== "ROTATE_TOKEN";
    const data = (extra: Record<string, unknown>) => ({
      channel: "ch",
      channelToken: token,
      ...(withUuid ? { uuid: client.uuid } : {}),
      ...extra,
    });
    await t.step(`${name}: 413 for a body over 1 MiB, before anything else`, async () => {
      const huge = JSON.stringify({
        messageType: "SERVER_ACTION",
        action: name,
        data: data({ channel: "missing", pad: "x".repeat(1024 * 1024) }),
      });
      const response = await fetch(`${server.httpUrl}${ROUTES[name]}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: huge,
      });
      assert.equal(response.status, 413);
      assert.equal((await response.json()).message, "Payload Too Large");
    });
    await t.step(`${name}: 400 for a bad shape, before 404 channel`, async () => {
      const bad: Record<string, unknown>[] = [
        { channel: 5 },
        { channel: "" },
        { channelToken: 5 },
        ...(withUuid
          ? [{ uuid: "not-a-uuid" }, { uuid: 7 }, { uuid: null }, { uuid: undefined }]
          : []),
      ];
      for (const extra of bad) {
        const reply = await call(server, name, data(extra));
        assertError(reply, 400, "Bad Request");
        if (!("channel" in extra)) {
          // Also when the channel does not exist: 400 comes first.
          const missing = await call(server, name, data({ ...extra, channel: "missing" }));
          assertError(missing, 400, "Bad Request");
        }
      }
      const mismatched = await fetch(`${server.httpUrl}${ROUTES[name]}`, {
        method: "POST",
        body: JSON.stringify({ messageType: "SERVER_ACTION", action: "PING_CHANNEL", data: {} }),
      });
      assert.equal(mismatched.status, 400, "the action must match the route");
      await mismatched.body?.cancel();
    });
    await t.step(`${name}: 404 channel, before 401 for a null token`, async () => {
      const reply = await call(server, name, data({ channel: "missing", channelToken: null }));
      const details = assertError(reply, 404, "Not found");
      assert.equal(details, 'Could not find a channel called "missing"');
    });
    await t.step(`${name}: 401 for a null or absent token, before 404 connection`, async () => {
      const extra = withUuid ? { uuid: NOBODY } : {};
      assertError(
        await call(server, name, data({ channelToken: null, ...extra })),
        401,
        "Unauthorized",
      );
      const absent = data(extra);
      delete (absent as Record<string, unknown>).channelToken;
      assertError(await call(server, name, absent), 401, "Unauthorized");
    });
    await t.step(`${name}: 403 for a wrong token, before 404 connection`, async () => {
      const extra = withUuid ? { uuid: NOBODY } : {};
      const reply = await call(server, name, data({ channelToken: "wrong", ...extra }));
      assert.equal(assertError(reply, 403, "Forbidden"), "Channel token is invalid");
    });
  }

  await t.step(
    "AUTHORIZE_SUBSCRIBER: 404 Not found when no live connection has the UUID",
    async () => {
      const reply = await call(server, "AUTHORIZE_SUBSCRIBER", {
        channel: "ch",
        channelToken: token,
        uuid: NOBODY,
      });
      const details = assertError(reply, 404, "Not found");
      assert.equal(typeof details, "string");
    },
  );

  await t.step("REVOKE_SUBSCRIBER: a UUID that is not connected is 200 Revoked", async () => {
    const reply = await call(server, "REVOKE_SUBSCRIBER", {
      channel: "ch",
      channelToken: token,
      uuid: NOBODY,
    });
    assertAck(reply, "Revoked", { channel: "ch", channelToken: null, uuid: NOBODY });
  });

  await t.step("the token was never rotated by the failed calls", async () => {
    const ping = await call(server, "PING_CHANNEL", { channel: "ch", channelToken: token });
    assert.equal(ping.status, 200);
  });
});

e2e("revoke unsubscribes at once and notifies; public channels too", async (t, backend) => {
  await using server = await backend.start();
  const vip = await createWith(server, "vip", { private: true });
  const news = await createWith(server, "news");
  await using sub = await WsClient.connect(server.wsUrl);
  await using other = await WsClient.connect(server.wsUrl);
  for (const client of [sub, other]) {
    await call(server, "AUTHORIZE_SUBSCRIBER", {
      channel: "vip",
      channelToken: vip.token,
      uuid: client.uuid,
    });
    await client.subscribe("news");
    await client.subscribe("vip");
  }

  await t.step(
    "revoke on a private channel: Subscription Revoked, then no deliveries",
    async () => {
      const reply = await call(server, "REVOKE_SUBSCRIBER", {
        channel: "vip",
        channelToken: vip.token,
        uuid: sub.uuid,
      });
      assertAck(reply, "Revoked", { channel: "vip", channelToken: null, uuid: sub.uuid });
      assert.deepEqual(await sub.next(), {
        messageType: "CLIENT_ACK",
        code: 200,
        message: "Subscription Revoked",
        data: { uuid: sub.uuid, subscribedChannels: ["news"] },
      });
      await broadcast(server, "vip", vip.token, "after revoke");
      assert.ok(await sub.receivedNothing(), "deliveries stopped at once");
      assert.equal((await other.next()).data.pushMessage.message, "after revoke", "others stay");
    },
  );

  await t.step("the grant is gone too: subscribing again is 403", async () => {
    await assertForbidden(sub, "vip");
  });

  await t.step("revoke on a public channel kicks the subscriber out", async () => {
    const reply = await call(server, "REVOKE_SUBSCRIBER", {
      channel: "news",
      channelToken: news.token,
      uuid: sub.uuid,
    });
    assertAck(reply, "Revoked", { channel: "news", channelToken: null, uuid: sub.uuid });
    assert.deepEqual(await sub.next(), {
      messageType: "CLIENT_ACK",
      code: 200,
      message: "Subscription Revoked",
      data: { uuid: sub.uuid, subscribedChannels: [] },
    });
    await broadcast(server, "news", news.token, "public after revoke");
    assert.ok(await sub.receivedNothing());
    assert.equal((await other.next()).data.pushMessage.message, "public after revoke");
  });

  await t.step(
    "revoking a connected but unsubscribed UUID: 200, and it is sent nothing",
    async () => {
      const reply = await call(server, "REVOKE_SUBSCRIBER", {
        channel: "news",
        channelToken: news.token,
        uuid: sub.uuid,
      });
      assertAck(reply, "Revoked", { channel: "news", channelToken: null, uuid: sub.uuid });
      assert.ok(await sub.receivedNothing());
    },
  );

  await t.step("revoking a grant that was not used yet: the later subscribe is 403", async () => {
    await using fresh = await WsClient.connect(server.wsUrl);
    const grant = { channel: "vip", channelToken: vip.token, uuid: fresh.uuid };
    assert.equal((await call(server, "AUTHORIZE_SUBSCRIBER", grant)).status, 200);
    assertAck(await call(server, "REVOKE_SUBSCRIBER", grant), "Revoked", {
      channel: "vip",
      channelToken: null,
      uuid: fresh.uuid,
    });
    assert.ok(await fresh.receivedNothing(), "not subscribed: sent nothing");
    await assertForbidden(fresh, "vip");
  });
});

e2e(
  "a private history channel replays nothing to a connection without a grant",
  async (_t, backend) => {
    await using server = await backend.start();
    const { token, epoch } = await createWith(server, "ph", {
      private: true,
      history: { size: 10, ttlSeconds: 600 },
    });
    await broadcast(server, "ph", token, "secret-1");
    await broadcast(server, "ph", token, "secret-2");
    await using client = await WsClient.connect(server.wsUrl);
    client.send(JSON.stringify({
      messageType: "CLIENT_ACTION",
      action: "SUBSCRIBE",
      data: { channel: "ph", since: { offset: 0, epoch } },
    }));
    const reply = await client.next();
    assert.equal(reply.code, 403, JSON.stringify(reply));
    assert.ok(await client.receivedNothing(), "no replay leaked");
    const grant = { channel: "ph", channelToken: token, uuid: client.uuid };
    assert.equal((await call(server, "AUTHORIZE_SUBSCRIBER", grant)).status, 200);
    const ack = await client.subscribe("ph", { offset: 0, epoch });
    assert.deepEqual(ack.data.recovery, { channel: "ph", epoch, offset: 2, recovered: true });
    const replay = await client.pushesUpTo(2);
    assert.deepEqual(replay.map((f) => f.data.pushMessage.message), ["secret-1", "secret-2"]);
  },
);

e2e(
  "a grant ends when the channel is deleted; the re-created channel needs a new one",
  async (_t, backend) => {
    await using server = await backend.start();
    const first = await createWith(server, "vip", { private: true });
    await using subscribed = await WsClient.connect(server.wsUrl);
    await using grantedOnly = await WsClient.connect(server.wsUrl);
    for (const client of [subscribed, grantedOnly]) {
      const grant = { channel: "vip", channelToken: first.token, uuid: client.uuid };
      assert.equal((await call(server, "AUTHORIZE_SUBSCRIBER", grant)).status, 200);
    }
    assert.equal((await subscribed.subscribe("vip")).message, "Subscribed");
    const deleted = await call(server, "DELETE_CHANNEL", {
      channel: "vip",
      channelToken: first.token,
    });
    assert.equal(deleted.status, 200);
    assert.deepEqual(await subscribed.next(), {
      messageType: "CLIENT_ACK",
      code: 200,
      message: "Channel Deleted",
      data: { uuid: subscribed.uuid, subscribedChannels: [] },
    });
    const second = await createWith(server, "vip", { private: true });
    await assertForbidden(subscribed, "vip");
    await assertForbidden(grantedOnly, "vip");
    const grant = { channel: "vip", channelToken: second.token, uuid: grantedOnly.uuid };
    assert.equal((await call(server, "AUTHORIZE_SUBSCRIBER", grant)).status, 200);
    assert.equal((await grantedOnly.subscribe("vip")).message, "Subscribed");
  },
);

e2e("a private channel stays private after a restart", async (_t, backend) => {
  const dir = await Deno.makeTempDir({ prefix: "pushserver-private-" });
  const env = { DB_PATH: join(dir, "push.db") };
  try {
    // Single mode restarts on the same SQLite file; cluster mode starts new nodes on the same Redis.
    await using server = await backend.start(env);
    let token: string;
    {
      const first = server;
      ({ token } = await createWith(first, "vip", { private: true }));
    }
    await server.restart();
    const second = server;
    await using client = await WsClient.connect(second.wsUrl);
    await assertForbidden(client, "vip");
    assertAck(await call(second, "PING_CHANNEL", { channel: "vip", channelToken: token }), "OK", {
      channel: "vip",
      channelToken: null,
      private: true,
      history: null,
    });
    const grant = { channel: "vip", channelToken: token, uuid: client.uuid };
    assert.equal((await call(second, "AUTHORIZE_SUBSCRIBER", grant)).status, 200);
    assert.equal((await client.subscribe("vip")).message, "Subscribed");
    await broadcast(second, "vip", token, "still private, still working");
    assert.equal((await client.next()).data.pushMessage.message, "still private, still working");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
