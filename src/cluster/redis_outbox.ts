/**
 * The cluster's webhook outbox: one Redis stream of events for the whole cluster, one delivery
 * in progress (a hash), and a lease so that exactly one node sends. Occupancy is a set of node
 * ids per channel: a node's first subscriber adds it, its last one removes it, and the event is
 * appended by the same Lua script that changes the set — so `channel_occupied` and
 * `channel_vacated` strictly alternate per channel, whichever nodes come and go at once. The
 * outbox has its own Redis connection: webhook traffic never queues behind (or ahead of) pushes.
 */
import type { Redis } from "ioredis";
import { decodeEvent, encodeEvent, type WebhookEvent } from "../webhooks/events.ts";
import type { PendingEvents, StoredDelivery, WebhookOutbox } from "../webhooks/outbox.ts";
import type { Keys } from "./keys.ts";
import { closeRedis, openRedis } from "./redis.ts";

/**
 * Life of the sender's lease unless renewed. The holder renews it every {@link RENEW_MS} on its
 * own timer (an attempt may take 10 s), so a crashed leader's deliveries resume within this long.
 */
export const LEASE_TTL_MS = 5000;
/** How often the holder renews its lease. */
const RENEW_MS = 1000;
/** How often the leader looks for dead nodes whose channels are still marked occupied. */
const REAP_EVERY_MS = 5000;

/** Occupy: only while the channel record exists (a late subscribe to a deleted one says nothing). */
const OCCUPY = `
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
redis.call('SADD', KEYS[4], ARGV[3])
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 and redis.call('SCARD', KEYS[1]) == 1 then
  redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
  return 1
end
return 0`;

const VACATE = `
redis.call('SREM', KEYS[3], ARGV[3])
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 and redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
  return 1
end
return 0`;

const DELETED = `
if redis.call('SCARD', KEYS[1]) > 0 then redis.call('XADD', KEYS[2], '*', 'e', ARGV[1]) end
redis.call('DEL', KEYS[1])
redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
return 1`;

/** Holds or takes the lease; also lists this node among those that may hold occupancy. */
const LEAD = `
redis.call('SADD', KEYS[2], ARGV[1])
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if holder == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;

const FORM = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[2], 'id', ARGV[2], 'body', ARGV[3], 'createdMs', ARGV[4],
  'attempts', 0, 'nextMs', 0, 'events', ARGV[5], 'oldestMs', ARGV[6])
for i = 7, #ARGV do redis.call('XDEL', KEYS[3], ARGV[i]) end
return 1`;

const ATTEMPTED = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'attempts', ARGV[2], 'nextMs', ARGV[3])
return 1`;

const FINISH = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

/**
 * For every listed node whose heartbeat key is gone: its channels lose it as an occupant, and
 * those left with none get their channel_vacated (a crashed node's subscribers are gone).
 */
const REAP = `
local reaped = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. id) == 0 then
    for _, ch in ipairs(redis.call('SMEMBERS', ARGV[2] .. id)) do
      local set = ARGV[3] .. ch
      if redis.call('SREM', set, id) == 1 and redis.call('SCARD', set) == 0 then
        redis.call('XADD', KEYS[2], '*', 'e', cjson.encode({name = 'channel_vacated',
          channel = ch, timeMs = tonumber(ARGV[4])}))
      end
    end
    redis.call('DEL', ARGV[2] .. id)
    redis.call('SREM', KEYS[1], id)
    reaped = reaped + 1
  end
