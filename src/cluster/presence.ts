/**
 * Which connection UUIDs are live, cluster-wide: a key per connection naming its node (expiring
 * unless refreshed), written when a connection opens, deleted when it closes. `authorize` on any
 * node asks it (the GRANT script) before it grants.
 */
import type { Redis } from "ioredis";
import type { Presence } from "../hub/grants.ts";
import type { Hub } from "../hub/hub.ts";
import type { FaultReporter } from "../metrics.ts";
import type { Keys } from "./keys.ts";

/** Life of a connection's presence and grant keys unless refreshed (the node refreshes them). */
export const PRESENCE_TTL_MS = 10 * 60_000;
/** How often presence keys are refreshed. */
const PRESENCE_REFRESH_MS = 3 * 60_000;
/** Keys per pipeline when refreshing many. */
const BATCH = 500;

/** What presence needs from its node. */
export interface RedisPresenceDeps {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly nodeId: string;
  /** This node's connections. */
  readonly hub: Hub;
  readonly now: () => number;
  readonly reportFault: FaultReporter;
}

/** The presence of one node's connections in Redis. */
export class RedisPresence implements Presence {
  readonly #deps: RedisPresenceDeps;
  /** Connections closed while Redis could not be told. */
  readonly #goneUnsaid = new Set<string>();
  readonly #pending = new Set<Promise<unknown>>();
  #dirty = false;
  #lastRefresh = 0;
  #closed = false;

  /** Creates the presence of one node. */
  constructor(deps: RedisPresenceDeps) {
    this.#deps = deps;
    this.#lastRefresh = deps.now();
  }

  connection(id: string, open: boolean): Promise<void> | void {
    if (this.#closed) return;
    const { redis, keys, nodeId } = this.#deps;
    const key = keys.connection(id);
    const work = open
      ? redis.set(key, nodeId, "PX", PRESENCE_TTL_MS)
      : redis.del(key, keys.grants(id));
    // The next tick writes it again (or deletes it), so this is not yet a fault to report.
    const settled = work.then(() => {}, () => {
      this.#dirty = true;
      if (!open) this.#goneUnsaid.add(id);
    });
    this.#pending.add(settled);
    settled.finally(() => this.#pending.delete(settled));
    // An opened connection is announced (`Connected`) once other nodes can find it.
    if (open) return settled;
  }

  /** Refreshes presence when a write failed, or when the keys' refresh is due. */
  tick(): void {
    if (this.#closed || this.#deps.redis.status !== "ready") return;
    if (!this.#dirty && this.#deps.now() - this.#lastRefresh < PRESENCE_REFRESH_MS) return;
    const refreshing = this.refresh().catch((error) =>
      this.#deps.reportFault("presence refresh", error)
    );
    this.#pending.add(refreshing);
    refreshing.finally(() => this.#pending.delete(refreshing));
  }

  /** Writes every local connection's presence again (Redis may have restarted empty). */
  async refresh(): Promise<void> {
    const { redis, keys, nodeId, hub } = this.#deps;
    this.#dirty = false;
    this.#lastRefresh = this.#deps.now();
    const ids = hub.subscribers().map((s) => s.id);
    const gone = [...this.#goneUnsaid];
    try {
      for (let i = 0; i < ids.length; i += BATCH) {
        const pipeline = redis.pipeline();
        for (const id of ids.slice(i, i + BATCH)) {
          pipeline.set(keys.connection(id), nodeId, "PX", PRESENCE_TTL_MS);
          pipeline.pexpire(keys.grants(id), PRESENCE_TTL_MS);
        }
        await pipeline.exec();
      }
      for (let i = 0; i < gone.length; i += BATCH) {
        const batch = gone.slice(i, i + BATCH);
        await redis.del(...batch.flatMap((id) => [keys.connection(id), keys.grants(id)]));
        for (const id of batch) this.#goneUnsaid.delete(id);
      }
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }

  /** Stops writing presence; resolves once writes in flight have settled. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#pending]);
  }
}
