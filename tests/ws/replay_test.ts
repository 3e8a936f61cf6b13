/**
 * Streamed replays through a real {@link Connection} over a fake socket (PROTOCOL.md "Replays are
 * streamed", "Revoke and delete win"): pages from a paged history, the shared byte budget, a
 * reader that stops reading, the idle rule during a replay, and a revoke mid-replay.
 * Sizes: 40 entries of 1,000 characters; budgets of 8–16 KiB, so a page holds at most 8 entries.
 */
import assert from "node:assert/strict";
import type { Channel } from "../../src/channels/store.ts";
import { CLOSE } from "../../src/errors.ts";
import { type HistoryEntry, type HistoryPageSize, retainedPage } from "../../src/history/log.ts";
import { ReplayBudget } from "../../src/history/replay_budget.ts";
import { Hub } from "../../src/hub/hub.ts";
import { silentLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { Connection, type SocketLike } from "../../src/ws/connection.ts";
import { LocalChannelPresence } from "../../src/local/local_channel_presence.ts";
import { SocketWriter } from "../../src/ws/writer.ts";

class Socket extends EventTarget implements SocketLike {
  readyState = 0;
  binaryType: BinaryType = "blob";
  bufferedAmount = 0;
  // deno-lint-ignore no-explicit-any -- frames are arbitrary JSON
  readonly sent: any[] = [];
  closedWith: number | undefined;
  /** Every frame stays buffered until `read()`. */
  send(data: string): void {
    this.sent.push(JSON.parse(data));
    this.bufferedAmount += data.length;
  }
  close(code?: number): void {
    this.closedWith ??= code;
    this.readyState = 2;
  }
  open(): void {
    this.readyState = 1;
    this.dispatchEvent(new Event("open"));
  }
  receive(data: string): void {
    this.dispatchEvent(new MessageEvent("message", { data }));
  }
  read(): void {
    this.bufferedAmount = 0;
  }
  offsets(): number[] {
    return this.sent.filter((f) => f.messageType === "CLIENT_PUSH").map((f) =>
      f.data.pushMessage.offset
    );
  }
}

const ID = "6f1c8a56-2f0c-4d3a-9f5e-0e6e8c1d2b3a";
const CHANNEL: Channel = {
  name: "h",
  tokenHash: "x",
  createdAt: 0,
  epoch: "e",
  private: false,
  history: { size: 10_000, ttlSeconds: 3600 },
};

function setup(count: number, options: { budget?: number; idleTimeoutS?: number } = {}) {
  let clock = 1_000_000;
  const entries: HistoryEntry[] = Array.from({ length: count }, (_, i) => ({
    offset: i + 1,
    createdAt: clock,
    message: String(i + 1).padEnd(1000, "x"),
  }));
  const reads: HistoryPageSize[] = [];
  const budget = new ReplayBudget(options.budget ?? 8 * 1024);
  const hub = new Hub({ maxSubscriptionsPerConnection: 10 });
  const socket = new Socket();
  const metrics = new Metrics();
  const connection = new Connection(socket, ID, {
    hub,
    channelPresence: new LocalChannelPresence(hub, { maxMembers: 10, eventsMax: 10 }),
    channels: {
      lookup: () => CHANNEL,
      isGranted: () => true,
      history: (channel, since, page) => {
        if (page !== undefined) reads.push(page);
        const top = entries.at(-1)?.offset ?? 0;
        const rest = since === undefined ? [] : entries.filter((e) => e.offset > since);
        return Promise.resolve(
          retainedPage(rest, since ?? top, top, channel.history!, clock, page),
        );
      },
    },
    metrics,
    logger: silentLogger(),
    now: () => clock,
    replayBudget: budget,
    idleTimeoutS: options.idleTimeoutS ?? 60,
    limits: { maxFrameBytes: 4096, maxBufferedBytes: 8000, frameRatePerS: 100, frameBurst: 200 },
    onGone: () => {},
  });
  socket.open();
  return {
    hub,
    socket,
    connection,
    budget,
    reads,
    metrics,
    entries,
    advance: (ms: number) => clock += ms,
  };
}

const subscribe = (since: number) =>
  JSON.stringify({
    messageType: "CLIENT_ACTION",
    action: "SUBSCRIBE",
    data: { channel: "h", since: { offset: since, epoch: "e" } },
  });

/** Lets the replay run until it waits for the socket (timers of the 5 ms pacing included). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}

/** Closes the connection and lets its paced replay notice. */
async function shut(connection: Connection): Promise<void> {
  connection.close(1000, "done");
  await settle();
  await new Promise((r) => setTimeout(r, 12));
}

/** Reads until the replay ends (at most `rounds` times). */
async function readAll(socket: Socket, count: number, rounds = 200): Promise<void> {
  for (let i = 0; i < rounds && socket.offsets().length < count; i++) {
    await settle();
    socket.read();
    await new Promise((r) => setTimeout(r, 6));
  }
}

Deno.test("a replay is read in pages within the budget share and arrives whole, in order", async () => {
  const w = setup(40);
  w.socket.receive(subscribe(0));
  await readAll(w.socket, 40);
  assert.deepEqual(w.socket.offsets(), Array.from({ length: 40 }, (_, i) => i + 1));
  const ack = w.socket.sent.find((f) => f.message === "Subscribed");
  assert.deepEqual(ack.data.recovery, { channel: "h", epoch: "e", offset: 40, recovered: true });
  assert.ok(w.reads.length > 1, `paged: ${w.reads.length} reads`);
  for (const page of w.reads) assert.ok(page.maxBytes <= 8 * 1024);
  assert.equal(w.budget.used, 0, "every page given back");
  assert.equal(w.budget.replays, 0);
  // Live pushes follow the replay.
  w.hub.deliver("h", { message: "live", recipients: [], offset: 41, epoch: "e" });
  assert.equal(w.socket.offsets().at(-1), 41);
  await shut(w.connection);
});

Deno.test("a connection that stops reading holds at most one page of the budget", async () => {
  // Budget 16 KiB with 2 replays: each asks for 8 KiB pages; the non-reader keeps its one page.
  const w = setup(40, { budget: 16 * 1024 });
  const end = w.budget.begin();
  w.socket.receive(subscribe(0));
  await settle();
  assert.ok(w.socket.offsets().length < 40, "paced by the socket: the replay waits");
  assert.ok(w.budget.used <= 8 * 1024, `holds ${w.budget.used} bytes`);
  end();
  await shut(w.connection);
  assert.equal(w.budget.used, 0, "a closed connection's page goes back");
});

Deno.test("a client that reads nothing during a replay is closed after WS_IDLE_TIMEOUT_S", async () => {
  const w = setup(40, { idleTimeoutS: 5 });
  w.socket.receive(subscribe(0));
  await settle();
  assert.equal(w.socket.closedWith, undefined);
  w.advance(4000);
  await new Promise((r) => setTimeout(r, 12));
  assert.equal(w.socket.closedWith, undefined, "within the timeout it stays");
  w.advance(1500);
  await new Promise((r) => setTimeout(r, 12));
  assert.equal(w.socket.closedWith, CLOSE.slowConsumer.code);
  assert.equal(w.metrics.slowConsumerCloses, 1);
  await shut(w.connection);
  assert.equal(w.budget.used, 0);
});

Deno.test("a revoke during a replay: from its answer on no further push of the channel", async () => {
  // Size: 40 entries; the revoke lands after the first paced batch.
  const w = setup(40);
  w.socket.receive(subscribe(0));
  await settle();
  const before = w.socket.offsets().length;
  assert.ok(before > 0 && before < 40);
  assert.equal(w.hub.revoke(ID, "h"), true);
  w.hub.deliver("h", { message: "live", recipients: [], offset: 41, epoch: "e" });
  await readAll(w.socket, 40, 5);
  assert.equal(w.socket.offsets().length, before, "nothing after the revoke");
  assert.equal(w.socket.sent.at(-1).message, "Subscription Revoked");
  await shut(w.connection);
  assert.equal(w.budget.used, 0);
});

Deno.test("writer: a paced send waits for room and keeps a peer that reads slowly", async () => {
  let clock = 0;
  const socket = { readyState: 1, bufferedAmount: 10_000, send() {} };
  let closed: number | undefined;
  const waits: PromiseWithResolvers<void>[] = [];
  const writer = new SocketWriter(socket, {
    maxBufferedBytes: 8000,
    idleTimeoutMs: 5000,
    now: () => clock,
    close: (code) => closed = code,
    onSlowConsumer: () => {},
    wait: () => {
      const w = Promise.withResolvers<void>();
      waits.push(w);
      return w.promise;
    },
  });
  const room = writer.room(() => false);
  for (const buffered of [9000, 8000, 7000, 5000]) {
    await Promise.resolve();
    clock += 4000; // slower than the timeout in total, but every step drained something
    socket.bufferedAmount = buffered;
    waits.shift()!.resolve();
  }
  await Promise.resolve();
  socket.bufferedAmount = 3000;
  waits.shift()!.resolve();
  await room;
  assert.equal(closed, undefined);
});
