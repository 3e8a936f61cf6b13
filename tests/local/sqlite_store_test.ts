import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { SqliteChannelStore } from "../../src/local/sqlite_store.ts";
import { EVERY_ENTRY } from "../../src/history/log.ts";

const channel = (name: string, createdAt = 1) => ({
  name,
  tokenHash: `hash-of-${name}`,
  createdAt,
  epoch: `epoch-${name}`,
  private: false,
  history: null,
});

// The compare-and-set contract every store keeps is tested in tests/channels/store_contract_test.ts.

Deno.test("SqliteChannelStore.list() loads every record, oldest first", async () => {
  const store = new SqliteChannelStore(":memory:");
  try {
    assert.equal(await store.insert(channel("b", 2), Infinity), "ok");
    assert.equal(await store.insert(channel("a", 1), Infinity), "ok");
    assert.deepEqual(await store.list(), [channel("a", 1), channel("b", 2)]);
  } finally {
    store.close();
  }
});

Deno.test("SqliteChannelStore keeps channels across reopen (a restart), in WAL mode with a schema version", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "store.db");
  try {
    const first = new SqliteChannelStore(path);
    await first.insert(channel("durable ✓"), Infinity);
    first.close();
    const second = new SqliteChannelStore(path);
    assert.deepEqual(await second.get("durable ✓"), channel("durable ✓"));
    second.close();
    const raw = new DatabaseSync(path);
    assert.deepEqual({ ...raw.prepare("PRAGMA journal_mode").get() }, { journal_mode: "wal" });
    // Migrations: 4 push_keys, 5 presence, 6 the webhook outbox (sqlite_outbox.ts).
    assert.deepEqual({ ...raw.prepare("SELECT version FROM schema_version").get() }, {
      version: 6,
    });
    raw.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a v1 database file is migrated at start: channels keep working, gain an epoch and v1 options", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "v1.db");
  try {
    const v1 = new DatabaseSync(path);
    v1.exec(`CREATE TABLE schema_version (version INTEGER NOT NULL);
      INSERT INTO schema_version VALUES (1);
      CREATE TABLE channels (name TEXT PRIMARY KEY NOT NULL, token_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO channels VALUES ('old', 'hash-of-old', 5);`);
    v1.close();
    const store = new SqliteChannelStore(path);
    try {
      const old = await store.get("old");
      assert.equal(old?.tokenHash, "hash-of-old");
      assert.equal(old?.private, false);
      assert.equal(old?.history, null);
      assert.match(old!.epoch, /^[0-9a-f]{16}$/);
      assert.equal(store.topOffset("old", old!.epoch), 0);
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("history rows: append raises the top, trims by size, reads above an offset; delete removes them", async () => {
  const store = new SqliteChannelStore(":memory:");
  const history = { size: 3, ttlSeconds: 60 };
  try {
    await store.insert({ ...channel("h"), history }, Infinity);
    const push = (offset: number, createdAt = offset) => ({
      channel: "h",
      epoch: "epoch-h",
      history,
      offset,
      createdAt,
      message: `m${offset}`,
    });
    store.appendHistory([push(1), push(2)]);
    store.appendHistory([push(3), push(4), push(5)]);
    assert.equal(store.topOffset("h", "epoch-h"), 5);
    assert.deepEqual(
      store.readHistory("h", 0, EVERY_ENTRY).map((e) => e.offset),
      [3, 4, 5],
      "size 3 kept",
    );
    assert.deepEqual(store.readHistory("h", 4, EVERY_ENTRY).map((e) => e.message), ["m5"]);
    store.trimHistoryOlderThan("h", 5);
    assert.deepEqual(store.readHistory("h", 0, EVERY_ENTRY).map((e) => e.offset), [5]);
    assert.equal(await store.delete({ ...channel("h"), history }), "done");
    assert.deepEqual(store.readHistory("h", 0, EVERY_ENTRY), []);
  } finally {
    store.close();
  }
});
