/** Black-box tests of the subscriber WebSocket API, written from PROTOCOL.md against the real server. */
import assert from "node:assert/strict";
import { clientFrame, createChannel, push, readJson, TestClient } from "../_helpers.ts";
import { e2e } from "./_backends.ts";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

e2e("WebSocket connect", async (t, backend) => {
  await using server = await backend.start();

  await t.step("sends CLIENT_ACK Connected with a fresh v4 UUID and no channels", async () => {
    const socket = new WebSocket(`${server.wsUrl}/any/path?x=1`);
    const { promise, resolve } = Promise.withResolvers<string>();
    socket.onmessage = (event) => resolve(event.data);
    const hello = JSON.parse(await promise);
    assert.equal(hello.messageType, "CLIENT_ACK");
    assert.equal(hello.code, 200);
    assert.equal(hello.message, "Connected");
    assert.match(hello.data.uuid, UUID_V4);
    assert.deepEqual(hello.data.subscribedChannels, []);
    const closed = new Promise((r) => socket.onclose = r);
    socket.close();
    await closed;
  });

  await t.step("every connection gets a different UUID", async () => {
    await using a = await TestClient.connect(server.wsUrl);
    await using b = await TestClient.connect(server.wsUrl);
    assert.notEqual(a.uuid, b.uuid);
  });

  await t.step("a plain HTTP request to the WS port gets 426 Upgrade Required", async () => {
    // The answer names the HTTP port of the node that owns the WS port.
    const reply = await readJson(await fetch(server.wsUrl.replace("ws:", "http:")));
    assert.equal(reply.status, 426);
    assert.equal(reply.contentType, "application/json; charset=utf-8");
    assert.equal(reply.body.messageType, "ERROR");
    assert.equal(reply.body.code, 426);
    assert.equal(reply.body.message, "Upgrade Required");
    assert.equal(
      reply.body.data.errorDetails,
      `This port only accepts WebSocket connections; the publisher HTTP API is on port ${server.subscriberNode.httpPort} (PORT_HTTP)`,
    );
  });
});

