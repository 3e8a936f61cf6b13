/**
 * Every ChannelStore implementation, each with the cache its backend keeps, for tests that run
 * the same body against all of them (`for (const kind of STORES) Deno.test(...)`).
 */
import { ChannelCache } from "../../src/channels/cache.ts";
import type { ChannelStore } from "../../src/channels/store.ts";
import { Keys } from "../../src/cluster/keys.ts";
import { openRedis } from "../../src/cluster/redis.ts";
import { RedisChannelStore } from "../../src/cluster/redis_store.ts";
import { loadScripts } from "../../src/cluster/scripts.ts";
import { LocalChannelStore } from "../../src/local/backend.ts";
import { retryWhileBusy } from "../../src/local/busy_retry.ts";
import { RedisServer } from "../cluster/_redis.ts";
import { FullableStore } from "../local/_full_store.ts";

/** A store under test (as its backend hands it to the core) and the cache it would keep. */
export interface StoreWorld extends AsyncDisposable {
  readonly store: ChannelStore;
  /** Makes later store writes fail as the backend's storage fails (disk full, Redis OOM). */
  break(): Promise<void>;
  /** A new cache as the backend builds it (complete for SQLite, live partial for Redis). */
  cache(): Promise<ChannelCache>;
}

/** The store kinds, by name. */
export const STORES = ["sqlite", "redis"] as const;
export type StoreKind = typeof STORES[number];

/** A fresh, empty store of `kind`. */
export async function openStore(kind: StoreKind): Promise<StoreWorld> {
  if (kind === "sqlite") {
    const sqlite = new FullableStore(":memory:");
    const store = new LocalChannelStore(retryWhileBusy(sqlite), { wrote() {}, deleted() {} });
    return {
      store,
      cache: async () => new ChannelCache({ records: await sqlite.list() }),
      break() {
        sqlite.full = true;
        return Promise.resolve();
      },
      [Symbol.asyncDispose]() {
        store.close();
        return Promise.resolve();
      },
    };
  }
  const server = await RedisServer.start();
  const redis = await openRedis(server.url, "store-test");
  await loadScripts(redis);
  const store = new RedisChannelStore(redis, new Keys("test:"));
  return {
    store,
    async break() {
      // Out of memory with nothing to evict: Redis refuses every write, as a full disk does
      // (the connection stays up, so nothing reconnects behind the test's back).
      await server.call("CONFIG", "SET", "maxmemory-policy", "noeviction");
      await server.call("CONFIG", "SET", "maxmemory", "1");
    },
    cache() {
      const cache = new ChannelCache();
      cache.live = true;
      return Promise.resolve(cache);
    },
    async [Symbol.asyncDispose]() {
      // ioredis clears its disconnect timer only once the socket has closed: wait for that.
      const ended = new Promise((resolve) => redis.once("end", resolve));
      redis.disconnect();
      await ended;
      await server[Symbol.asyncDispose]();
    },
  };
}
