/**
 * ChannelStore.page(): channels by literal prefix in name order, each exactly once across pages,
 * on both stores as their backends hand them to the core (SQLite index range; Redis ZRANGE BYLEX
 * over the names set).
 */
import assert from "node:assert/strict";
import type { Channel, ChannelStore } from "../../src/channels/store.ts";
import { prefixEnd } from "../../src/channels/store.ts";
import { RedisChannelStore } from "../../src/cluster/redis_store.ts";
import { Keys } from "../../src/cluster/keys.ts";
import { closeRedis, openRedis } from "../../src/cluster/redis.ts";
import { loadScripts } from "../../src/cluster/scripts.ts";
import { RedisServer } from "../cluster/_redis.ts";
import { openStore, STORES } from "../channels/_stores.ts";

const NAMES = [
  "a",
  "a/b",
  "ab",
  "abc",
  "abd",
  "ab\u{10ffff}",
  "ab\u{10ffff}x",
  "aB",
  "ac",
  "b",
  "news:1",
  "news:2",
  "news:10",
  "news%",
  "news_",
  "news*",
  "newt",
  "\u00e9t\u00e9",
  "\u{1f600}",
  "\uffff",
];

function record(name: string): Channel {
  return {
    name,
    tokenHash: "h",
    createdAt: 1,
    epoch: "e",
    private: false,
    history: null,
  };
}

/** Code point order, as UTF-8 bytes sort. */
function byCodePoint(a: string, b: string): number {
  const x = [...a].map((c) => c.codePointAt(0)!);
  const y = [...b].map((c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

async function allPages(store: ChannelStore, prefix: string, limit: number): Promise<string[]> {
  const seen: string[] = [];
  let after: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await store.page({ prefix, after, limit });
    assert.ok(page.length <= limit);
    seen.push(...page.map((c) => c.name));
    if (page.length < limit) return seen;
    after = page.at(-1)!.name;
  }
  throw new Error("too many pages");
}

async function checkStore(store: ChannelStore): Promise<void> {
  for (const name of NAMES) assert.equal(await store.insert(record(name), 1000), "ok");
  for (const prefix of ["", "a", "ab", "ab\u{10ffff}", "news", "news%", "news_", "A", "zzz"]) {
    const expected = NAMES.filter((n) => n.startsWith(prefix)).sort(byCodePoint);
    for (const limit of [1, 2, 3, 50]) {
      assert.deepEqual(await allPages(store, prefix, limit), expected, `${prefix} / ${limit}`);
    }
  }
  assert.equal(await store.delete(record("abc")), "done");
  assert.deepEqual(await allPages(store, "abc", 5), []);
  assert.deepEqual(
    (await store.page({ prefix: "ab", limit: 10 })).map((c) => c.name),
    ["ab", "abd", "ab\u{10ffff}", "ab\u{10ffff}x"],
  );
}

Deno.test("prefixEnd() is the least string above every name with the prefix", () => {
  assert.equal(prefixEnd(""), undefined);
  assert.equal(prefixEnd("ab"), "ac");
  assert.equal(prefixEnd("a\u{10ffff}"), "b");
  assert.equal(prefixEnd("\u{10ffff}"), undefined);
  assert.equal(prefixEnd("a\ud7ff"), "a\ue000");
});

for (const kind of STORES) {
  Deno.test(`[${kind}] store.page() lists by literal prefix in order, each name once`, async () => {
    await using world = await openStore(kind);
    await checkStore(world.store);
  });
}

Deno.test("[cluster] RedisChannelStore.backfillNames() adds channels created before the names set", async () => {
  await using server = await RedisServer.start();
  const redis = await openRedis(server.url, "test");
  try {
    await loadScripts(redis);
    const keys = new Keys("t:");
    const store = new RedisChannelStore(redis, keys);
    for (let i = 0; i < 2500; i++) await store.insert(record(`c${i}`), 10_000);
    // As a node of the previous version left it: the names set does not exist.
    await redis.del(keys.names);
    assert.deepEqual(await store.page({ prefix: "c1", limit: 3 }), []);
    assert.equal(await store.backfillNames(), 2500);
    assert.equal(await store.backfillNames(), 0);
    assert.deepEqual(
      (await store.page({ prefix: "c1", limit: 3 })).map((c) => c.name),
      ["c1", "c10", "c100"],
    );
  } finally {
    await closeRedis(redis);
  }
});
