/**
 * The single-node backend: channels and history in one SQLite file, pushes delivered in-process,
 * grants and presence in this process's memory.
 */
import { dirname } from "node:path";
import { ChannelCache } from "../channels/cache.ts";
import type {
  Channel,
  ChannelPageQuery,
  ChannelStore,
  InsertResult,
  WriteResult,
} from "../channels/store.ts";
import { ConfigError } from "../config.ts";
import type { Backend, BackendContext } from "../hub/backend.ts";
import { retryWhileBusy } from "./busy_retry.ts";
import { explainDbPathError } from "./db_path.ts";
import { LocalBroker } from "./local_broker.ts";
import { LocalChannelPresence } from "./local_channel_presence.ts";
import { LocalGrants } from "./local_grants.ts";
import { SqliteOutbox } from "./sqlite_outbox.ts";
import { LocalSseRelay } from "./local_sse_relay.ts";
import { SqliteChannelStore } from "./sqlite_store.ts";
import { storeFault, WriteHealth } from "./store_faults.ts";

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

/** Options of {@link startLocalBackend}. */
export interface LocalBackendOptions {
  /** Opens the store (default {@link openSqliteStore}; tests hand in one they can break). */
  readonly open?: (path: string) => SqliteChannelStore;
}

/** Opens `config.dbPath` and builds the single-node backend over it. */
export async function startLocalBackend(
  context: BackendContext,
  options: LocalBackendOptions = {},
): Promise<Backend> {
  const { config, handler, hub, now, logger, reportFault, presenceHooks } = context;
  const sqlite = (options.open ?? openSqliteStore)(config.dbPath);
  try {
    // This process is the file's only writer: every record is cached, and a miss is a 404.
    const cache = new ChannelCache({ records: await sqlite.list() });
    const health = new WriteHealth({ probe: () => sqlite.probeWrite(), logger, reportFault });
    const wrote = (error?: unknown) => health.wrote(error);
    const broker = new LocalBroker(handler, { store: sqlite, now, wrote, reportFault });
    const grants = new LocalGrants({
      hub,
      handler,
      maxGrants: config.maxSubscriptionsPerConnection,
    });
    // While another process holds a lock on the file, channel calls answer 503 within a second
    // (see retryWhileBusy); history writes map the same lock to 503 themselves.
    const channelPresence = new LocalChannelPresence(hub, {
      maxMembers: config.presenceMaxMembers,
      eventsMax: config.presenceEventsMax,
      hooks: presenceHooks,
      logger,
    });
    const store = new LocalChannelStore(retryWhileBusy(sqlite), {
      wrote,
      deleted(name) {
        // As a cluster node handles a delete event: the record goes before subscribers are told.
        cache.invalidate(name);
        grants.forgetChannel(name);
        broker.deleted(name);
      },
    });
    return {
      store,
      cache,
      broker,
      grants,
      presence: grants,
      channelPresence,
      // The outbox's tables live in the same file: an event is as durable as the channel write.
      webhookOutbox: () => Promise.resolve(new SqliteOutbox(sqlite.database, now)),
      sseRelay: new LocalSseRelay(),
      start() {},
      healthy: () => health.healthy,
      metrics: () => "",
      async close() {
        health.close();
        await broker.close();
        await channelPresence.close();
        store.close();
      },
    };
  } catch (error) {
    sqlite.close();
    throw error;
  }
}

/**
 * The SQLite store as the core sees it: a fault answers 503 (never a driver error), a write's
 * outcome tells the node's health, and a delete tells this node's subscribers before it
 * resolves (as the Redis delete script announces a delete to every node, atomically with it).
 */
export class LocalChannelStore implements ChannelStore {
  readonly #store: ChannelStore;
  readonly #wrote: (error?: unknown) => void;
  readonly #deleted: (name: string) => void;

  /** Wraps `store` (the retrying SQLite store); `hooks` hear of writes and deletes. */
  constructor(
    store: ChannelStore,
    hooks: { wrote: (error?: unknown) => void; deleted: (name: string) => void },
  ) {
    this.#store = store;
    this.#wrote = hooks.wrote;
    this.#deleted = hooks.deleted;
  }

  insert(channel: Channel, max: number): Promise<InsertResult> {
    return this.#write(() => this.#store.insert(channel, max));
  }

  get(name: string): Promise<Channel | undefined> {
    return this.#read(() => this.#store.get(name));
  }

  async delete(expected: Channel): Promise<WriteResult> {
    const result = await this.#write(() => this.#store.delete(expected));
    if (result === "done") this.#deleted(expected.name);
    return result;
  }

  rotate(expected: Channel, tokenHash: string): Promise<WriteResult> {
    return this.#write(() => this.#store.rotate(expected, tokenHash));
  }

  names(): Promise<string[]> {
    return this.#read(() => this.#store.names());
  }

  count(): Promise<number> {
    return this.#read(() => this.#store.count());
  }

  page(query: ChannelPageQuery): Promise<Channel[]> {
    return this.#read(() => this.#store.page(query));
  }

  close(): void {
    this.#store.close();
  }

  async #write<T>(write: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await write();
    } catch (error) {
      this.#wrote(error);
      throw storeFault(error) ?? error;
    }
    this.#wrote();
    return result;
  }

  async #read<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      throw storeFault(error) ?? error;
    }
  }
}
