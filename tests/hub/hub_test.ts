import assert from "node:assert/strict";
import type { Publication } from "../../src/hub/broker.ts";
import { Hub, type Subscriber } from "../../src/hub/hub.ts";
import { PushError } from "../../src/errors.ts";

/** A subscriber that records frames; `accept = false` simulates a closing or slow socket. */
class FakeSubscriber implements Subscriber {
  readonly frames: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  accept = true;
  closed: number | undefined;
  constructor(readonly id: string, readonly compact = false) {}
  close(code: number): void {
    this.closed = code;
  }
  send(frame: string): boolean {
    if (!this.accept) return false;
    this.raw.push(frame);
    this.frames.push(JSON.parse(frame));
    return true;
  }
  messages(): unknown[] {
    return this.frames.map((f) =>
      (f.data as { pushMessage?: { message: string } }).pushMessage?.message
    );
  }
}

/** A publication of `message` (to `recipients` only, when given). */
function pub(message: string, recipients: string[] = []): Publication {
  return { message, recipients };
}

function world(max = 100) {
  const hub = new Hub({ maxSubscriptionsPerConnection: max });
  const subs = ["a", "b", "c"].map((id) => {
    const s = new FakeSubscriber(`0000000${id}-0000-4000-8000-000000000000`);
    hub.add(s);
    return s;
  }) as [FakeSubscriber, FakeSubscriber, FakeSubscriber];
  return { hub, subs };
}

Deno.test("hub.deliver() with no recipients reaches every subscriber of the channel only", () => {
  const { hub, subs: [a, b, c] } = world();
  hub.subscribe(a.id, "news");
  hub.subscribe(b.id, "sports");
  hub.subscribe(b.id, "news");
  hub.subscribe(c.id, "sports");
  assert.deepEqual(hub.deliver("news", pub("hi")), { delivered: 2, dropped: 0 });
  assert.deepEqual(a.frames[0], {
    messageType: "CLIENT_PUSH",
    code: 200,
    message: "Push Message",
    data: {
      uuid: a.id,
      subscribedChannels: ["news"],
      pushMessage: { channel: "news", message: "hi" },
    },
  });
  assert.deepEqual((b.frames[0]!.data as { subscribedChannels: string[] }).subscribedChannels, [
    "sports",
    "news",
  ]);
  assert.equal(c.frames.length, 0);
});

Deno.test("hub.deliver() with recipients reaches only listed, subscribed UUIDs, once each", () => {
  const { hub, subs: [a, b, c] } = world();
  hub.subscribe(a.id, "news");
  hub.subscribe(b.id, "news");
  hub.subscribe(c.id, "sports");
  const report = hub.deliver(
    "news",
    pub("to-b", [b.id, b.id, c.id, "ffffffff-0000-4000-8000-000000000000"]),
  );
  assert.deepEqual(report, { delivered: 1, dropped: 0 });
  assert.deepEqual(b.messages(), ["to-b"]);
  assert.equal(a.frames.length, 0);
  assert.equal(c.frames.length, 0, "listed but not subscribed to the channel");
});

Deno.test("hub.deliver() to a channel nobody subscribes to reaches no one", () => {
  const { hub, subs: [a] } = world();
  hub.subscribe(a.id, "news");
  assert.deepEqual(hub.deliver("empty", pub("x")), { delivered: 0, dropped: 0 });
  assert.equal(a.frames.length, 0);
});

Deno.test("hub.deliver() counts subscribers that cannot take a frame as dropped", () => {
  const { hub, subs: [a, b] } = world();
  hub.subscribe(a.id, "news");
  hub.subscribe(b.id, "news");
  b.accept = false;
  assert.deepEqual(hub.deliver("news", pub("x")), { delivered: 1, dropped: 1 });
});

Deno.test("the push frame follows subscription changes (the cached head is rebuilt)", () => {
  const { hub, subs: [a] } = world();
  hub.subscribe(a.id, "news");
  hub.deliver("news", pub("1"));
  hub.subscribe(a.id, "sports");
  hub.deliver("news", pub("2"));
  hub.unsubscribe(a.id, "sports");
  hub.deliver("news", pub("3"));
  const lists = a.frames.map((f) =>
    (f.data as { subscribedChannels: string[] }).subscribedChannels
  );
  assert.deepEqual(lists, [["news"], ["news", "sports"], ["news"]]);
});

