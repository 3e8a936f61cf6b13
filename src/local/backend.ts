/**
 * The single-node backend: channels and history in one SQLite file, pushes delivered in-process,
 * grants and presence in this process's memory.
 */
import { dirname } from "node:path";
import { ChannelCache } from "../channels/cache.ts";
import type { Channel, ChannelStore, InsertResult, WriteResult } from "../channels/store.ts";
import { ConfigError } from "../config.ts";
import type { Backend, BackendContext } from "../hub/backend.ts";
import { retryWhileBusy } from "./busy_retry.ts";
import { explainDbPathError } from "./db_path.ts";
import { LocalBroker } from "./local_broker.ts";
import { LocalGrants } from "./local_grants.ts";
import { SqliteChannelStore } from "./sqlite_store.ts";

/** Opens the SQLite store at `path`, creating its folder; a failure names DB_PATH. */
export function openSqliteStore(path: string): SqliteChannelStore {
  try {
    if (path !== ":memory:" && !path.startsWith("file:")) {
      Deno.mkdirSync(dirname(path), { recursive: true });
    }
    return new SqliteChannelStore(path);
  } catch (error) {
    throw new ConfigError(explainDbPathError(path, error));
  }
}

/** Opens `config.dbPath` and builds the single-node backend over it. */
export async function startLocalBackend(context: BackendContext): Promise<Backend> {
  const { config, handler, hub, now } = context;
  const sqlite = openSqliteStore(config.dbPath);
  try {
    // This process is the file's only writer: every record is cached, and a miss is a 404.
    const cache = new ChannelCache({ records: await sqlite.list() });
    const broker = new LocalBroker(handler, { store: sqlite, now });
    const grants = new LocalGrants({
      hub,
      handler,
      maxGrants: config.maxSubscriptionsPerConnection,
    });
    // While another process holds a lock on the file, channel calls answer 503 within a second
    // (see retryWhileBusy); history writes map the same lock to 503 themselves.
    const store = new AnnouncedDeletes(retryWhileBusy(sqlite), (name) => {
      // As a cluster node handles a delete event: the record goes before subscribers are told.
      cache.invalidate(name);
      grants.forgetChannel(name);
      broker.deleted(name);
    });
    return {
      mode: "single",
      store,
      cache,
      broker,
      grants,
      presence: grants,
      start() {},
      healthy: () => true,
      metrics: () => "",
      async close() {
        await broker.close();
        store.close();
      },
    };
  } catch (error) {
    sqlite.close();
    throw error;
  }
}

/**
 * A store whose deletes tell this node's subscribers before they resolve, as the Redis delete
 * script announces a delete to every node atomically with it.
 */
class AnnouncedDeletes implements ChannelStore {
  readonly #store: ChannelStore;
  readonly #deleted: (name: string) => void;

  constructor(store: ChannelStore, deleted: (name: string) => void) {
    this.#store = store;
    this.#deleted = deleted;
  }

  insert(channel: Channel, max: number): Promise<InsertResult> {
    return this.#store.insert(channel, max);
  }

  get(name: string): Promise<Channel | undefined> {
    return this.#store.get(name);
  }

  async delete(expected: Channel): Promise<WriteResult> {
    const result = await this.#store.delete(expected);
    if (result === "done") this.#deleted(expected.name);
    return result;
  }

  rotate(expected: Channel, tokenHash: string): Promise<WriteResult> {
    return this.#store.rotate(expected, tokenHash);
  }

  names(): Promise<string[]> {
    return this.#store.names();
  }

  count(): Promise<number> {
    return this.#store.count();
  }

  close(): void {
    this.#store.close();
  }
}
