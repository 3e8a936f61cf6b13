/**
 * The admin UI's shared numbers in Redis (see hub/stats_share.ts): per node a list of samples and
 * a hash per table, each with an expiry, and a sorted set of the nodes by their last report. The
 * node's command connection carries them; a Redis failure rejects with 503 `unavailable`.
 */
import type { Redis } from "ioredis";
import type { NodeReport, NodeSeries, StatsShare } from "../hub/stats_share.ts";
import type { Keys } from "./keys.ts";
import { redisCall, unavailable } from "./redis.ts";

/** Shares this node's admin numbers with the other nodes through Redis. */
export class RedisStatsShare implements StatsShare {
  readonly nodeId: string;
  readonly #redis: Redis;
  readonly #keys: Keys;

  /** Writes as node `nodeId` through `redis`, under `keys`. */
  constructor(redis: Redis, keys: Keys, nodeId: string) {
    this.#redis = redis;
    this.#keys = keys;
    this.nodeId = nodeId;
  }

  async write(report: NodeReport): Promise<boolean[]> {
    const k = this.#keys;
    const pipeline = this.#redis.pipeline();
    const samples = k.adminSamples(this.nodeId);
    pipeline.rpush(samples, report.sample);
    pipeline.ltrim(samples, -report.keep, -1);
    pipeline.pexpire(samples, report.keepMs);
    pipeline.zadd(k.adminNodes, report.at, this.nodeId);
    pipeline.zremrangebyscore(k.adminNodes, "-inf", report.at - report.keepMs);
    const expiries: number[] = [];
    for (const write of report.tables) {
      const key = k.adminTable(write.table, this.nodeId);
      if (write.replace) pipeline.del(key);
      if (write.set.length > 0) pipeline.hset(key, ...write.set.flat());
      if (write.remove.length > 0) pipeline.hdel(key, ...write.remove);
      expiries.push(pipeline.length);
      pipeline.pexpire(key, write.ttlMs);
    }
    const replies = await this.#exec(pipeline);
    return expiries.map((i) => replies[i] === 1);
  }

  async nodes(since: number): Promise<NodeSeries[]> {
    const raw = await redisCall(() =>
      this.#redis.zrangebyscore(this.#keys.adminNodes, since, "+inf", "WITHSCORES")
    );
    const nodes: { id: string; seen: number }[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      nodes.push({ id: raw[i]!, seen: Number(raw[i + 1]) });
    }
    if (nodes.length === 0) return [];
    const pipeline = this.#redis.pipeline();
    for (const node of nodes) pipeline.lrange(this.#keys.adminSamples(node.id), 0, -1);
    const replies = await this.#exec(pipeline);
    return nodes.map((node, i) => ({ ...node, series: replies[i] as string[] }));
  }

  async fields(
    ids: readonly string[],
    tables: readonly string[],
    names: readonly string[],
  ): Promise<(string | null)[][][]> {
    if (ids.length === 0 || tables.length === 0 || names.length === 0) {
      return ids.map(() => tables.map(() => names.map(() => null)));
    }
    const pipeline = this.#redis.pipeline();
    for (const id of ids) {
      for (const table of tables) pipeline.hmget(this.#keys.adminTable(table, id), ...names);
    }
    const replies = await this.#exec(pipeline);
    return ids.map((_, n) =>
      tables.map((_, t) => replies[n * tables.length + t] as (string | null)[])
    );
  }

  /** Runs `pipeline`; any failed command rejects (503). */
  async #exec(pipeline: ReturnType<Redis["pipeline"]>): Promise<unknown[]> {
    const replies = (await redisCall(() => pipeline.exec())) ?? [];
    return replies.map(([error, value]) => {
      if (error) throw unavailable(error);
      return value;
    });
  }
}
