/**
 * Grants in cluster mode: a HASH per connection UUID (channel → epoch) in Redis, so a grant posted
 * to any node is in force on the node holding the connection before the 200. A grant needs a
 * live connection: its presence key names a node whose heartbeat has not expired.
 */
import type { Redis } from "ioredis";
import type { ChannelCache } from "../channels/cache.ts";
import { channelNotFound, recordReplaced } from "../channels/failures.ts";
import type { Channel } from "../channels/store.ts";
import { PushError } from "../errors.ts";
import type { BrokerHandler } from "../hub/broker.ts";
import type { Grants } from "../hub/grants.ts";
import type { Hub } from "../hub/hub.ts";
import type { Keys } from "./keys.ts";
import { redisCall } from "./redis.ts";
import type { ClusterEvent, RedisChannelStore } from "./redis_store.ts";
import { GRANT, REVOKE } from "./scripts.ts";

/** Keys per pipeline when checking many grants. */
const BATCH = 500;

/** What grants need from their node. */
export interface RedisGrantsDeps {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly cache: ChannelCache;
  readonly store: RedisChannelStore;
  /** This node's connections (checked again after a reconnect). */
  readonly hub: Hub;
  /** Where a revoke found missing after a reconnect is handed. */
  readonly handler: BrokerHandler;
  /** Most grants one connection may hold. */
  readonly maxGrants: number;
  /** How long a grant key lives unless the node refreshes it with its connection's presence. */
  readonly ttlMs: number;
}

/** Grants shared by every node through Redis. */
export class RedisGrants implements Grants {
  readonly #deps: RedisGrantsDeps;

  /** Creates the grants of one node. */
  constructor(deps: RedisGrantsDeps) {
    this.#deps = deps;
  }

  async grant(uuid: string, channel: Channel): Promise<boolean> {
    const { keys } = this.#deps;
    const answer = await redisCall(() =>
      GRANT.run(
        this.#deps.redis,
        [keys.channel(channel.name), keys.connection(uuid), keys.grants(uuid)],
        [
          channel.epoch,
          channel.tokenHash,
          channel.name,
          keys.nodePrefix,
          this.#deps.maxGrants,
          this.#deps.ttlMs,
        ],
      )
    );
    this.#applied(channel, answer);
    if (answer === -3) {
      throw new PushError(
        "too_many_requests",
        `A connection may hold grants on at most ${this.#deps.maxGrants} channels`,
      );
    }
    return answer === 1;
  }

  async revoke(uuid: string, channel: Channel): Promise<void> {
    const { keys } = this.#deps;
    const event: ClusterEvent = { t: "revoked", n: channel.name, u: uuid };
    const answer = await redisCall(() =>
      REVOKE.run(
        this.#deps.redis,
        [keys.channel(channel.name), keys.grants(uuid)],
        [channel.epoch, channel.tokenHash, channel.name, keys.events, JSON.stringify(event)],
      )
    );
    this.#applied(channel, answer);
  }

  async isGranted(uuid: string, channel: Channel): Promise<boolean> {
    const { cache, keys, redis, store } = this.#deps;
    const { value, stale } = await cache.guard(
      channel.name,
      () => redisCall(() => redis.hget(keys.grants(uuid), channel.name)),
    );
    if (stale) {
      // An event about the channel arrived meanwhile: it may have been deleted.
      const current = await store.get(channel.name);
      if (current?.epoch !== channel.epoch) throw channelNotFound(channel.name);
    }
    return value === channel.epoch;
  }

  /**
   * After a reconnect: unsubscribes local subscribers of private `channels` (name → epoch)
   * whose grant went meanwhile.
   */
  async resync(channels: ReadonlyMap<string, string>): Promise<void> {
    const { hub, handler, keys, redis } = this.#deps;
    if (channels.size === 0) return;
    const pairs: [string, string][] = [];
    for (const subscriber of hub.subscribers()) {
      for (const channel of hub.channelsOf(subscriber.id)) {
        if (channels.has(channel)) pairs.push([subscriber.id, channel]);
      }
    }
    for (let i = 0; i < pairs.length; i += BATCH) {
      const batch = pairs.slice(i, i + BATCH);
      const pipeline = redis.pipeline();
      for (const [id, channel] of batch) pipeline.hget(keys.grants(id), channel);
      const replies = (await pipeline.exec()) ?? [];
      batch.forEach(([id, channel], j) => {
        const [error, epoch] = replies[j] ?? [null, null];
        if (error === null && epoch !== channels.get(channel)) {
          handler.onChannelEvent(channel, { type: "revoked", uuid: id });
        }
      });
    }
  }

  #applied(channel: Channel, answer: unknown): void {
    if (answer !== 0 && answer !== -1) return;
    this.#deps.cache.disputed(channel.name);
    throw recordReplaced(channel.name, answer === 0);
  }
}
