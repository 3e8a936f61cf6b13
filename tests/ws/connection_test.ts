import assert from "node:assert/strict";
import type { Channel } from "../../src/channels/store.ts";
import { CLOSE } from "../../src/errors.ts";
import { Hub } from "../../src/hub/hub.ts";
import { silentLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { Connection, type ConnectionDeps, type SocketLike } from "../../src/ws/connection.ts";
import { LocalChannelPresence } from "../../src/local/local_channel_presence.ts";

/** An EventTarget standing in for a server-side WebSocket. */
class FakeSocket extends EventTarget implements SocketLike {
  readyState = 0;
  binaryType: BinaryType = "blob";
  // deno-lint-ignore no-explicit-any -- frames are arbitrary JSON
  readonly sent: any[] = [];
  closedWith: { code: number | undefined; reason: string | undefined } | undefined;
  /** When true, sent frames stay in `bufferedAmount` (UTF-8 bytes) until `drain()`, as on a real socket. */
  holdsSent = false;
  /** How often `bufferedAmount` was read. */
  bufferedReads = 0;
  #buffered = 0;

  get bufferedAmount(): number {
    this.bufferedReads++;
    return this.#buffered;
  }

  set bufferedAmount(bytes: number) {
    this.#buffered = bytes;
  }

  /** The peer read everything. */
  drain(): void {
    this.#buffered = 0;
  }

  /** Event types listened to, with their listener counts (each type costs memory per socket). */
  readonly listening = new Map<string, number>();

  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener, options);
    this.listening.set(type, (this.listening.get(type) ?? 0) + 1);
  }

  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
    const count = (this.listening.get(type) ?? 0) - 1;
    if (count > 0) this.listening.set(type, count);
    else this.listening.delete(type);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(JSON.parse(data));
    if (this.holdsSent) this.#buffered += new TextEncoder().encode(data).length;
  }

  close(code?: number, reason?: string): void {
    this.closedWith ??= { code, reason };
    this.readyState = 2;
  }

  open(): void {
    this.readyState = 1;
    this.dispatchEvent(new Event("open"));
  }

  receive(data: string | ArrayBuffer): void {
    this.dispatchEvent(new MessageEvent("message", { data }));
  }

  /** The peer (or the runtime) ends the connection. */
  drop(): void {
    this.readyState = 3;
    this.dispatchEvent(new CloseEvent("close", { code: 1006 }));
  }

  // deno-lint-ignore no-explicit-any
  last(): any {
    return this.sent.at(-1);
  }
}

const UUID = "6f1c8a56-2f0c-4d3a-9f5e-0e6e8c1d2b3a";

/** A v1 channel record called `name`. */
function fakeChannel(name: string): Channel {
  return { name, tokenHash: "h", createdAt: 0, epoch: "e", private: false, history: null };
}

function setup(
  limits: Partial<ConnectionDeps["limits"]> = {},
  options: {
    maxSubscriptions?: number;
    channels?: string[];
    channelExists?: (name: string) => boolean;
    /** Whether the socket opens right away (default true). */
    open?: boolean;
  } = {},
) {
  let clock = 1_000_000;
  const hub = new Hub({ maxSubscriptionsPerConnection: options.maxSubscriptions ?? 1000 });
  const channels = new Set(options.channels ?? ["news"]);
  const metrics = new Metrics();
  const gone: Connection[] = [];
  const socket = new FakeSocket();
  const connection = new Connection(socket, UUID, {
    hub,
    channelPresence: new LocalChannelPresence(hub, { maxMembers: 10, eventsMax: 10 }),
    channels: {
      lookup: options.channelExists === undefined
        ? (name) => channels.has(name) ? fakeChannel(name) : undefined
        : (name) => options.channelExists!(name) ? fakeChannel(name) : undefined,
      isGranted: () => false,
      history: () => Promise.reject(new Error("no history in these tests")),
    },
    metrics,
    logger: silentLogger(),
    now: () => clock,
    limits: {
      maxFrameBytes: 1024,
      maxBufferedBytes: 4096,
      frameRatePerS: 100,
      frameBurst: 200,
      ...limits,
    },
    onGone: (c) => gone.push(c),
  });
  if (options.open ?? true) socket.open();
  return {
    hub,
    metrics,
    socket,
    connection,
    gone,
    advance(ms: number) {
      clock += ms;
    },
  };
}

function subscribe(channel: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    messageType: "CLIENT_ACTION",
    action: "SUBSCRIBE",
    data: { channel },
    ...extra,
  });
}

Deno.test("Connection: on open it registers with the hub and sends Connected", () => {
  const { hub, socket } = setup();
  assert.equal(hub.connectionCount, 1);
  assert.equal(socket.binaryType, "arraybuffer");
  assert.deepEqual(socket.sent, [{
    messageType: "CLIENT_ACK",
    code: 200,
    message: "Connected",
    data: { uuid: UUID, subscribedChannels: [] },
  }]);
});

