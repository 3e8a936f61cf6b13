/** SQLite-backed {@link ChannelStore} and {@link HistoryLog} on Deno's built-in `node:sqlite`. */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { HistoryEntry, HistoryPageSize, StoredPush } from "../history/log.ts";
import { BUSY_WAIT_MS } from "./busy_retry.ts";
import {
  type Channel,
  type ChannelPageQuery,
  type ChannelStore,
  type InsertResult,
  prefixEnd,
  type WriteResult,
} from "../channels/store.ts";

/** Schema migrations, applied in order; `schema_version` records how many have run. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE channels (
     name TEXT PRIMARY KEY NOT NULL,
     token_hash TEXT NOT NULL,
     created_at INTEGER NOT NULL
   ) WITHOUT ROWID`,
  // v1.1: channel options, the epoch (a generation per created channel) and the stream top.
  `ALTER TABLE channels ADD COLUMN epoch TEXT;
   UPDATE channels SET epoch = lower(hex(randomblob(8))) WHERE epoch IS NULL;
   ALTER TABLE channels ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE channels ADD COLUMN history_size INTEGER;
   ALTER TABLE channels ADD COLUMN history_ttl_s INTEGER;
   ALTER TABLE channels ADD COLUMN top_offset INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE history (
     channel TEXT NOT NULL,
     offset INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     message TEXT NOT NULL,
     PRIMARY KEY (channel, offset)
   ) WITHOUT ROWID;`,
  // v1.2: a message may be any JSON value; "json = 1" rows hold its JSON text. Rows written
  // before hold v1 strings, so they stay 0 and replay as the strings they are.
  `ALTER TABLE history ADD COLUMN json INTEGER NOT NULL DEFAULT 0;`,
  // v1.2 (migration 4): idempotent pushes. The answer a key got on a channel's epoch, until
  // `expires_at` (ms); see push_keys.ts.
  `CREATE TABLE push_keys (
     channel TEXT NOT NULL,
     key TEXT NOT NULL,
     epoch TEXT NOT NULL,
     answer TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     PRIMARY KEY (channel, key)
   ) WITHOUT ROWID;
   CREATE INDEX push_keys_expiry ON push_keys (expires_at);`,
  // v1.2 (migration 5): presence channels. Existing channels are not presence channels.
  `ALTER TABLE channels ADD COLUMN presence INTEGER NOT NULL DEFAULT 0;`,
  // v1.2 webhooks (migration 6): the outbox (src/local/sqlite_outbox.ts). Events wait in
  // webhook_events (in seq order) until moved into the one delivery being attempted;
  // webhook_occupied lists the channels with subscribers, so occupied/vacated alternate.
  `CREATE TABLE webhook_events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     time_ms INTEGER NOT NULL,
     event TEXT NOT NULL
   );
   CREATE TABLE webhook_deliveries (
     id TEXT PRIMARY KEY NOT NULL,
     body TEXT NOT NULL,
     created_ms INTEGER NOT NULL,
     attempts INTEGER NOT NULL,
     next_ms INTEGER NOT NULL,
     events INTEGER NOT NULL,
     oldest_ms INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE webhook_occupied (channel TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;`,
];

interface PushKeyStatements {
  readonly find: StatementSync;
  readonly save: StatementSync;
  readonly sweep: StatementSync;
}

interface ChannelRow {
  name: string;
  token_hash: string;
  created_at: number;
  epoch: string;
  private: number;
  history_size: number | null;
  history_ttl_s: number | null;
  presence: number;
}

const COLUMNS =
  "name, token_hash, created_at, epoch, private, history_size, history_ttl_s, presence";

/** How long a statement waits for another process's lock before the store reports "busy". */
const BUSY_TIMEOUT_MS = 5000;

