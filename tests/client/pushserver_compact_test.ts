/** The client's compact-frame mode (PROTOCOL.md "Compact frames"), fed frames by a scripted socket. */
import assert from "node:assert/strict";
import {
  COMPACT_PROTOCOL,
  PushClient,
  type PushClientEvents,
  type PushMeta,
} from "../../src/client/pushserver.js";
import { FakeWebSocket, Inbox, within } from "./_support.ts";

const UUID = "00000000-0000-4000-8000-00000000000c";
const FakeSocketClass = FakeWebSocket as unknown as {
  new (url: string, protocols?: string | string[]): WebSocket;
};

function ack(message: string, data: Record<string, unknown>): Record<string, unknown> {
  return { messageType: "CLIENT_ACK", code: 200, message, data: { uuid: UUID, ...data } };
}

function compactPush(channel: string, message: string): Record<string, unknown> {
  return {
    messageType: "CLIENT_PUSH",
    code: 200,
    message: "Push Message",
    data: { pushMessage: { channel, message } },
  };
}

/** A compact server: acks name only the channel concerned. */
function compactServer(socket: FakeWebSocket): void {
  socket.reply = (frame) => {
    const channel = (frame.data as { channel: string }).channel;
    return ack(frame.action === "SUBSCRIBE" ? "Subscribed" : "Unsubscribed", { channel });
  };
}

async function connectCompact(): Promise<{ client: PushClient; socket: FakeWebSocket }> {
  FakeWebSocket.instances = [];
  FakeWebSocket.onCreate = (socket) => {
    const accepted = socket.protocols.includes(COMPACT_PROTOCOL) ? COMPACT_PROTOCOL : "";
    socket.accept(accepted, ack("Connected", {}));
  };
  const client = await PushClient.connect("ws://fake.invalid", { WebSocket: FakeSocketClass });
  const socket = FakeWebSocket.instances[0];
  assert.ok(socket);
  return { client, socket };
}

function nextEvent<K extends keyof PushClientEvents>(
  client: PushClient,
  name: K,
): Promise<PushClientEvents[K]> {
  const { promise, resolve } = Promise.withResolvers<PushClientEvents[K]>();
  const off = client.on(name, (event) => {
    off();
    resolve(event);
  });
  return within(5000, promise, `the "${name}" event`).finally(off);
}

Deno.test("PushClient offers pushserver.compact and keeps subscribedChannels from compact acks", async () => {
  const { client, socket } = await connectCompact();
  compactServer(socket);
  assert.deepEqual(socket.protocols, [COMPACT_PROTOCOL]);
  assert.equal(client.compact, true);
  assert.equal(client.uuid, UUID);

  const inbox = new Inbox<[string, PushMeta]>();
  const handler = (message: string, meta: PushMeta) => inbox.put([message, meta]);
  await client.subscribe("a", handler);
  await client.subscribe("b", handler);
  await client.subscribe("b", () => {}); // a second handler: the server acks again, no duplicate
  await client.subscribe("c", handler);
  socket.deliver(compactPush("b", "one"));
  assert.deepEqual(await inbox.take(), ["one", {
    channel: "b",
    uuid: UUID,
    subscribedChannels: ["a", "b", "c"],
  }]);

  await client.unsubscribe("a");
  socket.deliver(compactPush("c", "two"));
  assert.deepEqual((await inbox.take())[1].subscribedChannels, ["b", "c"]);

  const deleted = nextEvent(client, "channelDeleted");
  socket.deliver(ack("Channel Deleted", { channel: "b" }));
  assert.deepEqual(await deleted, { channel: "b" });
  assert.deepEqual(client.channels, ["c"]);

  const revoked = nextEvent(client, "subscriptionRevoked");
  socket.deliver(ack("Subscription Revoked", { channel: "c" }));
  assert.deepEqual(await revoked, { channel: "c" });
  assert.deepEqual(client.channels, []);

  await client.subscribe("d", handler);
  socket.deliver(compactPush("d", "three"));
  assert.deepEqual((await inbox.take())[1].subscribedChannels, ["d"]);
  await client.close();
});

Deno.test("PushClient never takes an unasked ack (deleted, revoked) as the answer to a request", async () => {
  for (const compact of [true, false]) {
    const { client, socket } = await connectCompact();
    const channels: string[] = [];
    // This server holds its answer to the next SUBSCRIBE until the test releases it.
    const held = Promise.withResolvers<void>();
    socket.reply = (frame) => {
      const channel = (frame.data as { channel: string }).channel;
      channels.push(channel);
      const answer = compact
        ? ack("Subscribed", { channel })
        : ack("Subscribed", { subscribedChannels: [...channels] });
      if (channel !== "late") return answer;
      held.promise.then(() => socket.deliver(answer));
      return null;
    };
    await client.subscribe("x", () => {});
    let settled = false;
    const late = client.subscribe("late", () => {}).finally(() => settled = true);
    await socket.sentCount(2);
    channels.splice(channels.indexOf("x"), 1);
    const revoked = nextEvent(client, "subscriptionRevoked");
    socket.deliver(
      compact
        ? ack("Subscription Revoked", { channel: "x" })
        : ack("Subscription Revoked", { subscribedChannels: [] }),
    );
    await revoked;
    assert.equal(settled, false, `compact=${compact}: the revoke ack answered the subscribe`);
    held.resolve();
    await late;
    assert.deepEqual(client.channels, ["late"]);
    await client.close();
  }
});

Deno.test("PushClient reads v1 frames when the server does not accept the subprotocol", async () => {
  FakeWebSocket.instances = [];
  // Like browsers, ws and Node: an offer answered without a subprotocol fails the handshake.
  FakeWebSocket.onCreate = (socket) => {
    if (socket.protocols.length > 0) socket.drop(1006);
    else socket.accept("", ack("Connected", { subscribedChannels: [] }));
  };
  const client = await PushClient.connect("ws://fake.invalid", { WebSocket: FakeSocketClass });
  assert.deepEqual(FakeWebSocket.instances.map((s) => s.protocols), [[COMPACT_PROTOCOL], []]);
  assert.equal(client.compact, false);
  const socket = FakeWebSocket.instances[1]!;
  socket.reply = (frame) =>
    ack("Subscribed", { subscribedChannels: [(frame.data as { channel: string }).channel] });
  const inbox = new Inbox<PushMeta>();
  await client.subscribe("v1", (_, meta) => inbox.put(meta));
  socket.deliver({
    messageType: "CLIENT_PUSH",
    code: 200,
    message: "Push Message",
    data: {
      uuid: UUID,
      subscribedChannels: ["v1", "other"],
      pushMessage: { channel: "v1", message: "m" },
    },
  });
  assert.deepEqual(await inbox.take(), {
    channel: "v1",
    uuid: UUID,
    subscribedChannels: ["v1", "other"],
  });
  await client.close();
});

Deno.test("PushClient with compact: false does not offer the subprotocol", async () => {
  FakeWebSocket.instances = [];
  FakeWebSocket.onCreate = (socket) => socket.accept("", ack("Connected", {}));
  const client = await PushClient.connect("ws://fake.invalid", {
    WebSocket: FakeSocketClass,
    compact: false,
  });
  assert.deepEqual(FakeWebSocket.instances.map((s) => s.protocols), [[]]);
  assert.equal(client.compact, false);
  await client.close();
});
