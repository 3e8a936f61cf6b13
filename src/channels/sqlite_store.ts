/** SQLite-backed {@link ChannelStore} on Deno's built-in `node:sqlite`. */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { BUSY_WAIT_MS } from "./busy_retry.ts";
import type { Channel, ChannelStore } from "./store.ts";

/** Schema migrations, applied in order; `schema_version` records how many have run. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE channels (
     name TEXT PRIMARY KEY NOT NULL,
     token_hash TEXT NOT NULL,
     created_at INTEGER NOT NULL
   ) WITHOUT ROWID`,
];

interface ChannelRow {
  name: string;
  token_hash: string;
  created_at: number;
}

/** Channels in one SQLite file (WAL mode, full sync), or in memory for `:memory:`. */
export class SqliteChannelStore implements ChannelStore {
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #get: StatementSync;
  readonly #delete: StatementSync;
  readonly #list: StatementSync;

  /** Opens (creating if needed) the database at `path`; throws when it cannot be opened or written. */
  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    try {
      this.#db.exec("PRAGMA journal_mode = WAL");
      // Create and delete are acknowledged only once on disk.
      this.#db.exec("PRAGMA synchronous = FULL");
      this.#db.exec("PRAGMA busy_timeout = 5000");
      migrate(this.#db);
      // Serving, a lock held elsewhere blocks the event loop this long per attempt at most;
      // retryWhileBusy() retries on timers (the 5 s above only applies to opening).
      this.#db.exec(`PRAGMA busy_timeout = ${BUSY_WAIT_MS}`);
    } catch (error) {
      this.#db.close();
      throw error;
    }
    this.#insert = this.#db.prepare(
      "INSERT INTO channels (name, token_hash, created_at) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING",
    );
    this.#get = this.#db.prepare(
      "SELECT name, token_hash, created_at FROM channels WHERE name = ?",
    );
    this.#delete = this.#db.prepare("DELETE FROM channels WHERE name = ?");
    this.#list = this.#db.prepare(
      "SELECT name, token_hash, created_at FROM channels ORDER BY created_at, name",
    );
  }

  insert(channel: Channel): Promise<boolean> {
    const result = this.#insert.run(channel.name, channel.tokenHash, channel.createdAt);
    return Promise.resolve(Number(result.changes) === 1);
  }

  get(name: string): Promise<Channel | undefined> {
    const row = this.#get.get(name) as ChannelRow | undefined;
    return Promise.resolve(row === undefined ? undefined : toChannel(row));
  }

  delete(name: string): Promise<boolean> {
    return Promise.resolve(Number(this.#delete.run(name).changes) === 1);
  }

  list(): Promise<Channel[]> {
    return Promise.resolve((this.#list.all() as unknown as ChannelRow[]).map(toChannel));
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

function toChannel(row: ChannelRow): Channel {
  return { name: row.name, tokenHash: row.token_hash, createdAt: Number(row.created_at) };
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
