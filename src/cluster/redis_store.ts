/**
 * Channel records in Redis: one HASH per channel (its record and stream top) and a ZSET of
 * names by creation time. Writes are Lua scripts that compare the stored epoch and token hash
 * with the record the caller checked, and announce deletes and rotations to every node.
 */
import type { Redis } from "ioredis";
import {
  type Channel,
  type ChannelPageQuery,
  type ChannelStore,
  type InsertResult,
  prefixEnd,
  type WriteResult,
} from "../channels/store.ts";
import type { HistoryEntry } from "../history/log.ts";
import type { Keys } from "./keys.ts";
import { redisCall, unavailable } from "./redis.ts";
import { DELETE, INSERT, ROTATE } from "./scripts.ts";

/** An event on the events channel. */
export type ClusterEvent =
  | { readonly t: "deleted"; readonly n: string; readonly e: string }
  | { readonly t: "rotated"; readonly n: string; readonly h: string }
  | { readonly t: "revoked"; readonly n: string; readonly u: string };

/** Maps a compare-and-set script's answer (`0` gone, `-1` changed) to a {@link WriteResult}. */
export function writeResult(answer: unknown): WriteResult {
  if (answer === 0) return "gone";
  if (answer === -1) return "changed";
  return "done";
}

/** Channel records of a cluster, in Redis. */
export class RedisChannelStore implements ChannelStore {
  readonly #redis: Redis;
  readonly #keys: Keys;

  /** Uses the command connection `redis` (owned by the caller) and the names of `keys`. */
  constructor(redis: Redis, keys: Keys) {
    this.#redis = redis;
    this.#keys = keys;
  }

  /**
   * Adds `channel` unless the name is taken or the cluster holds `max` channels; `top` is the
   * stream top a migrated channel keeps (0 for a new one).
   */
  async insert(channel: Channel, max: number, top = 0): Promise<InsertResult> {
    const k = this.#keys;
    const answer = await redisCall(() =>
      INSERT.run(
        this.#redis,
        [k.channel(channel.name), k.index, k.history(channel.name), k.names],
        [
          max,
          channel.name,
          channel.createdAt,
          channel.tokenHash,
          channel.epoch,
          channel.private ? 1 : 0,
          channel.history?.size ?? "",
          channel.history?.ttlSeconds ?? "",
          top,
          channel.presence === true ? 1 : 0,
        ],
      )
    );
    return answer === 1 ? "ok" : answer === 0 ? "taken" : "full";
  }

