/**
 * PROTOCOL.md v1.1: "a v1 client that never uses these fields sees exactly the v1 wire format".
 * On channels created without the new options (or with them null/false), every ack and frame is
 * compared as an exact string against the v1 envelope: no field may be added or reordered.
 */
import assert from "node:assert/strict";
import { callRaw, createWith, WsClient } from "./_v11.ts";
import { e2e } from "./_backends.ts";

/** The exact v1 `SERVER_ACK` text. */
function serverAck(message: string, channel: string, channelToken: string | null): string {
  return `{"messageType":"SERVER_ACK","code":200,"message":"${message}","data":{"channel":${
    JSON.stringify(channel)
  },"channelToken":${JSON.stringify(channelToken)}}}`;
}

/** The exact v1 `CLIENT_ACK` text. */
function clientAck(message: string, uuid: string, channels: string[]): string {
  return `{"messageType":"CLIENT_ACK","code":200,"message":"${message}","data":{"uuid":"${uuid}","subscribedChannels":${
    JSON.stringify(channels)
  }}}`;
}

/** The exact v1 `CLIENT_PUSH` text. */
function clientPush(uuid: string, channels: string[], channel: string, message: string): string {
  return `{"messageType":"CLIENT_PUSH","code":200,"message":"Push Message","data":{"uuid":"${uuid}","subscribedChannels":${
    JSON.stringify(channels)
  },"pushMessage":{"channel":${JSON.stringify(channel)},"message":${JSON.stringify(message)}}}}`;
}

e2e("v1 channels: every publisher ack is byte-for-byte v1", async (t, backend) => {
  await using server = await backend.start();
  const variants: [string, Record<string, unknown>][] = [
    ["no options", {}],
    ["history: null", { history: null }],
    ["private: false", { private: false }],
    ["private: null, history: null", { private: null, history: null }],
  ];
  for (const [label, options] of variants) {
    await t.step(label, async () => {
      const channel = `v1 ${label}`;
      const created = await callRaw(server, "CREATE_CHANNEL", { channel, ...options });
      assert.equal(created.status, 200);
      const token = JSON.parse(created.text).data.channelToken;
      assert.equal(created.text, serverAck("Created", channel, token));
      for (const channelToken of [null, token]) {
        const ping = await callRaw(server, "PING_CHANNEL", { channel, channelToken });
        assert.equal(ping.text, serverAck("OK", channel, null), `ping with ${channelToken}`);
      }
      for (const recipients of [[], ["00000000-0000-4000-8000-000000000000"]]) {
        const sent = await callRaw(server, "PUSH_MESSAGE", {
          channel,
          channelToken: token,
          recipients,
          message: "m",
        });
        assert.equal(sent.text, serverAck("Sent", channel, null));
      }
      const deleted = await callRaw(server, "DELETE_CHANNEL", { channel, channelToken: token });
      assert.equal(deleted.text, serverAck("Deleted", channel, null));
    });
  }
});

e2e("v1 channels: every subscriber frame is byte-for-byte v1", async (_t, backend) => {
  await using server = await backend.start();
  const { token } = await createWith(server, "news");
  const other = await createWith(server, "other", { history: null, private: false });
  await using client = await WsClient.connect(server.wsUrl);
  const uuid = client.uuid;
  assert.equal(client.socket.protocol, "");
  assert.equal(client.raw[0], clientAck("Connected", uuid, []));

  client.send(
    '{"messageType":"CLIENT_ACTION","action":"SUBSCRIBE","data":{"channel":"news"}}',
  );
  assert.equal(await client.nextRaw(), clientAck("Subscribed", uuid, ["news"]));
  // A `since` on a channel without history is ignored: still the v1 ack.
  client.send(
    `{"messageType":"CLIENT_ACTION","action":"SUBSCRIBE","data":{"channel":"other","since":{"offset":0,"epoch":"e"}}}`,
  );
  assert.equal(await client.nextRaw(), clientAck("Subscribed", uuid, ["news", "other"]));
  client.send('{"messageType":"CLIENT_ACTION","action":"SUBSCRIBE","data":{"channel":"news"}}');
  assert.equal(await client.nextRaw(), clientAck("Subscribed", uuid, ["news", "other"]));

  await callRaw(server, "PUSH_MESSAGE", {
    channel: "news",
    channelToken: token,
    recipients: [],
    message: "broadcast ✓",
  });
  assert.equal(await client.nextRaw(), clientPush(uuid, ["news", "other"], "news", "broadcast ✓"));
  await callRaw(server, "PUSH_MESSAGE", {
    channel: "other",
    channelToken: other.token,
    recipients: [uuid],
    message: "targeted",
  });
  assert.equal(await client.nextRaw(), clientPush(uuid, ["news", "other"], "other", "targeted"));

  client.send('{"messageType":"CLIENT_ACTION","action":"UNSUBSCRIBE","data":{"channel":"news"}}');
  assert.equal(await client.nextRaw(), clientAck("Unsubscribed", uuid, ["other"]));

  await callRaw(server, "DELETE_CHANNEL", { channel: "other", channelToken: other.token });
  assert.equal(await client.nextRaw(), clientAck("Channel Deleted", uuid, []));
});