Deno.test("Connection: an upgrade that fails before open (error alone) ends the connection", () => {
  const { socket, hub, gone, connection } = setup({}, { open: false });
  assert.deepEqual([...socket.listening.keys()].sort(), ["close", "error", "message", "open"]);
  socket.dispatchEvent(new Event("error"));
  assert.deepEqual(gone, [connection]);
  assert.equal(hub.connectionCount, 0);
  assert.deepEqual(socket.sent, []);
});

Deno.test("Connection: once open it listens only to message and close (memory per idle socket)", () => {
  const { socket, gone, hub } = setup();
  assert.deepEqual(Object.fromEntries(socket.listening), { message: 1, close: 1 });
  // After open the runtime follows any error with close, which is what ends the connection.
  socket.drop();
  assert.equal(gone.length, 1);
  assert.equal(hub.connectionCount, 0);
});

Deno.test("Connection: malformed frames get an ERROR frame and the socket stays open", async (t) => {
  const { socket, metrics } = setup();
  const cases: [string | ArrayBuffer, number, string][] = [
    ["not json", 400, "Bad JSON"],
    ["", 400, "Bad JSON"],
    ['{"__proto__":{"x":1}}', 400, "Invalid message"],
    ["[]", 400, "Invalid message"],
    ["null", 400, "Invalid message"],
    [
      '{"messageType":"CLIENT_ACTION","action":"SUBSCRIBE","data":{"channel":7}}',
      400,
      "Invalid message",
    ],
    [new Uint8Array([1, 2, 3]).buffer, 400, "Invalid message"],
    [subscribe("missing"), 404, "Not found"],
    [subscribe("news", { uuid: "00000000-0000-4000-8000-000000000000" }), 403, "Forbidden"],
  ];
  for (const [frame, code, message] of cases) {
    await t.step(
      `${typeof frame === "string" ? JSON.stringify(frame) : "binary"} → ${code}`,
      () => {
        socket.receive(frame);
        const reply = socket.last();
        assert.equal(reply.messageType, "ERROR");
        assert.equal(reply.code, code);
        assert.equal(reply.message, message);
        assert.equal(typeof reply.data.errorDetails, "string");
        assert.equal(socket.closedWith, undefined);
      },
    );
  }
  assert.equal(metrics.errors.get('transport="ws",code="400"'), 7);
});

Deno.test("Connection: a frame over maxFrameBytes closes with 1009 and drops subscriptions", async (t) => {
  await t.step("text, counted in UTF-8 bytes", () => {
    const { socket, hub, gone } = setup();
    socket.receive(subscribe("news"));
    assert.equal(hub.subscriptionCount, 1);
    socket.receive("é".repeat(512)); // 512 characters, 1024 bytes: at the limit
    assert.equal(socket.closedWith, undefined);
    socket.receive("é".repeat(513)); // 1026 bytes
    assert.deepEqual(socket.closedWith, CLOSE.messageTooBig);
    assert.equal(hub.subscriptionCount, 0);
    assert.equal(hub.connectionCount, 0);
    assert.equal(gone.length, 1);
  });
  await t.step("binary", () => {
    const { socket } = setup();
    socket.receive(new ArrayBuffer(1025));
    assert.equal(socket.closedWith?.code, CLOSE.messageTooBig.code);
  });
});

Deno.test("Connection: subscribe, unsubscribe and the subscription limit", () => {
  const { socket } = setup({}, { maxSubscriptions: 2, channels: ["a", "b", "c"] });
  socket.receive(subscribe("a"));
  socket.receive(subscribe("b"));
  assert.deepEqual(socket.last().data.subscribedChannels, ["a", "b"]);
  socket.receive(subscribe("c"));
  assert.equal(socket.last().code, 429);
  assert.equal(socket.last().message, "Too Many Requests");
  socket.receive(subscribe("a")); // idempotent: not a new subscription
  assert.equal(socket.last().message, "Subscribed");
  socket.receive(
    JSON.stringify({ messageType: "CLIENT_ACTION", action: "UNSUBSCRIBE", data: { channel: "a" } }),
  );
  socket.receive(subscribe("c"));
  assert.deepEqual(socket.last().data.subscribedChannels, ["b", "c"]);
});

Deno.test("Connection: the frame rate limit answers 429 past the burst and refills with time", () => {
  const { socket, advance } = setup({ frameRatePerS: 100, frameBurst: 5 });
  for (let i = 0; i < 5; i++) socket.receive(subscribe("news"));
  assert.equal(socket.last().message, "Subscribed");
  socket.receive(subscribe("news"));
  assert.equal(socket.last().code, 429);
  assert.match(socket.last().data.errorDetails, /100 per second \(burst 5\)/);
  advance(10); // one token
  socket.receive(subscribe("news"));
  assert.equal(socket.last().message, "Subscribed");
  socket.receive(subscribe("news"));
  assert.equal(socket.last().code, 429);
  assert.equal(socket.closedWith, undefined);
});