  async get(name: string): Promise<Channel | undefined> {
    return decodeChannel(
      name,
      await redisCall(() => this.#redis.hgetall(this.#keys.channel(name))),
    );
  }

  /** The records of `names` (undefined where missing), in one round trip. */
  async getMany(names: readonly string[]): Promise<(Channel | undefined)[]> {
    if (names.length === 0) return [];
    const pipeline = this.#redis.pipeline();
    for (const name of names) pipeline.hgetall(this.#keys.channel(name));
    const replies = (await redisCall(() => pipeline.exec())) ?? [];
    return names.map((name, i) => {
      const [error, fields] = replies[i] ?? [new Error("no reply"), null];
      if (error) throw unavailable(error);
      return decodeChannel(name, fields as Record<string, string>);
    });
  }

  /** Deletes this record of the channel with its history, and tells every node, at once. */
  async delete(expected: Channel): Promise<WriteResult> {
    const k = this.#keys;
    const event: ClusterEvent = { t: "deleted", n: expected.name, e: expected.epoch };
    return writeResult(
      await redisCall(() =>
        DELETE.run(
          this.#redis,
          [k.channel(expected.name), k.index, k.history(expected.name), k.names],
          [expected.epoch, expected.tokenHash, expected.name, k.events, JSON.stringify(event)],
        )
      ),
    );
  }

  /** Gives this record of the channel a new token hash and tells every node, at once. */
  async rotate(expected: Channel, tokenHash: string): Promise<WriteResult> {
    const event: ClusterEvent = { t: "rotated", n: expected.name, h: tokenHash };
    return writeResult(
      await redisCall(() =>
        ROTATE.run(
          this.#redis,
          [this.#keys.channel(expected.name)],
          [expected.epoch, expected.tokenHash, tokenHash, this.#keys.events, JSON.stringify(event)],
        )
      ),
    );
  }

  names(): Promise<string[]> {
    return redisCall(() => this.#redis.zrange(this.#keys.index, 0, -1));
  }

  count(): Promise<number> {
    return redisCall(() => this.#redis.zcard(this.#keys.index));
  }

  async page(query: ChannelPageQuery): Promise<Channel[]> {
    const { prefix, after, limit } = query;
    const end = prefixEnd(prefix);
    const min = after !== undefined && after >= prefix ? `(${after}` : `[${prefix}`;
    const max = end === undefined ? "+" : `(${end}`;
    const channels: Channel[] = [];
    let from = min;
    // A name whose record is gone (written by a node of an older version) is skipped.
    while (channels.length < limit) {
      const want = limit - channels.length;
      const names = await redisCall(() =>
        this.#redis.zrangebylex(this.#keys.names, from, max, "LIMIT", 0, want)
      );
      for (const channel of await this.getMany(names)) {
        if (channel !== undefined) channels.push(channel);
      }
      if (names.length < want) break;
      from = `(${names.at(-1)!}`;
    }
    return channels;
  }

  /**
   * Adds every channel of the creation-time index to the names set that {@link page} reads
   * (channels created by a node that did not keep it yet); run at start, cheap once in step.
   */
  async backfillNames(): Promise<number> {
    const k = this.#keys;
    const [names, index] = await redisCall(() =>
      Promise.all([this.#redis.zcard(k.names), this.#redis.zcard(k.index)])
    );
    if (names >= index) return 0;
    let added = 0;
    for (let start = 0;; start += 1000) {
      const batch = await redisCall(() => this.#redis.zrange(k.index, start, start + 999));
      if (batch.length === 0) return added;
      added += await redisCall(() =>
        this.#redis.zadd(k.names, ...batch.flatMap((name) => [0, name]))
      );
    }
  }

  /**
   * Stores a copied stream (migration): `entries` oldest first, `top` the highest offset ever
   * given; the list expires `ttlSeconds` after the newest entry, as live pushes make it.
   */
  async importHistory(
    channel: Channel,
    top: number,
    entries: readonly HistoryEntry[],
    now: number,
  ): Promise<void> {
    const key = this.#keys.history(channel.name);
    const history = channel.history;
    if (history === null) return;
    const kept = entries.slice(-history.size);
    const multi = this.#redis.multi().del(key).hset(this.#keys.channel(channel.name), "top", top);
    if (kept.length > 0) {
      multi.lpush(key, ...kept.map((e) => encodeEntry(e)));
      const newest = kept.at(-1)!.createdAt;
      multi.pexpireat(key, Math.max(newest + history.ttlSeconds * 1000, now + 1));
    }
    await redisCall(() => multi.exec());
  }

  close(): void {
    // The connections belong to the cluster node, which closes them.
  }
}

/**
 * A stored history entry as the scripts write it: `offset:createdAtMs:message`, with a `j` after
 * the time when the message is the JSON text of a non-string value (v1.2).
 */
export function encodeEntry(entry: HistoryEntry): string {
  return `${entry.offset}:${entry.createdAt}${entry.json === true ? "j" : ""}:${entry.message}`;
}

/** Reads an entry written by {@link encodeEntry} or the publish script. */
export function decodeEntry(raw: string): HistoryEntry {
  const first = raw.indexOf(":");
  const second = raw.indexOf(":", first + 1);
  const offset = Number(raw.slice(0, first));
  const message = raw.slice(second + 1);
  if (raw[second - 1] === "j") {
    return { offset, createdAt: Number(raw.slice(first + 1, second - 1)), message, json: true };
  }
  return { offset, createdAt: Number(raw.slice(first + 1, second)), message };
}

/** A record from its HASH fields (undefined when the hash is empty: no such channel). */
export function decodeChannel(
  name: string,
  fields: Record<string, string> | null,
): Channel | undefined {
  if (fields === null || fields.epoch === undefined || fields.tokenHash === undefined) {
    return undefined;
  }
  const size = fields.historySize;
  const ttl = fields.historyTtlS;
  return {
    name,
    tokenHash: fields.tokenHash,
    createdAt: Number(fields.createdAt),
    epoch: fields.epoch,
    private: fields.private === "1",
    history: size === undefined || ttl === undefined
      ? null
      : { size: Number(size), ttlSeconds: Number(ttl) },
    ...(fields.presence === "1" ? { presence: true } : {}),
  };
}
