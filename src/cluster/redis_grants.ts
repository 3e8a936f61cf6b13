/**
 * Grants in cluster mode: a HASH per connection UUID (channel → epoch) in Redis, so a grant posted
 * to any node is in force on the node holding the connection before the 200. A grant needs a
 * live connection: its presence key names a node whose heartbeat has not expired.
 */
import { recordReplaced } from "../channels/failures.ts";
import type { Redis } from "ioredis";
import type { Channel } from "../channels/store.ts";
import { PushError } from "../errors.ts";
import type { Grants } from "../hub/grants.ts";
import type { ChannelCache } from "./cache.ts";
import { redis } from "./cluster_service.ts";
import type { Keys } from "./keys.ts";
import { GRANT, REVOKE } from "./scripts.ts";

/** What grants need from their node. */
export interface RedisGrantsDeps {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly cache: ChannelCache;
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
    const answer = await redis(() =>
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
    const answer = await redis(() =>
      REVOKE.run(
        this.#deps.redis,
        [keys.channel(channel.name), keys.grants(uuid)],
        [channel.epoch, channel.tokenHash, channel.name],
      )
    );
    this.#applied(channel, answer);
  }

  async isGranted(uuid: string, channel: Channel): Promise<boolean> {
    const epoch = await redis(() =>
      this.#deps.redis.hget(this.#deps.keys.grants(uuid), channel.name)
    );
    return epoch === channel.epoch;
  }

  #applied(channel: Channel, answer: unknown): void {
    if (answer !== 0 && answer !== -1) return;
    this.#deps.cache.invalidate(channel.name);
    throw recordReplaced(channel.name, answer === 0);
  }
}
