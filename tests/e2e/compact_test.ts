/**
 * Black-box tests of PROTOCOL.md v1.1 "Compact frames": a client offering the WebSocket
 * subprotocol `pushserver.compact` gets it, and then acks name one channel instead of the whole
 * list, and pushes are the same bytes for every recipient. Errors and close codes stay v1's.
 */
import assert from "node:assert/strict";
import { broadcast, call, createWith, WsClient } from "./_v11.ts";
import { e2e } from "./_backends.ts";

const COMPACT = "pushserver.compact";

/** A compact `CLIENT_ACK`. */
function compactAck(message: string, data: Record<string, unknown>) {
  return { messageType: "CLIENT_ACK", code: 200, message, data };
}

/** The exact compact `CLIENT_PUSH` text of a push. */
function compactPushText(pushMessage: Record<string, unknown>): string {
  return JSON.stringify({
    messageType: "CLIENT_PUSH",
    code: 200,
    message: "Push Message",
    data: { pushMessage },
  });
}

e2e("compact frames: negotiation and Connected", async (t, backend) => {
  await using server = await backend.start();

  await t.step("offering pushserver.compact gets it accepted", async () => {
    await using client = await WsClient.connect(server.wsUrl, [COMPACT]);
    assert.equal(client.socket.protocol, COMPACT);
    assert.deepEqual(JSON.parse(client.raw[0]!), compactAck("Connected", { uuid: client.uuid }));
    assert.match(
      client.uuid,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  await t.step("also when offered after another subprotocol", async () => {
    await using client = await WsClient.connect(server.wsUrl, ["x-unknown", COMPACT]);
    assert.equal(client.socket.protocol, COMPACT);
    assert.deepEqual(JSON.parse(client.raw[0]!).data, { uuid: client.uuid });
  });

  await t.step("without it, no subprotocol and the v1 Connected", async () => {
    await using client = await WsClient.connect(server.wsUrl);
    assert.equal(client.socket.protocol, "");
    assert.equal(
      client.raw[0],
      `{"messageType":"CLIENT_ACK","code":200,"message":"Connected","data":{"uuid":"${client.uuid}","subscribedChannels":[]}}`,
    );
  });
});

e2e("compact frames: acks name one channel", async (t, backend) => {
  await using server = await backend.start();
  const a = await createWith(server, "a");
  await createWith(server, "b");
  const vip = await createWith(server, "vip", { private: true });
  await using client = await WsClient.connect(server.wsUrl, [COMPACT]);
  const uuid = client.uuid;

  await t.step("Subscribed: {uuid, channel}, also when subscribing again", async () => {
    assert.deepEqual(await client.subscribe("a"), compactAck("Subscribed", { uuid, channel: "a" }));
    assert.deepEqual(await client.subscribe("b"), compactAck("Subscribed", { uuid, channel: "b" }));
    assert.deepEqual(await client.subscribe("a"), compactAck("Subscribed", { uuid, channel: "a" }));
  });

  await t.step("Unsubscribed: {uuid, channel}, also when not subscribed", async () => {
    assert.deepEqual(
      await client.unsubscribe("b"),
      compactAck("Unsubscribed", { uuid, channel: "b" }),
    );
    assert.deepEqual(
      await client.unsubscribe("b"),
      compactAck("Unsubscribed", { uuid, channel: "b" }),
    );
  });

  await t.step("Subscription Revoked: {uuid, channel}", async () => {
    const grant = { channel: "vip", channelToken: vip.token, uuid };
    assert.equal((await call(server, "AUTHORIZE_SUBSCRIBER", grant)).status, 200);
    assert.deepEqual(
      await client.subscribe("vip"),
      compactAck("Subscribed", { uuid, channel: "vip" }),
    );
    assert.equal((await call(server, "REVOKE_SUBSCRIBER", grant)).status, 200);
    assert.deepEqual(
      await client.next(),
      compactAck("Subscription Revoked", { uuid, channel: "vip" }),
    );
  });

  await t.step("Channel Deleted: {uuid, channel}", async () => {
    const deleted = await call(server, "DELETE_CHANNEL", { channel: "a", channelToken: a.token });
    assert.equal(deleted.status, 200);
    assert.deepEqual(await client.next(), compactAck("Channel Deleted", { uuid, channel: "a" }));
    assert.ok(await client.receivedNothing());
  });
});

e2e("compact frames: pushes are the same bytes for every recipient", async (t, backend) => {
  await using server = await backend.start();
  const { token } = await createWith(server, "news");
  await createWith(server, "other");
  await using one = await WsClient.connect(server.wsUrl, [COMPACT]);
  await using two = await WsClient.connect(server.wsUrl, [COMPACT]);
  await using classic = await WsClient.connect(server.wsUrl);
  await one.subscribe("news");
  await two.subscribe("other");
  await two.subscribe("news");
  await classic.subscribe("news");

  await t.step(
    "a broadcast: {pushMessage: {channel, message}} for each compact client",
    async () => {
      await broadcast(server, "news", token, 'hi "there" ✓');
      const expected = compactPushText({ channel: "news", message: 'hi "there" ✓' });
      assert.equal(await one.nextRaw(), expected);
      assert.equal(await two.nextRaw(), expected);
      assert.equal(
        await classic.nextRaw(),
        `{"messageType":"CLIENT_PUSH","code":200,"message":"Push Message","data":{"uuid":"${classic.uuid}","subscribedChannels":["news"],"pushMessage":{"channel":"news","message":"hi \\"there\\" ✓"}}}`,
        "a v1 client on the same channel still gets v1 bytes",
      );
    },
  );

  await t.step("a targeted push is compact too", async () => {
    const reply = await call(server, "PUSH_MESSAGE", {
      channel: "news",
      channelToken: token,
      recipients: [two.uuid],
      message: "only two",
    });
    assert.equal(reply.status, 200);
    assert.equal(await two.nextRaw(), compactPushText({ channel: "news", message: "only two" }));
    assert.ok(await one.receivedNothing());
    assert.ok(await classic.receivedNothing());
  });
});

e2e(
  "compact frames on a history channel: recovery on the ack, offset/epoch on pushes",
  async (_t, backend) => {
    await using server = await backend.start();
    const { token, epoch } = await createWith(server, "h", {
      history: { size: 10, ttlSeconds: 600 },
    });
    await broadcast(server, "h", token, "one");
    await broadcast(server, "h", token, "two");
    await using client = await WsClient.connect(server.wsUrl, [COMPACT]);
    const uuid = client.uuid;
    assert.deepEqual(
      await client.subscribe("h", { offset: 0, epoch }),
      compactAck("Subscribed", {
        uuid,
        channel: "h",
        recovery: { channel: "h", epoch, offset: 2, recovered: true },
      }),
    );
    assert.equal(
      await client.nextRaw(),
      compactPushText({ channel: "h", message: "one", offset: 1, epoch }),
    );
    assert.equal(
      await client.nextRaw(),
      compactPushText({ channel: "h", message: "two", offset: 2, epoch }),
    );
    await broadcast(server, "h", token, "three");
    assert.equal(
      await client.nextRaw(),
      compactPushText({ channel: "h", message: "three", offset: 3, epoch }),
    );
    assert.deepEqual(
      await client.subscribe("h"),
      compactAck("Subscribed", {
        uuid,
        channel: "h",
        recovery: { channel: "h", epoch, offset: 3, recovered: false },
      }),
    );
    assert.deepEqual(
      await client.unsubscribe("h"),
      compactAck("Unsubscribed", { uuid, channel: "h" }),
      "no recovery on other acks",
    );
  },
);

e2e("compact frames: errors and close codes are v1's", async (t, backend) => {
  await using server = await backend.start();
  await createWith(server, "vip", { private: true });
  await using client = await WsClient.connect(server.wsUrl, [COMPACT]);

  const cases: [string, string, number, string][] = [
    ["non-JSON text", "not json", 400, "Bad JSON"],
    ["the wrong shape", '{"messageType":"CLIENT_ACTION","action":"DANCE"}', 400, "Invalid message"],
    [
      "a missing channel",
      '{"messageType":"CLIENT_ACTION","action":"SUBSCRIBE","data":{"channel":"missing"}}',
      404,
      "Not found",
    ],
    [
      "a private channel without a grant",
      '{"messageType":"CLIENT_ACTION","action":"SUBSCRIBE","data":{"channel":"vip"}}',
      403,
      "Forbidden",
    ],
    [
      "another connection's uuid",
      '{"messageType":"CLIENT_ACTION","action":"SUBSCRIBE","uuid":"00000000-0000-4000-8000-000000000000","data":{"channel":"vip"}}',
      403,
      "Forbidden",
    ],
  ];
  for (const [name, frame, code, message] of cases) {
    await t.step(`${name}: ERROR ${code} ${message}`, async () => {
      client.send(frame);
      const reply = await client.next();
      assert.deepEqual(Object.keys(reply), ["messageType", "code", "message", "data"]);
      assert.deepEqual(
        { ...reply, data: Object.keys(reply.data) },
        { messageType: "ERROR", code, message, data: ["errorDetails"] },
      );
      assert.equal(typeof reply.data.errorDetails, "string");
    });
  }

  await t.step("a binary frame: ERROR 400 Invalid message", async () => {
    client.socket.send(new Uint8Array([1, 2, 3]));
    const reply = await client.next();
    assert.equal(reply.code, 400);
    assert.equal(reply.message, "Invalid message");
  });

  await t.step("a frame over 64 KiB closes with 1009", async () => {
    await using big = await WsClient.connect(server.wsUrl, [COMPACT]);
    big.send(" ".repeat(64 * 1024 + 1));
    assert.equal((await big.closed).code, 1009);
  });
});