/** Channels in one SQLite file (WAL mode, full sync), or in memory for `:memory:`. */
export class SqliteChannelStore implements ChannelStore {
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #get: StatementSync;
  readonly #delete: StatementSync;
  readonly #deleteHistory: StatementSync;
  readonly #replaceHash: StatementSync;
  readonly #epochOf: StatementSync;
  readonly #list: StatementSync;
  readonly #names: StatementSync;
  readonly #pageWithin: StatementSync;
  readonly #pageFrom: StatementSync;
  readonly #append: StatementSync;
  readonly #raiseTop: StatementSync;
  readonly #trimBelow: StatementSync;
  readonly #trimOlder: StatementSync;
  readonly #readAfter: StatementSync;
  readonly #top: StatementSync;
  readonly #pushKeys: PushKeyStatements;
  /** Channels stored: this process is the file's only writer, so counting once is enough. */
  #count: number;

  /** Opens (creating if needed) the database at `path`; throws when it cannot be opened or written. */
  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    try {
      this.#db.exec("PRAGMA journal_mode = WAL");
      // Writes are acknowledged only once on disk.
      this.#db.exec("PRAGMA synchronous = FULL");
      this.#db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      migrate(this.#db);
      // Serving, a lock held elsewhere blocks the event loop this long per attempt at most;
      // retryWhileBusy() retries on timers (the 5 s above only applies to opening).
      this.#db.exec(`PRAGMA busy_timeout = ${BUSY_WAIT_MS}`);
    } catch (error) {
      this.#db.close();
      throw error;
    }
    const db = this.#db;
    this.#insert = db.prepare(
      `INSERT INTO channels (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING`,
    );
    this.#get = db.prepare(`SELECT ${COLUMNS} FROM channels WHERE name = ?`);
    this.#delete = db.prepare(
      "DELETE FROM channels WHERE name = ? AND epoch = ? AND token_hash = ?",
    );
    this.#deleteHistory = db.prepare("DELETE FROM history WHERE channel = ?");
    this.#replaceHash = db.prepare(
      "UPDATE channels SET token_hash = ? WHERE name = ? AND epoch = ? AND token_hash = ?",
    );
    this.#epochOf = db.prepare("SELECT epoch FROM channels WHERE name = ?");
    this.#list = db.prepare(`SELECT ${COLUMNS} FROM channels ORDER BY created_at, name`);
    this.#names = db.prepare("SELECT name FROM channels ORDER BY created_at, name");
    // A range of the primary key (BINARY collation: UTF-8 byte order): never a scan.
    this.#pageWithin = db.prepare(
      `SELECT ${COLUMNS} FROM channels WHERE name >= ? AND name < ? AND name > ?
       ORDER BY name LIMIT ?`,
    );
    this.#pageFrom = db.prepare(
      `SELECT ${COLUMNS} FROM channels WHERE name >= ? AND name > ? ORDER BY name LIMIT ?`,
    );
    // Only while that record of the channel exists: a push racing a delete leaves no orphan row
    // that a re-created channel of the same name would inherit.
    this.#append = db.prepare(
      `INSERT INTO history (channel, offset, created_at, message, json)
       SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM channels WHERE name = ? AND epoch = ?)`,
    );
    this.#raiseTop = db.prepare(
      "UPDATE channels SET top_offset = max(top_offset, ?) WHERE name = ? AND epoch = ?",
    );
    this.#trimBelow = db.prepare("DELETE FROM history WHERE channel = ? AND offset <= ?");
    this.#trimOlder = db.prepare("DELETE FROM history WHERE channel = ? AND created_at < ?");
    this.#readAfter = db.prepare(
      "SELECT offset, created_at, message, json FROM history WHERE channel = ? AND offset > ? ORDER BY offset LIMIT ?",
    );
    this.#top = db.prepare("SELECT top_offset FROM channels WHERE name = ? AND epoch = ?");
    this.#count = Number(
      (db.prepare("SELECT count(*) AS n FROM channels").get() as { n: number }).n,
    );
    this.#pushKeys = {
      find: db.prepare(
        "SELECT answer FROM push_keys WHERE channel = ? AND key = ? AND epoch = ? AND expires_at > ?",
      ),
      save: db.prepare(
        `INSERT INTO push_keys (channel, key, epoch, answer, expires_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (channel, key) DO UPDATE SET epoch = excluded.epoch,
           answer = excluded.answer, expires_at = excluded.expires_at`,
      ),
      sweep: db.prepare("DELETE FROM push_keys WHERE expires_at <= ?"),
    };
  }

  /**
   * The answer stored for an idempotent push's `key` on this epoch of `channel`, unless it
   * expired by `now` (v1.2; see local/push_keys.ts).
   */
  findPushKey(channel: string, key: string, epoch: string, now: number): string | undefined {
    const row = this.#pushKeys.find.get(channel, key, epoch, now) as
      | { answer: string }
      | undefined;
    return row?.answer;
  }

  /** Stores the answer of an idempotent push until `expiresAt` (replacing an expired one). */
  savePushKey(
    channel: string,
    key: string,
    epoch: string,
    answer: string,
    expiresAt: number,
  ): void {
    this.#pushKeys.save.run(channel, key, epoch, answer, expiresAt);
  }

  /** Deletes the push keys that expired by `now`. */
  sweepPushKeys(now: number): void {
    this.#pushKeys.sweep.run(now);
  }

  insert(channel: Channel, max: number): Promise<InsertResult> {
    if (this.#get.get(channel.name) !== undefined) return Promise.resolve("taken");
    if (this.#count >= max) return Promise.resolve("full");
    const result = this.#insert.run(
      channel.name,
      channel.tokenHash,
      channel.createdAt,
      channel.epoch,
      channel.private ? 1 : 0,
      channel.history?.size ?? null,
      channel.history?.ttlSeconds ?? null,
      channel.presence === true ? 1 : 0,
    );
    if (Number(result.changes) !== 1) return Promise.resolve("taken");
    this.#count++;
    return Promise.resolve("ok");
  }

  get(name: string): Promise<Channel | undefined> {
    const row = this.#get.get(name) as ChannelRow | undefined;
    return Promise.resolve(row === undefined ? undefined : toChannel(row));
  }

  delete(expected: Channel): Promise<WriteResult> {
    return Promise.resolve(this.#transaction(() => {
      const { name, epoch, tokenHash } = expected;
      if (Number(this.#delete.run(name, epoch, tokenHash).changes) !== 1) return this.#missed(name);
      this.#deleteHistory.run(name);
      this.#count--;
      return "done";
    }));
  }

  rotate(expected: Channel, tokenHash: string): Promise<WriteResult> {
    const { name, epoch } = expected;
    const result = this.#replaceHash.run(tokenHash, name, epoch, expected.tokenHash);
    return Promise.resolve(Number(result.changes) === 1 ? "done" : this.#missed(name));
  }

  names(): Promise<string[]> {
    return Promise.resolve((this.#names.all() as unknown as { name: string }[]).map((r) => r.name));
  }

  count(): Promise<number> {
    return Promise.resolve(this.#count);
  }

  /** Every channel, oldest first (a single node loads them all at start). */
  list(): Promise<Channel[]> {
    return Promise.resolve((this.#list.all() as unknown as ChannelRow[]).map(toChannel));
  }

  page(query: ChannelPageQuery): Promise<Channel[]> {
    const { prefix, limit } = query;
    const after = query.after ?? "";
    const end = prefixEnd(prefix);
    const rows = end === undefined
      ? this.#pageFrom.all(prefix, after, limit)
      : this.#pageWithin.all(prefix, end, after, limit);
    return Promise.resolve((rows as unknown as ChannelRow[]).map(toChannel));
  }

  /**
   * Stores pushes in one transaction (one fsync for the batch), raising each channel's top
   * offset with them and trimming what retention no longer keeps. Returns, per push, whether
   * it was stored (`false`: its channel was deleted meanwhile).
   */
  appendHistory(pushes: readonly StoredPush[]): boolean[] {
    return this.#transaction(() => {
      // The top and the trim by size depend only on a channel's highest stored offset: once
      // per channel and batch is the same final state as once per push, for a third the work.
      const highest = new Map<string, StoredPush>();
      const stored = pushes.map((push) => {
        const { channel, epoch, offset } = push;
        const stored = this.#append.run(
          channel,
          offset,
          push.createdAt,
          push.message,
          push.json === true ? 1 : 0,
          channel,
          epoch,
        );
        if (Number(stored.changes) !== 1) return false;
        if ((highest.get(channel)?.offset ?? -1) < offset) highest.set(channel, push);
        return true;
      });
      for (const [channel, { epoch, offset, history }] of highest) {
        this.#raiseTop.run(offset, channel, epoch);
        this.#trimBelow.run(channel, offset - history.size);
      }
      return stored;
    });
  }

  /** Deletes a channel's entries older than `cutoff` (ms since the epoch). */
  trimHistoryOlderThan(channel: string, cutoff: number): void {
    this.#trimOlder.run(channel, cutoff);
  }

  /**
   * One page of the stored entries of `channel` above `offset`, oldest first: at most
   * `page.limit` of them, and no more message characters than `page.maxBytes` (but at least one
   * entry). Rows are stepped one by one, so a page never reads more than it returns (+1).
   */
  readHistory(channel: string, offset: number, page: HistoryPageSize): HistoryEntry[] {
    const entries: HistoryEntry[] = [];
    let bytes = 0;
    for (const row of this.#readAfter.iterate(channel, offset, page.limit)) {
      const { offset, created_at, message, json } = row as unknown as {
        offset: number;
        created_at: number;
        message: string;
        json: number;
      };
      if (entries.length > 0 && bytes + message.length > page.maxBytes) break;
      const entry = { offset: Number(offset), createdAt: Number(created_at), message };
      entries.push(Number(json) === 1 ? { ...entry, json: true } : entry);
      bytes += message.length;
    }
    return entries;
  }

  /** The highest offset ever stored for this channel record (0 before the first push). */
  topOffset(channel: string, epoch: string): number {
    const row = this.#top.get(channel, epoch) as { top_offset: number } | undefined;
    return row === undefined ? 0 : Number(row.top_offset);
  }

  /**
   * A write that needs a page and leaves nothing behind, committed like any write: throws while
   * the disk is full or the file cannot be written.
   */
  probeWrite(): void {
    this.#transaction(() => {
      this.#db.exec("CREATE TABLE write_probe (x)");
      this.#db.exec("DROP TABLE write_probe");
    });
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** The open database, for tables other modules own (the webhook outbox). */
  get database(): DatabaseSync {
    return this.#db;
  }

  /** Why a compare-and-set on `name` did not apply. */
  #missed(name: string): WriteResult {
    return this.#epochOf.get(name) === undefined ? "gone" : "changed";
  }

  #transaction<T>(work: () => T): T {
    return immediateTransaction(this.#db, work);
  }
}

/**
 * Runs `work` in one `BEGIN IMMEDIATE` transaction of `db` (the write lock taken up front, so a
 * busy file fails at BEGIN, not halfway), committed when it returns, rolled back when it throws.
 */
export function immediateTransaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = work();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

function toChannel(row: ChannelRow): Channel {
  return {
    name: row.name,
    tokenHash: row.token_hash,
    createdAt: Number(row.created_at),
    epoch: row.epoch,
    private: row.private === 1,
    history: row.history_size === null || row.history_ttl_s === null
      ? null
      : { size: Number(row.history_size), ttlSeconds: Number(row.history_ttl_s) },
    ...(Number(row.presence) === 1 ? { presence: true } : {}),
  };
}

function migrate(db: DatabaseSync): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = db.prepare("SELECT version FROM schema_version").get() as
    | { version: number }
    | undefined;
  let version = row === undefined ? 0 : Number(row.version);
  if (row === undefined) db.exec("INSERT INTO schema_version (version) VALUES (0)");
  const setVersion = db.prepare("UPDATE schema_version SET version = ?");
  for (; version < MIGRATIONS.length; version++) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(MIGRATIONS[version]!);
      setVersion.run(version + 1);
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  }
}