Deno.test("Connection: a burst of rejected frames closes with 1008", () => {
  const { socket, hub } = setup({ frameRatePerS: 100, frameBurst: 5 });
  for (let i = 0; i < 5 + 5; i++) socket.receive(subscribe("news"));
  assert.equal(socket.closedWith, undefined);
  socket.receive(subscribe("news"));
  assert.deepEqual(socket.closedWith, CLOSE.policyViolation);
  assert.equal(hub.connectionCount, 0);
});

Deno.test("Connection: a sustained flood above the rate is closed with 1008 even as tokens trickle in", () => {
  const { socket, advance } = setup({ frameRatePerS: 100, frameBurst: 200 });
  // 10,000 frames/s for up to 10 s of fake time: one token refills every 100 frames.
  for (let i = 0; i < 100_000 && socket.closedWith === undefined; i++) {
    socket.receive(subscribe("news"));
    advance(0.1);
  }
  assert.equal(socket.closedWith?.code, CLOSE.policyViolation.code);
});

Deno.test("Connection: a client that bursts once and then behaves is not closed", () => {
  const { socket, advance } = setup({ frameRatePerS: 100, frameBurst: 200 });
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 250; i++) socket.receive(subscribe("news")); // 50 over the burst
    advance(5000); // quiet long enough to refill the bucket completely
  }
  assert.equal(socket.closedWith, undefined);
  socket.receive(subscribe("news"));
  assert.equal(socket.last().message, "Subscribed");
});

Deno.test("Connection.send() closes a subscriber whose buffer exceeds maxBufferedBytes with 4008", () => {
  const { socket, connection, metrics, hub } = setup({ maxBufferedBytes: 4096 });
  socket.holdsSent = true;
  socket.drain();
  // 1,000-byte frames the peer does not read: the buffer holds 4,000 after four, still within the
  // limit, so the fifth goes out too (5,000); the sixth finds the buffer over it.
  const frame = JSON.stringify({ x: "é".repeat(497) }); // 1,000 UTF-8 bytes, 505 UTF-16 units
  for (let i = 0; i < 5; i++) assert.equal(connection.send(frame), true, `frame ${i + 1}`);
  assert.equal(socket.closedWith, undefined);
  assert.equal(connection.send(frame), false);
  assert.deepEqual(socket.closedWith, CLOSE.slowConsumer);
  assert.equal(metrics.slowConsumerCloses, 1);
  assert.equal(hub.connectionCount, 0);
  assert.equal(connection.send(frame), false);
  assert.equal(metrics.slowConsumerCloses, 1);
});

Deno.test("Connection.send(): a buffer that drains keeps the subscriber, one that refills closes it", () => {
  const { socket, connection } = setup({ maxBufferedBytes: 4096 });
  socket.holdsSent = true;
  const frame = JSON.stringify({ x: "x".repeat(992) }); // 1,000 bytes
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 4; i++) assert.equal(connection.send(frame), true);
    socket.drain(); // a reader that keeps up
  }
  assert.equal(socket.closedWith, undefined);
  for (let i = 0; i < 5; i++) assert.equal(connection.send(frame), true);
  assert.equal(connection.send(frame), false);
  assert.deepEqual(socket.closedWith, CLOSE.slowConsumer);
});

Deno.test("Connection.send() reads bufferedAmount only when what was sent could exceed the limit", () => {
  const { socket, connection } = setup({ maxBufferedBytes: 1_000_000 });
  const reads = socket.bufferedReads;
  // 100 frames of ~100 bytes: at most ~30 KB could be buffered, far below the limit.
  for (let i = 0; i < 100; i++) assert.equal(connection.send(JSON.stringify({ i })), true);
  assert.equal(socket.bufferedReads, reads);
});

Deno.test("Connection: when the socket closes its subscriptions go at once, onGone fires once", () => {
  const { socket, connection, hub, gone } = setup({}, { channels: ["a", "b"] });
  socket.receive(subscribe("a"));
  socket.receive(subscribe("b"));
  assert.equal(hub.subscriptionCount, 2);
  socket.drop();
  socket.dispatchEvent(new Event("error"));
  assert.equal(hub.subscriptionCount, 0);
  assert.equal(hub.connectionCount, 0);
  assert.deepEqual(gone, [connection]);
  assert.equal(connection.send("{}"), false);
  const sent = socket.sent.length;
  socket.receive(subscribe("a"));
  assert.equal(socket.sent.length, sent);
});

Deno.test("Connection: an unexpected exception closes only that connection with 1011", () => {
  const world = setup({}, {
    channelExists: () => {
      throw new Error("store exploded");
    },
  });
  world.socket.receive(subscribe("news"));
  assert.deepEqual(world.socket.closedWith, { code: 1011, reason: "internal error" });
  assert.equal(world.hub.connectionCount, 0, "its subscriptions are gone");
  assert.equal(world.gone.length, 1);
});
