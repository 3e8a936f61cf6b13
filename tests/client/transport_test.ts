/** The WebSocket transport on its own, against a scripted socket (no server, no network). */
import assert from "node:assert/strict";
import {
  COMPACT_PROTOCOL,
  PushError,
  type TransportOpenOptions,
  webSocketTransport,
} from "../../src/client/pushserver.js";
import { FakeWebSocket, Inbox, within } from "./_support.ts";

const FakeSocketClass = FakeWebSocket as unknown as {
  new (url: string, protocols?: string | string[]): WebSocket;
};
const CONNECTED = {
  messageType: "CLIENT_ACK",
  code: 200,
  message: "Connected",
  data: { uuid: "00000000-0000-4000-8000-0000000000aa" },
};

function openOptions(signal: AbortSignal, frames: Inbox<unknown>): TransportOpenOptions {
  return {
    compact: true,
    timeoutMs: 5000,
    signal,
    onFrame: frames.put,
    onClose: (code, reason) => frames.put({ closed: code, reason }),
  };
}

Deno.test("webSocketTransport() resolves on Connected, then carries frames both ways", async () => {
  FakeWebSocket.instances = [];
  FakeWebSocket.onCreate = (socket) => socket.accept(COMPACT_PROTOCOL, CONNECTED);
  const frames = new Inbox<unknown>();
  const transport = webSocketTransport(FakeSocketClass);
  assert.equal(transport.name, "websocket");
  const connection = await transport.open(
    "ws://fake.invalid",
    openOptions(new AbortController().signal, frames),
  );
  assert.equal(connection.uuid, CONNECTED.data.uuid);
  assert.equal(connection.compact, true);
  const socket = FakeWebSocket.instances[0]!;
  connection.send({ messageType: "CLIENT_ACTION", action: "SUBSCRIBE", data: { channel: "a" } });
  assert.deepEqual(socket.sent[0]?.frame.data, { channel: "a" });
  socket.deliver({ messageType: "CLIENT_PUSH" });
  socket.deliver("not json");
  assert.deepEqual(await frames.take(), { messageType: "CLIENT_PUSH" });
  assert.equal(await frames.take(), null);
  socket.drop(1001, "going away");
  assert.deepEqual(await frames.take(), { closed: 1001, reason: "going away" });

  // close() is the client's: it resolves once closed, and onClose is not called for it.
  const again = await transport.open(
    "ws://fake.invalid",
    openOptions(new AbortController().signal, frames),
  );
  await again.close();
  assert.equal(FakeWebSocket.instances[1]?.readyState, 3);
  assert.equal(frames.size, 0);
});

Deno.test("webSocketTransport() gives up an aborted attempt: the socket is closed and nothing is retried", async () => {
  FakeWebSocket.instances = [];
  const created = Promise.withResolvers<FakeWebSocket>();
  FakeWebSocket.onCreate = created.resolve; // never answers the handshake
  const abort = new AbortController();
  const opening = webSocketTransport(FakeSocketClass).open(
    "ws://fake.invalid",
    openOptions(abort.signal, new Inbox()),
  );
  const socket = await within(5000, created.promise, "the socket");
  abort.abort();
  await assert.rejects(opening, (error: unknown) => {
    assert.ok(error instanceof PushError);
    assert.equal(error.code, 0);
    return true;
  });
  assert.equal(socket.readyState, 3);
  assert.equal(FakeWebSocket.instances.length, 1, "no second attempt without the subprotocol");
});

Deno.test("webSocketTransport() without any WebSocket implementation is a TypeError", () => {
  const global = globalThis as { WebSocket?: unknown };
  const saved = global.WebSocket;
  delete global.WebSocket;
  try {
    assert.throws(() => webSocketTransport(), TypeError);
  } finally {
    global.WebSocket = saved;
  }
});
