/**
 * The hub's side of recoveries (PROTOCOL.md "History and recovery", "Hardening (v1.2)"): holds
 * that a revoke or delete ends, subscribes in flight that a revoke or delete ends unsubscribed,
 * the switch from replay to live without gap or duplicate, and late live pushes skipped.
 */
import assert from "node:assert/strict";
import { PushError } from "../../src/errors.ts";
import type { Publication } from "../../src/hub/broker.ts";
import { PushFrames } from "../../src/hub/frames.ts";
import { Hub, type Subscriber } from "../../src/hub/hub.ts";

class Recorder implements Subscriber {
  readonly frames: { message: string; data: Record<string, unknown> }[] = [];
  closed: number | undefined;
  constructor(readonly id: string, readonly compact = false) {}
  close(code: number): void {
    this.closed = code;
  }
  send(frame: string): boolean {
    this.frames.push(JSON.parse(frame));
    return true;
  }
  /** Offsets of the pushes of `channel` received, in order. */
  offsets(channel: string): number[] {
    return this.frames
      .map((f) => f.data.pushMessage as { channel: string; offset: number } | undefined)
      .filter((p) => p?.channel === channel)
      .map((p) => p!.offset);
  }
}

const ID = "0000000a-0000-4000-8000-000000000000";

function stored(offset: number): Publication {
  return { message: `m${offset}`, recipients: [], offset, epoch: "e" };
}

function world(maxHeldChars = 1 << 20) {
  const hub = new Hub({ maxSubscriptionsPerConnection: 10, maxHeldChars });
  const sub = new Recorder(ID);
  hub.add(sub);
  return { hub, sub };
}

Deno.test("a revoke during a replay ends it: held pushes of the channel are dropped, the ack is released", () => {
  const { hub, sub } = world();
  hub.subscribe(ID, "h");
  hub.subscribe(ID, "other");
  hub.hold(ID, "h");
  hub.deliver("h", stored(5));
  hub.deliver("other", { message: "o", recipients: [] });
  assert.equal(hub.replaying(ID, "h"), true);
  assert.equal(hub.revoke(ID, "h"), true);
  assert.equal(hub.replaying(ID, "h"), false, "the replay sees it must stop");
  hub.deliver("h", stored(6));
  const released = hub.release(ID, 4).map((f) => JSON.parse(f));
  assert.deepEqual(released.map((f) => f.message), ["Push Message", "Subscription Revoked"]);
  assert.equal(released[0].data.pushMessage.channel, "other");
  hub.deliver("h", stored(7));
  assert.deepEqual(sub.offsets("h"), [], "no push of the revoked channel, held or live");
});

Deno.test("a delete during a replay ends it the same way", () => {
  const { hub, sub } = world();
  hub.subscribe(ID, "h");
  hub.hold(ID, "h");
  hub.deliver("h", stored(3));
  assert.equal(hub.dropChannel("h"), 1);
  assert.equal(hub.replaying(ID, "h"), false);
  for (const frame of hub.release(ID, 2)) sub.send(frame);
  assert.deepEqual(sub.frames.map((f) => f.message), ["Channel Deleted"]);
});

Deno.test("a subscribe in flight when a revoke or delete is answered ends unsubscribed (403 / 404)", () => {
  const { hub } = world();
  hub.joining(ID, "p");
  assert.equal(hub.revoke(ID, "p"), false, "not subscribed yet: nothing is sent");
  assert.throws(() => hub.subscribe(ID, "p"), (e) => e instanceof PushError && e.status === 403);
  assert.equal(hub.isSubscribed(ID, "p"), false);
  hub.joining(ID, "d");
  assert.equal(hub.dropChannel("d"), 0);
  assert.throws(() => hub.subscribe(ID, "d"), (e) => e instanceof PushError && e.status === 404);
  // A later subscribe (a new grant) is not affected; neither is one that ended without subscribing.
  hub.joining(ID, "p");
  hub.subscribe(ID, "p");
  assert.equal(hub.isSubscribed(ID, "p"), true);
  hub.joining(ID, "q");
  hub.notJoining(ID);
  hub.revoke(ID, "q");
  hub.subscribe(ID, "q");
  assert.equal(hub.isSubscribed(ID, "q"), true);
});

Deno.test("finish(): held live pushes that continue the replay go out at once, in order, without duplicates", () => {
  const { hub, sub } = world();
  hub.subscribe(ID, "h");
  hub.hold(ID, "h");
  // Read at top 10; pushes 9 and 10 also arrived live (pub/sub trailing the read), then 11, 12.
  for (const offset of [9, 10, 11, 12]) hub.deliver("h", stored(offset));
  assert.equal(hub.finish(ID, 10), true);
  assert.deepEqual(sub.offsets("h"), [11, 12]);
  hub.deliver("h", stored(13));
  assert.deepEqual(sub.offsets("h"), [11, 12, 13]);
});

Deno.test("finish(): when live pushes were left out for room, the replay must read on", () => {
  // Room for about two held frames: later pushes of the channel are left out (they are stored).
  const { hub, sub } = world(400);
  hub.subscribe(ID, "h");
  hub.hold(ID, "h");
  for (let offset = 11; offset <= 20; offset++) hub.deliver("h", stored(offset));
  assert.equal(sub.closed, undefined, "left out, not closed as a slow consumer");
  assert.equal(hub.finish(ID, 10), false, "11..20 must come from history");
  assert.deepEqual(sub.offsets("h"), []);
  hub.deliver("h", stored(21));
  assert.equal(hub.finish(ID, 20), true, "the replay read 11..20; 21 was held");
  assert.deepEqual(sub.offsets("h"), [21]);
});

Deno.test("late live pushes at or below the recovered position are skipped once, then live flows", () => {
  // Cluster mode: pushes 8..10 were read from history (top 10) but their pub/sub messages arrive
  // only after the switch to live. Size: 3 late pushes, one recovery.
  const { hub, sub } = world();
  hub.subscribe(ID, "h");
  hub.hold(ID, "h");
  assert.equal(hub.finish(ID, 10), true);
  for (const offset of [8, 9, 10, 11, 12]) hub.deliver("h", stored(offset));
  assert.deepEqual(sub.offsets("h"), [11, 12]);
  // The filter is gone after it was passed: a re-created stream's small offsets flow again.
  hub.deliver("h", stored(1));
  assert.deepEqual(sub.offsets("h"), [11, 12, 1]);
});

Deno.test("pushFrame() builds a replayed frame exactly as live fan-out does", () => {
  const { hub, sub } = world();
  const compact = new Recorder("0000000b-0000-4000-8000-000000000000", true);
  hub.add(compact);
  for (const id of [ID, compact.id]) hub.subscribe(id, "h");
  hub.deliver("h", stored(4));
  const frames = PushFrames.of("h", "m4", { offset: 4, epoch: "e" });
  assert.deepEqual(JSON.parse(hub.pushFrame(ID, frames)), sub.frames.at(-1));
  assert.deepEqual(JSON.parse(hub.pushFrame(compact.id, frames)), compact.frames.at(-1));
});
