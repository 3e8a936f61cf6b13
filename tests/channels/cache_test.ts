import assert from "node:assert/strict";
import { ChannelCache } from "../../src/channels/cache.ts";
import type { Channel } from "../../src/channels/store.ts";

function record(name: string, epoch = "e1", tokenHash = "h1"): Channel {
  return { name, tokenHash, createdAt: 1, epoch, private: false, history: null };
}

Deno.test("ChannelCache.guard() marks a read stale when an event about its name arrived meanwhile", async () => {
  const cache = new ChannelCache();
  cache.live = true;
  const gate = Promise.withResolvers<Channel>();
  const reading = cache.guard("news", () => gate.promise);
  cache.invalidate("other");
  gate.resolve(record("news"));
  assert.equal((await reading).stale, false, "another name's event does not matter");

  const again = Promise.withResolvers<Channel>();
  const second = cache.guard("news", () => again.promise);
  cache.invalidate("news");
  again.resolve(record("news"));
  assert.equal((await second).stale, true);

  const third = Promise.withResolvers<Channel>();
  const resetting = cache.guard("news", () => third.promise);
  cache.reset();
  third.resolve(record("news"));
  assert.equal((await resetting).stale, true, "a lost event subscription makes every read stale");
});

Deno.test("ChannelCache remembers only while live, keeps a digest for the same record", () => {
  const cache = new ChannelCache();
  cache.remember(record("news"));
  assert.equal(
    cache.get("news"),
    undefined,
    "nothing is cached before the events subscription is up",
  );
  cache.live = true;
  const digest = new Uint8Array([1, 2, 3]);
  cache.remember(record("news"), digest);
  cache.remember(record("news"));
  assert.deepEqual(cache.get("news")?.verifiedDigest, digest);
  cache.remember(record("news", "e1", "h2"));
  assert.equal(cache.get("news")?.verifiedDigest, undefined, "a new token hash drops the digest");
  cache.reset();
  assert.equal(cache.size, 0);
  assert.equal(cache.live, false);
});

Deno.test("ChannelCache.rotated() keeps the entry only when it already has the new hash", () => {
  const cache = new ChannelCache();
  cache.live = true;
  cache.remember(record("a", "e1", "new"), new Uint8Array([9]));
  cache.remember(record("b", "e1", "old"), new Uint8Array([9]));
  cache.rotated("a", "new");
  cache.rotated("b", "new");
  assert.equal(cache.get("a")?.channel.tokenHash, "new");
  assert.equal(cache.get("b"), undefined);
});
