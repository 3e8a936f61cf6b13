/** The client's outbound pacing, against a scripted socket (no server, no network). */
import assert from "node:assert/strict";
import { PushClient, PushError } from "../../src/client/pushserver.js";
import { FakeWebSocket, within } from "./_support.ts";

const UUID = "00000000-0000-4000-8000-000000000001";
const CONNECTED = {
  messageType: "CLIENT_ACK",
  code: 200,
  message: "Connected",
  data: { uuid: UUID, subscribedChannels: [] },
};

/** A v1 server that acks every SUBSCRIBE, keeping the connection's channel list. */
function ackingServer(socket: FakeWebSocket): void {
  const channels: string[] = [];
  socket.reply = (frame) => {
    const channel = String((frame.data as { channel: string }).channel);
    if (!channels.includes(channel)) channels.push(channel);
    return {
      messageType: "CLIENT_ACK",
      code: 200,
      message: "Subscribed",
      data: { uuid: UUID, subscribedChannels: [...channels] },
    };
  };
}

async function connectFake(
  options: { frameRate?: number; frameBurst?: number } = {},
): Promise<{ client: PushClient; socket: FakeWebSocket }> {
  FakeWebSocket.instances = [];
  FakeWebSocket.onCreate = (socket) => socket.accept("", CONNECTED);
  const client = await PushClient.connect("ws://fake.invalid", {
    WebSocket: FakeWebSocket as unknown as { new (url: string): WebSocket },
    ...options,
  });
  const socket = FakeWebSocket.instances[0];
  assert.ok(socket);
  return { client, socket };
}

Deno.test("PushClient sends at most frameBurst frames at once, then frameRate per second", async () => {
  const { client, socket } = await connectFake({ frameRate: 100, frameBurst: 5 });
  ackingServer(socket);
  const names = Array.from({ length: 25 }, (_, i) => `c${i}`);
  await within(5000, Promise.all(names.map((name) => client.subscribe(name, () => {}))), "acks");
  assert.deepEqual(socket.sent.map((s) => (s.frame.data as { channel: string }).channel), names);
  const first = socket.sent[0]!.at;
  socket.sent.forEach(({ at }, k) => {
    // Frame k needs k + 1 tokens: the 5 of the burst, then one every 10 ms (1 ms of clock slack).
    const earliest = Math.max(0, (k + 1 - 5) * 10 - 1);
    assert.ok(at - first >= earliest, `frame ${k} after ${at - first} ms, not before ${earliest}`);
  });
  await client.close();
});

Deno.test("PushClient backs off on the server's frame-rate 429 and sends the refused frame again", async () => {
  const { client, socket } = await connectFake({ frameRate: 1000, frameBurst: 1000 });
  // The server takes 3 frames, then refuses the rest as over its rate (10/s, burst 4).
  let taken = 0;
  const channels: string[] = [];
  socket.reply = (frame) => {
    const channel = String((frame.data as { channel: string }).channel);
    if (taken++ < 3 || socket.sent.length > 6) {
      channels.push(channel);
      return {
        messageType: "CLIENT_ACK",
        code: 200,
        message: "Subscribed",
        data: { uuid: UUID, subscribedChannels: [...channels] },
      };
    }
    return {
      messageType: "ERROR",
      code: 429,
      message: "Too Many Requests",
      data: { errorDetails: "Too many frames; the limit is 10 per second (burst 4)" },
    };
  };
  const names = ["a", "b", "c", "d", "e", "f"];
  const started = performance.now();
  await within(5000, Promise.all(names.map((name) => client.subscribe(name, () => {}))), "acks");
  assert.deepEqual(channels, names, "every refused subscribe was sent again, in order");
  const resent = socket.sent.slice(6);
  assert.deepEqual(resent.map((s) => (s.frame.data as { channel: string }).channel), [
    "d",
    "e",
    "f",
  ]);
  // A pause of at least a second, then the server's stated pace: burst 2 (half of 4), 9/s.
  assert.ok(resent[0]!.at - started >= 999, `resent after ${resent[0]!.at - started} ms`);
  assert.ok(resent[2]!.at - resent[0]!.at >= 1000 / 9 - 1, "the third waited for a token");
  await client.close();
});

Deno.test("PushClient does not retry a 429 that is not the frame rate (the subscription limit)", async () => {
  const { client, socket } = await connectFake();
  socket.reply = () => ({
    messageType: "ERROR",
    code: 429,
    message: "Too Many Requests",
    data: { errorDetails: "A connection may subscribe to at most 1 channels" },
  });
  await assert.rejects(client.subscribe("x", () => {}), (error: unknown) => {
    assert.ok(error instanceof PushError);
    assert.equal(error.code, 429);
    return true;
  });
  assert.equal(socket.sent.length, 1);
  assert.deepEqual(client.channels, []);
  await client.close();
});