Deno.test("subscribe and unsubscribe are idempotent and keep subscription order", () => {
  const { hub, subs: [a] } = world();
  assert.deepEqual(hub.subscribe(a.id, "x"), ["x"]);
  assert.deepEqual(hub.subscribe(a.id, "y"), ["x", "y"]);
  assert.deepEqual(hub.subscribe(a.id, "x"), ["x", "y"]);
  assert.equal(hub.subscriptionCount, 2);
  assert.deepEqual(hub.unsubscribe(a.id, "x"), ["y"]);
  assert.deepEqual(hub.unsubscribe(a.id, "x"), ["y"]);
  assert.equal(hub.subscriptionCount, 1);
});

Deno.test("subscribe past maxSubscriptionsPerConnection throws 429", () => {
  const { hub, subs: [a] } = world(2);
  hub.subscribe(a.id, "1");
  hub.subscribe(a.id, "2");
  assert.throws(() => hub.subscribe(a.id, "3"), (e) => e instanceof PushError && e.status === 429);
  assert.deepEqual(hub.subscribe(a.id, "2"), ["1", "2"], "re-subscribing an existing one is fine");
});

Deno.test("subscribe past maxSubscriptions (over all connections) throws 429; room again after an unsubscribe or a disconnect", () => {
  const hub = new Hub({ maxSubscriptionsPerConnection: 10, maxSubscriptions: 3 });
  const [a, b] = ["a", "b"].map((id) => {
    const s = new FakeSubscriber(`0000000${id}-0000-4000-8000-000000000000`);
    hub.add(s);
    return s;
  }) as [FakeSubscriber, FakeSubscriber];
  hub.subscribe(a.id, "1");
  hub.subscribe(a.id, "2");
  hub.subscribe(b.id, "1");
  assert.throws(
    () => hub.subscribe(b.id, "2"),
    (e) =>
      e instanceof PushError && e.status === 429 &&
      e.details === "The server holds its maximum of 3 subscriptions (MAX_SUBSCRIPTIONS)",
  );
  assert.deepEqual(hub.channelsOf(b.id), ["1"], "the refused subscribe changed nothing");
  assert.deepEqual(hub.subscribe(a.id, "2"), ["1", "2"], "re-subscribing an existing one is fine");
  hub.unsubscribe(a.id, "1");
  assert.deepEqual(hub.subscribe(b.id, "2"), ["1", "2"]);
  hub.remove(a.id);
  assert.deepEqual(hub.subscribe(b.id, "3"), ["1", "2", "3"]);
  assert.equal(hub.subscriptionCount, 3);
});

Deno.test("hub.remove() drops every subscription at once", () => {
  const { hub, subs: [a, b] } = world();
  hub.subscribe(a.id, "news");
  hub.subscribe(a.id, "sports");
  hub.subscribe(b.id, "news");
  hub.remove(a.id);
  assert.equal(hub.connectionCount, 2);
  assert.equal(hub.subscriptionCount, 1);
  assert.deepEqual(hub.deliver("news", pub("x", [a.id])), { delivered: 0, dropped: 0 });
  assert.deepEqual(hub.deliver("news", pub("y")), { delivered: 1, dropped: 0 });
  assert.equal(a.frames.length, 0);
});

Deno.test("hub.dropChannel() unsubscribes everyone and sends Channel Deleted with the new list", () => {
  const { hub, subs: [a, b, c] } = world();
  hub.subscribe(a.id, "sports");
  hub.subscribe(a.id, "news");
  hub.subscribe(b.id, "news");
  hub.subscribe(c.id, "sports");
  assert.equal(hub.dropChannel("news"), 2);
  assert.deepEqual(a.frames, [{
    messageType: "CLIENT_ACK",
    code: 200,
    message: "Channel Deleted",
    data: { uuid: a.id, subscribedChannels: ["sports"] },
  }]);
  assert.deepEqual((b.frames[0]!.data as { subscribedChannels: string[] }).subscribedChannels, []);
  assert.equal(c.frames.length, 0);
  assert.equal(hub.subscriptionCount, 2);
  assert.deepEqual(hub.deliver("news", pub("x")), { delivered: 0, dropped: 0 });
});