e2e("SUBSCRIBE and UNSUBSCRIBE", async (t, backend) => {
  await using server = await backend.start();
  const newsToken = await createChannel(server, "news");
  await createChannel(server, "sports");
  await createChannel(server, "频道 🚀");
  await using client = await TestClient.connect(server.wsUrl);

  await t.step("subscribe to an existing channel acks Subscribed with the list", async () => {
    assert.deepEqual(await client.act("SUBSCRIBE", "news"), {
      messageType: "CLIENT_ACK",
      code: 200,
      message: "Subscribed",
      data: { uuid: client.uuid, subscribedChannels: ["news"] },
    });
  });

  await t.step("channels are listed in subscription order", async () => {
    const ack = await client.act("SUBSCRIBE", "频道 🚀");
    assert.deepEqual(ack.data.subscribedChannels, ["news", "频道 🚀"]);
    const third = await client.act("SUBSCRIBE", "sports");
    assert.deepEqual(third.data.subscribedChannels, ["news", "频道 🚀", "sports"]);
  });

  await t.step(
    "subscribing twice is idempotent: same ack, no duplicate, one delivery",
    async () => {
      const ack = await client.act("SUBSCRIBE", "news");
      assert.equal(ack.message, "Subscribed");
      assert.deepEqual(ack.data.subscribedChannels, ["news", "频道 🚀", "sports"]);
      await push(server, { channel: "news", channelToken: newsToken, message: "once" });
      assert.equal((await client.next()).data.pushMessage.message, "once");
      assert.ok(await client.receivedNothing());
    },
  );

  await t.step("unsubscribe acks Unsubscribed without the channel", async () => {
    assert.deepEqual(await client.act("UNSUBSCRIBE", "频道 🚀"), {
      messageType: "CLIENT_ACK",
      code: 200,
      message: "Unsubscribed",
      data: { uuid: client.uuid, subscribedChannels: ["news", "sports"] },
    });
  });

  await t.step("unsubscribing from a channel not subscribed is acked too", async () => {
    const ack = await client.act("UNSUBSCRIBE", "频道 🚀");
    assert.equal(ack.message, "Unsubscribed");
    assert.deepEqual(ack.data.subscribedChannels, ["news", "sports"]);
    const missing = await client.act("UNSUBSCRIBE", "never-existed");
    assert.equal(missing.message, "Unsubscribed");
  });

  await t.step("after unsubscribing, pushes stop", async () => {
    await client.act("UNSUBSCRIBE", "news");
    await push(server, { channel: "news", channelToken: newsToken, message: "gone" });
    assert.ok(await client.receivedNothing());
  });

  await t.step("subscribe to a missing channel is ERROR 404 Not found", async () => {
    const error = await client.act("SUBSCRIBE", "nope");
    assert.equal(error.messageType, "ERROR");
    assert.equal(error.code, 404);
    assert.equal(error.message, "Not found");
    assert.equal(error.data.errorDetails, 'Could not find a channel called "nope"');
    const ack = await client.act("SUBSCRIBE", "news");
    assert.deepEqual(ack.data.subscribedChannels, ["sports", "news"], "still open and unchanged");
  });

  await t.step("a UUID equal to the connection's is accepted", async () => {
    const ack = await client.act("UNSUBSCRIBE", "sports", { uuid: client.uuid });
    assert.equal(ack.message, "Unsubscribed");
  });

  await t.step("another connection's UUID is 403 and nothing happens to either", async () => {
    await using other = await TestClient.connect(server.wsUrl);
    await other.act("SUBSCRIBE", "sports");
    const error = await client.act("UNSUBSCRIBE", "sports", { uuid: other.uuid });
    assert.equal(error.messageType, "ERROR");
    assert.equal(error.code, 403);
    assert.equal(error.message, "Forbidden");
    assert.equal(
      error.data.errorDetails,
      "The given UUID does not belong to this WebSocket connection",
    );
    const forged = await client.act("SUBSCRIBE", "sports", { uuid: crypto.randomUUID() });
    assert.equal(forged.code, 403);
    // The other connection is still subscribed; this one did not subscribe.
    const check = await other.act("SUBSCRIBE", "news");
    assert.deepEqual(check.data.subscribedChannels, ["sports", "news"]);
    const mine = await client.act("UNSUBSCRIBE", "nothing");
    assert.deepEqual(mine.data.subscribedChannels, ["news"]);
  });
});

e2e("bad frames get an ERROR and the connection stays open", async (t, backend) => {
  await using server = await backend.start();
  await createChannel(server, "news");
  await using client = await TestClient.connect(server.wsUrl);

  async function expectError(data: string | Uint8Array, message: string): Promise<string> {
    client.sendRaw(data);
    const error = await client.next();
    assert.equal(error.messageType, "ERROR", JSON.stringify(error));
    assert.equal(error.code, 400);
    assert.equal(error.message, message);
    assert.equal(typeof error.data.errorDetails, "string");
    return error.data.errorDetails;
  }

  await t.step("non-JSON text is 400 Bad JSON", async () => {
    for (const text of ["", "{", "hello", "{'single':1}"]) await expectError(text, "Bad JSON");
  });

  await t.step("wrong shape or unknown action is 400 Invalid message", async () => {
    await expectError("[]", "Invalid message");
    await expectError("null", "Invalid message");
    await expectError("42", "Invalid message");
    await expectError(clientFrame("PUBLISH", "news"), "Invalid message");
    await expectError(clientFrame("subscribe", "news"), "Invalid message");
    await expectError(
      JSON.stringify({
        messageType: "SERVER_ACTION",
        action: "SUBSCRIBE",
        data: { channel: "news" },
      }),
      "Invalid message",
    );
    await expectError(
      JSON.stringify({ messageType: "CLIENT_ACTION", action: "SUBSCRIBE" }),
      "Invalid message",
    );
    const details = await expectError(clientFrame("SUBSCRIBE", 5), "Invalid message");
    assert.match(details, /^data\.channel/);
    await expectError(clientFrame("SUBSCRIBE", ""), "Invalid message");
    await expectError(clientFrame("SUBSCRIBE", "x".repeat(201)), "Invalid message");
    await expectError(clientFrame("SUBSCRIBE", "a\u0000b"), "Invalid message");
    await expectError(clientFrame("SUBSCRIBE", "news", { uuid: 7 }), "Invalid message");
  });

  await t.step("binary frames are 400 Invalid message", async () => {
    await expectError(
      new TextEncoder().encode(clientFrame("SUBSCRIBE", "news")),
      "Invalid message",
    );
  });

  await t.step("unknown extra fields are ignored", async () => {
    const ack = await client.act("SUBSCRIBE", "news", { extra: true });
    assert.equal(ack.message, "Subscribed");
  });

  await t.step("the connection still works afterwards", async () => {
    assert.equal(client.socket.readyState, WebSocket.OPEN);
    const ack = await client.act("UNSUBSCRIBE", "news");
    assert.equal(ack.message, "Unsubscribed");
  });
});