end
return reaped`;

/** Options of {@link RedisOutbox.open}. */
export interface RedisOutboxOptions {
  readonly url: string;
  readonly keys: Keys;
  /** This node's id; its heartbeat key (`keys.node(id)`) says it is alive. */
  readonly nodeId: string;
  readonly now?: () => number;
}

/** {@link WebhookOutbox} in Redis, shared by every node of the cluster. */
export class RedisOutbox implements WebhookOutbox {
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #nodeId: string;
  readonly #now: () => number;
  readonly #stream: string;
  readonly #delivery: string;
  readonly #lease: string;
  readonly #nodes: string;
  #lastReap = 0;
  #renewer: ReturnType<typeof setInterval> | undefined;

  private constructor(redis: Redis, options: RedisOutboxOptions) {
    this.#redis = redis;
    this.#keys = options.keys;
    this.#nodeId = options.nodeId;
    this.#now = options.now ?? Date.now;
    const base = `${options.keys.prefix}webhooks:`;
    this.#stream = `${base}events`;
    this.#delivery = `${base}delivery`;
    this.#lease = `${base}lease`;
    this.#nodes = `${base}nodes`;
    this.#renewer = setInterval(() => {
      if (this.#redis.status === "ready") this.lead().catch(() => {});
    }, RENEW_MS);
  }

  /** Connects its own Redis connection (a failure names REDIS_URL, as the node's does). */
  static async open(options: RedisOutboxOptions): Promise<RedisOutbox> {
    return new RedisOutbox(await openRedis(options.url, "pushserver-webhooks"), options);
  }

  async append(event: WebhookEvent): Promise<void> {
    await this.#redis.xadd(this.#stream, "*", "e", encodeEvent(event));
  }

  async occupy(channel: string, timeMs: number): Promise<void> {
    await this.#redis.eval(
      OCCUPY,
      4,
      this.#occupied(channel),
      this.#stream,
      this.#keys.channel(channel),
      this.#nodeChannels(this.#nodeId),
      this.#nodeId,
      encodeEvent({ name: "channel_occupied", channel, timeMs }),
      channel,
    );
  }

  async vacate(channel: string, timeMs: number): Promise<void> {
    await this.#redis.eval(
      VACATE,
      3,
      this.#occupied(channel),
      this.#stream,
      this.#nodeChannels(this.#nodeId),
      this.#nodeId,
      encodeEvent({ name: "channel_vacated", channel, timeMs }),
      channel,
    );
  }

  async deleted(channel: string, timeMs: number): Promise<void> {
    await this.#redis.eval(
      DELETED,
      2,
      this.#occupied(channel),
      this.#stream,
      encodeEvent({ name: "channel_vacated", channel, timeMs }),
      encodeEvent({ name: "channel_deleted", channel, timeMs }),
    );
  }

  async lead(): Promise<boolean> {
    const held = await this.#redis.eval(
      LEAD,
      2,
      this.#lease,
      this.#nodes,
      this.#nodeId,
      LEASE_TTL_MS,
    ) === 1;
    if (held && this.#now() - this.#lastReap >= REAP_EVERY_MS) {
      this.#lastReap = this.#now();
      await this.#redis.eval(
        REAP,
        2,
        this.#nodes,
        this.#stream,
        this.#keys.nodePrefix,
        this.#nodeChannels(""),
        this.#occupied(""),
        this.#now(),
      );
    }
    return held;
  }

  async current(): Promise<StoredDelivery | undefined> {
    const h = await this.#redis.hgetall(this.#delivery);
    if (h.id === undefined || h.body === undefined) return undefined;
    return {
      id: h.id,
      body: h.body,
      createdMs: Number(h.createdMs),
      attempts: Number(h.attempts),
      nextMs: Number(h.nextMs),
      events: Number(h.events),
      oldestMs: Number(h.oldestMs),
    };
  }

  async pending(): Promise<PendingEvents> {
    const [count, first] = await Promise.all([
      this.#redis.xlen(this.#stream),
      this.#redis.xrange(this.#stream, "-", "+", "COUNT", 1),
    ]);
    const text = first[0]?.[1][1];
    const event = text === undefined ? undefined : decodeEvent(text);
    return { count, oldestMs: event?.timeMs ?? (first[0] === undefined ? undefined : this.#now()) };
  }

  async form(
    max: number,
    timeMs: number,
    build: (events: readonly WebhookEvent[]) => { id: string; body: string },
  ): Promise<StoredDelivery | undefined> {
    const entries = await this.#redis.xrange(this.#stream, "-", "+", "COUNT", max);
    if (entries.length === 0) return undefined;
    const events = entries.map(([, fields]) => decodeEvent(fields[1] ?? ""))
      .filter((e) => e !== undefined);
    const ids = entries.map(([id]) => id);
    if (events.length === 0) {
      await this.#redis.xdel(this.#stream, ...ids);
      return undefined;
    }
    const { id, body } = build(events);
    const oldestMs = Math.min(...events.map((e) => e.timeMs));
    const formed = await this.#redis.eval(
      FORM,
      3,
      this.#lease,
      this.#delivery,
      this.#stream,
      this.#nodeId,
      id,
      body,
      timeMs,
      events.length,
      oldestMs,
      ...ids,
    );
    if (formed !== 1) return undefined;
    return { id, body, createdMs: timeMs, attempts: 0, nextMs: 0, events: events.length, oldestMs };
  }

  async attempted(id: string, attempts: number, nextMs: number): Promise<void> {
    await this.#redis.eval(ATTEMPTED, 1, this.#delivery, id, attempts, nextMs);
  }

  async finish(id: string): Promise<void> {
    await this.#redis.eval(FINISH, 1, this.#delivery, id);
  }

  async close(): Promise<void> {
    clearInterval(this.#renewer);
    if (this.#redis.status === "ready") {
      await this.#redis.eval(RELEASE, 1, this.#lease, this.#nodeId).catch(() => {});
    }
    await closeRedis(this.#redis);
  }

  #occupied(channel: string): string {
    return `${this.#keys.prefix}webhooks:occupied:${channel}`;
  }

  #nodeChannels(nodeId: string): string {
    return `${this.#keys.prefix}webhooks:node-channels:${nodeId}`;
  }
}