Deno.test("compact subscribers get one shared push frame and single-channel acks", () => {
  const hub = new Hub({ maxSubscriptionsPerConnection: 10 });
  const v1 = new FakeSubscriber("0000000a-0000-4000-8000-000000000000");
  const c1 = new FakeSubscriber("0000000b-0000-4000-8000-000000000000", true);
  const c2 = new FakeSubscriber("0000000c-0000-4000-8000-000000000000", true);
  for (const s of [v1, c1, c2]) {
    hub.add(s);
    hub.subscribe(s.id, "news");
  }
  hub.deliver("news", { message: "m", recipients: [], offset: 7, epoch: "e" });
  const compact =
    '{"messageType":"CLIENT_PUSH","code":200,"message":"Push Message","data":{"pushMessage":{"channel":"news","message":"m","offset":7,"epoch":"e"}}}';
  assert.equal(c1.raw[0], compact);
  assert.equal(c2.raw[0], compact);
  assert.deepEqual((v1.frames[0]!.data as { pushMessage: unknown }).pushMessage, {
    channel: "news",
    message: "m",
    offset: 7,
    epoch: "e",
  });
  hub.dropChannel("news");
  assert.deepEqual(c1.frames[1], {
    messageType: "CLIENT_ACK",
    code: 200,
    message: "Channel Deleted",
    data: { uuid: c1.id, channel: "news" },
  });
});

Deno.test("revoke unsubscribes with Subscription Revoked; nothing is sent when not subscribed", () => {
  const { hub, subs: [a, b] } = world();
  hub.subscribe(a.id, "news");
  hub.subscribe(a.id, "sports");
  assert.equal(hub.revoke(a.id, "news"), true);
  assert.deepEqual(a.frames[0], {
    messageType: "CLIENT_ACK",
    code: 200,
    message: "Subscription Revoked",
    data: { uuid: a.id, subscribedChannels: ["sports"] },
  });
  assert.equal(hub.revoke(b.id, "news"), false);
  assert.equal(b.frames.length, 0);
  assert.deepEqual(hub.deliver("news", pub("x")), { delivered: 0, dropped: 0 });
});

Deno.test("hold/release: frames wait during a recovery; the recovered channel's replayed offsets are dropped", () => {
  const { hub, subs: [a] } = world();
  hub.subscribe(a.id, "h");
  hub.subscribe(a.id, "other");
  hub.hold(a.id, "h");
  hub.deliver("h", { message: "old", recipients: [], offset: 3, epoch: "e" });
  hub.deliver("other", pub("o"));
  hub.deliver("h", { message: "new", recipients: [], offset: 4, epoch: "e" });
  assert.equal(a.frames.length, 0, "nothing is sent while held");
  const released = hub.release(a.id, 3).map((f) => JSON.parse(f).data.pushMessage.message);
  assert.deepEqual(released, ["o", "new"]);
  hub.deliver("other", pub("live"));
  assert.deepEqual(a.messages(), ["live"]);
});

Deno.test("first subscriber and last unsubscribe drive the node's interest in a channel", () => {
  const events: string[] = [];
  const hub = new Hub({
    maxSubscriptionsPerConnection: 10,
    onChannelActive: (c) => void events.push(`+${c}`),
    onChannelIdle: (c) => events.push(`-${c}`),
  });
  const a = new FakeSubscriber("0000000a-0000-4000-8000-000000000000");
  const b = new FakeSubscriber("0000000b-0000-4000-8000-000000000000");
  hub.add(a);
  hub.add(b);
  hub.subscribe(a.id, "n");
  hub.subscribe(b.id, "n");
  hub.unsubscribe(a.id, "n");
  hub.remove(b.id);
  hub.subscribe(a.id, "m");
  hub.dropChannel("m");
  assert.deepEqual(events, ["+n", "-n", "+m", "-m"]);
});
