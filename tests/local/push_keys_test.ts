/**
 * LocalPushKeys (single-node idempotent pushes) over the SQLite store, on an injected clock: a
 * key answers the first push for 300 s on that channel's epoch, a push in flight is waited for,
 * and a push that failed leaves its key unused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { LocalPushKeys } from "../../src/local/push_keys.ts";
import { SqliteChannelStore } from "../../src/local/sqlite_store.ts";
import type { PushOnce, Receipt } from "../../src/hub/broker.ts";
import { PushError } from "../../src/errors.ts";

const channel = (epoch = "e1") => ({
  name: "orders",
  tokenHash: "h",
  createdAt: 1,
  epoch,
  private: false,
  history: { size: 10, ttlSeconds: 60 },
});

Deno.test("LocalPushKeys: a key answers the first push (offset, receipt) for 300 s, per epoch", async () => {
  const store = new SqliteChannelStore(":memory:");
  try {
    let now = 1_000_000;
    const keys = new LocalPushKeys({ store, now: () => now });
    let made = 0;
    const publish = () => Promise.resolve(++made);
    const receipt: Receipt = { delivered: 2, reached: new Set(["u1"]), partial: false };
    const first: PushOnce = { key: "k" };
    assert.equal(await keys.run(channel(), first, receipt, publish), 1);
    assert.equal(first.earlier, undefined);

    const again: PushOnce = { key: "k" };
    now += 299_999;
    assert.equal(await keys.run(channel(), again, undefined, publish), 1);
    assert.deepEqual(again.earlier, {
      offset: 1,
      receipt: { delivered: 2, reached: ["u1"], partial: false },
    });
    assert.equal(made, 1);

    const otherEpoch: PushOnce = { key: "k" };
    assert.equal(await keys.run(channel("e2"), otherEpoch, undefined, publish), 2);
    assert.equal(otherEpoch.earlier, undefined, "a re-created channel has no keys");

    now += 1;
    const expired: PushOnce = { key: "k" };
    assert.equal(await keys.run(channel(), expired, undefined, publish), 3);
    assert.equal(expired.earlier, undefined);
  } finally {
    store.close();
  }
});

Deno.test("LocalPushKeys: a repeat waits for the push in flight; a failed push leaves the key unused", async () => {
  const store = new SqliteChannelStore(":memory:");
  try {
    const keys = new LocalPushKeys({ store, now: () => 5 });
    const gate = Promise.withResolvers<number>();
    const first = keys.run(channel(), { key: "k" }, undefined, () => gate.promise);
    const repeat: PushOnce = { key: "k" };
    const second = keys.run(channel(), repeat, undefined, () => Promise.resolve(99));
    gate.reject(new PushError("unavailable", "store busy"));
    await assert.rejects(first, PushError);
    // The first failed: the repeat is a first push of its own.
    assert.equal(await second, 99);
    assert.equal(repeat.earlier, undefined);

    const gate2 = Promise.withResolvers<number>();
    const third = keys.run(channel(), { key: "j" }, undefined, () => gate2.promise);
    const waiting: PushOnce = { key: "j" };
    const fourth = keys.run(channel(), waiting, undefined, () => Promise.resolve(-1));
    gate2.resolve(7);
    assert.equal(await third, 7);
    assert.equal(await fourth, 7);
    assert.deepEqual(waiting.earlier, { offset: 7 });
  } finally {
    store.close();
  }
});

Deno.test("LocalPushKeys: keys are in the database file, so a restart keeps them", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "keys.db");
  try {
    const before = new SqliteChannelStore(path);
    await new LocalPushKeys({ store: before, now: () => 10 })
      .run(channel(), { key: "k" }, undefined, () => Promise.resolve(4));
    before.close();
    const after = new SqliteChannelStore(path);
    try {
      const repeat: PushOnce = { key: "k" };
      const offset = await new LocalPushKeys({ store: after, now: () => 20 })
        .run(channel(), repeat, undefined, () => Promise.resolve(5));
      assert.equal(offset, 4);
      assert.deepEqual(repeat.earlier, { offset: 4 });
    } finally {
      after.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