e2e("frames over 64 KiB close the connection with 1009", async (t, backend) => {
  await using server = await backend.start();
  await createChannel(server, "news");

  await t.step("a 64 KiB frame is still processed", async () => {
    await using client = await TestClient.connect(server.wsUrl);
    const base = clientFrame("SUBSCRIBE", "news", { pad: "" });
    const exact = clientFrame("SUBSCRIBE", "news", { pad: "x".repeat(64 * 1024 - base.length) });
    assert.equal(new TextEncoder().encode(exact).byteLength, 64 * 1024);
    client.sendRaw(exact);
    assert.equal((await client.next()).message, "Subscribed");
  });

  await t.step("one byte more closes with 1009 (UTF-8 bytes count, not characters)", async () => {
    await using client = await TestClient.connect(server.wsUrl);
    // 22,000 "€" are 66,000 UTF-8 bytes but only 22,000 UTF-16 units.
    client.sendRaw(clientFrame("SUBSCRIBE", "news", { pad: "€".repeat(22_000) }));
    const closed = await client.closed;
    assert.equal(closed.code, 1009);
  });

  await t.step("an oversized binary frame closes with 1009 too", async () => {
    await using client = await TestClient.connect(server.wsUrl);
    client.sendRaw(new Uint8Array(64 * 1024 + 1));
    assert.equal((await client.closed).code, 1009);
  });
});

e2e("ordering and disconnects", async (t, backend) => {
  await using server = await backend.start();
  const token = await createChannel(server, "news");

  await t.step("acks and pushes arrive in the order they were produced", async () => {
    await using client = await TestClient.connect(server.wsUrl);
    const count = 50;
    for (let i = 0; i < count; i++) {
      client.sendRaw(clientFrame(i % 2 === 0 ? "SUBSCRIBE" : "UNSUBSCRIBE", "news"));
    }
    for (let i = 0; i < count; i++) {
      const ack = await client.next();
      assert.equal(ack.message, i % 2 === 0 ? "Subscribed" : "Unsubscribed");
      assert.deepEqual(ack.data.subscribedChannels, i % 2 === 0 ? ["news"] : []);
    }
  });

  await t.step(
    "a subscriber that disconnects gets nothing more and leaves no subscription",
    async () => {
      const gone = await TestClient.connect(server.wsUrl);
      await gone.act("SUBSCRIBE", "news");
      const uuid = gone.uuid;
      await gone.close();
      await using stays = await TestClient.connect(server.wsUrl);
      await stays.act("SUBSCRIBE", "news");
      // Connections and deliveries are counted by the node that holds the sockets.
      const metricsUrl = `${server.subscriberNode.httpUrl}/metrics`;
      const metricsBefore = await (await fetch(metricsUrl)).text();
      assert.match(metricsBefore, /^pushserver_subscriptions 1$/m);
      const reply = await push(server, {
        channel: "news",
        channelToken: token,
        message: "after",
        recipients: [uuid, stays.uuid],
      });
      assert.equal(reply.status, 200);
      assert.equal((await stays.next()).data.pushMessage.message, "after");
      const metrics = await (await fetch(metricsUrl)).text();
      assert.match(metrics, /^pushserver_deliveries_total 1$/m);
    },
  );
});
