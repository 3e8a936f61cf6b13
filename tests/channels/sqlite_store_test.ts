import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { SqliteChannelStore } from "../../src/channels/sqlite_store.ts";
import type { Channel } from "../../src/channels/store.ts";

const channel = (name: string, createdAt = 1): Channel => ({
  name,
  tokenHash: `hash-of-${name}`,
  createdAt,
  epoch: `epoch-of-${name}`,
  private: false,
  history: null,
});

Deno.test("SqliteChannelStore inserts, gets, lists and deletes channels", async () => {
  const store = new SqliteChannelStore(":memory:");
  try {
    assert.equal(await store.insert(channel("b", 2)), true);
    assert.equal(await store.insert(channel("a", 1)), true);
    assert.deepEqual(await store.get("a"), channel("a", 1));
    assert.equal(await store.get("missing"), undefined);
    assert.deepEqual((await store.list()).map((c) => c.name), ["a", "b"], "oldest first");
    assert.equal(await store.delete("a", "another-epoch"), false, "only the record of that epoch");
    assert.equal(await store.delete("a", "epoch-of-a"), true);
    assert.equal(await store.delete("a", "epoch-of-a"), false);
    assert.equal(await store.get("a"), undefined);
  } finally {
    store.close();
  }
});

Deno.test("SqliteChannelStore refuses a taken name without overwriting it", async () => {
  const store = new SqliteChannelStore(":memory:");
  try {
    assert.equal(await store.insert(channel("n")), true);
    assert.equal(await store.insert({ ...channel("n", 9), tokenHash: "other" }), false);
    assert.equal((await store.get("n"))?.tokenHash, "hash-of-n");
    assert.equal(await store.insert(channel("N")), true, "names are case-sensitive");
  } finally {
    store.close();
  }
});

Deno.test("SqliteChannelStore keeps channels across reopen (a restart), in WAL mode with a schema version", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "store.db");
  try {
    const first = new SqliteChannelStore(path);
    await first.insert(channel("durable ✓"));
    const options = { private: true, history: { size: 10, ttlSeconds: 60 } };
    await first.insert({ ...channel("options"), ...options });
    first.close();
    const second = new SqliteChannelStore(path);
    assert.deepEqual(await second.get("durable ✓"), channel("durable ✓"));
    assert.deepEqual(await second.get("options"), { ...channel("options"), ...options });
    second.close();
    const raw = new DatabaseSync(path);
    assert.deepEqual({ ...raw.prepare("PRAGMA journal_mode").get() }, { journal_mode: "wal" });
    assert.deepEqual({ ...raw.prepare("SELECT version FROM schema_version").get() }, {
      version: 2,
    });
    raw.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
