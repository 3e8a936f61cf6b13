import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteChannelStore } from "../../src/local/sqlite_store.ts";
import type { Channel } from "../../src/channels/store.ts";
import { PushError } from "../../src/errors.ts";
import { EVERY_ENTRY, type StoredPush } from "../../src/history/log.ts";
import { SqliteHistory } from "../../src/local/sqlite_history.ts";
import { FullableStore } from "./_full_store.ts";

function historyChannel(name: string, size = 100, ttlSeconds = 60, epoch = `e-${name}`): Channel {
  return {
    name,
    tokenHash: "h",
    createdAt: 0,
    epoch,
    private: false,
    history: { size, ttlSeconds },
  };
}

function world(store = new SqliteChannelStore(":memory:")) {
  let clock = 1_000_000;
  const committed: StoredPush[] = [];
  const history = new SqliteHistory({
    store,
    now: () => clock,
    onCommitted: (push) => committed.push(push),
  });
  return {
    store,
    history,
    committed,
    advance: (ms: number) => clock += ms,
    [Symbol.dispose]() {
      history.close();
      store.close();
    },
  };
}

Deno.test("concurrent appends share one commit, get consecutive offsets and are delivered in order", async () => {
  using w = world();
  const channel = historyChannel("h");
  await w.store.insert(channel, Infinity);
  let commits = 0;
  const append = w.store.appendHistory.bind(w.store);
  w.store.appendHistory = (pushes) => {
    commits++;
    return append(pushes);
  };
  const offsets = await Promise.all([1, 2, 3, 4].map((i) => w.history.append(channel, `m${i}`)));
  assert.deepEqual(offsets, [1, 2, 3, 4]);
  assert.equal(commits, 1, "one transaction (one fsync) for the four pushes");
  assert.deepEqual(w.committed.map((p) => p.offset), [1, 2, 3, 4]);
  const read = w.history.read(channel, 1);
  assert.deepEqual(read.entries.map((e) => e.message), ["m2", "m3", "m4"]);
  assert.equal(read.top, 4);
  assert.equal(read.complete, true);
});

Deno.test("after a restart the top is kept and recovery below the tail reads from disk", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "h.db");
  const channel = historyChannel("h", 10);
  try {
    {
      using w = world(new SqliteChannelStore(path));
      await w.store.insert(channel, Infinity);
      for (let i = 1; i <= 12; i++) await w.history.append(channel, `m${i}`);
    }
    using w = world(new SqliteChannelStore(path));
    const read = w.history.read(channel, 5);
    assert.equal(read.top, 12);
    assert.deepEqual(read.entries.map((e) => e.offset), [6, 7, 8, 9, 10, 11, 12]);
    assert.equal(read.complete, true);
    assert.equal(
      w.history.read(channel, 1).complete,
      false,
      "offsets 2 and 3 were trimmed by size",
    );
    assert.equal(await w.history.append(channel, "next"), 13, "offsets never restart");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("entries past their TTL are not replayed, and a recovery needing them is incomplete", async () => {
  using w = world();
  const channel = historyChannel("h", 100, 1);
  await w.store.insert(channel, Infinity);
  await w.history.append(channel, "old");
  w.advance(1500);
  await w.history.append(channel, "new");
  const read = w.history.read(channel, 0);
  assert.deepEqual(read.entries, [], "an incomplete read hands out nothing");
  assert.equal(read.complete, false);
  const after = w.history.read(channel, 1);
  assert.equal(after.complete, true);
  assert.deepEqual(after.entries.map((e) => e.message), ["new"]);
});

Deno.test("a future offset or no offset is not a recovery", async () => {
  using w = world();
  const channel = historyChannel("h");
  await w.store.insert(channel, Infinity);
  await w.history.append(channel, "a");
  assert.deepEqual(w.history.read(channel, 5), { top: 1, entries: [], complete: false });
  assert.deepEqual(w.history.read(channel, undefined), { top: 1, entries: [], complete: false });
  assert.deepEqual(w.history.read(channel, 1), { top: 1, entries: [], complete: true });
});

Deno.test("a failed commit hands its offsets out again: the stream has no gap", async () => {
  using w = world();
  const channel = historyChannel("h");
  await w.store.insert(channel, Infinity);
  await w.history.append(channel, "a");
  const append = w.store.appendHistory.bind(w.store);
  w.store.appendHistory = () => {
    throw new Error("disk full");
  };
  await assert.rejects(w.history.append(channel, "lost"), /disk full/);
  w.store.appendHistory = append;
  assert.equal(await w.history.append(channel, "b"), 2);
  assert.deepEqual(w.history.read(channel, 0).entries.map((e) => e.message), ["a", "b"]);
});

Deno.test("a push racing a delete is refused and leaves nothing for a re-created channel", async () => {
  using w = world();
  const old = historyChannel("h", 100, 60, "old");
  await w.store.insert(old, Infinity);
  const pending = w.history.append(old, "racing");
  await w.store.delete(old);
  const fresh = historyChannel("h", 100, 60, "fresh");
  await w.store.insert(fresh, Infinity);
  await assert.rejects(pending, (e) => e instanceof PushError && e.status === 404);
  assert.equal(w.committed.length, 0, "nothing was delivered");
  assert.deepEqual(w.history.read(fresh, 0), { top: 0, entries: [], complete: true });
  assert.deepEqual(w.store.readHistory("h", 0, EVERY_ENTRY), []);
});

Deno.test("a delivery that throws is reported and holds no publisher: the batch is answered", async () => {
  const store = new SqliteChannelStore(":memory:");
  const faults: string[] = [];
  let deliveries = 0;
  const history = new SqliteHistory({
    store,
    now: () => 1000,
    onCommitted() {
      if (++deliveries === 1) throw new Error("a subscriber's send blew up");
    },
    reportFault: (job, error) => faults.push(`${job}: ${(error as Error).message}`),
  });
  try {
    const channel = historyChannel("h");
    await store.insert(channel, Infinity);
    const offsets = await Promise.all([1, 2, 3].map((i) => history.append(channel, `m${i}`)));
    assert.deepEqual(offsets, [1, 2, 3], "every publisher is answered, the first included");
    assert.equal(deliveries, 3, "the later pushes of the batch are still delivered");
    assert.deepEqual(faults, ["history delivery: a subscriber's send blew up"]);
    assert.deepEqual(history.read(channel, 0).entries.map((e) => e.message), ["m1", "m2", "m3"]);
  } finally {
    history.close();
    store.close();
  }
});

Deno.test("a failed write is told to the store's health and answered 503", async () => {
  const store = new FullableStore(":memory:");
  const outcomes: string[] = [];
  const history = new SqliteHistory({
    store,
    now: () => 1000,
    onCommitted() {},
    wrote: (error) => outcomes.push(error === undefined ? "ok" : "failed"),
  });
  try {
    const channel = historyChannel("h");
    await store.insert(channel, Infinity);
    store.full = true;
    await assert.rejects(
      history.append(channel, "lost"),
      (e) => e instanceof PushError && e.status === 503,
    );
    store.full = false;
    assert.equal(await history.append(channel, "kept"), 1, "the refused push took no offset");
    assert.deepEqual(outcomes, ["failed", "ok"]);
  } finally {
    history.close();
    store.close();
  }
});
