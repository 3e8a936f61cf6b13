/**
 * Presence in Redis (cluster mode): members of presence channels in a HASH + expiry ZSET per
 * channel (see channel_presence_scripts.ts), subscriber counts of every channel as one expiring field
 * per node, joins and leaves published to every node and announced by each to its own
 * subscribers. This node remembers its own members so that its heartbeat can refresh them.
 *
 * Dead nodes: every {@link DEFAULT_CHANNEL_PRESENCE_TIMING}.refreshMs each node refreshes its members'
 * expiry to now + ttlMs and, in the same script, removes and announces `Left` the entries of
 * that channel that expired. A node killed right after its last refresh leaves entries that
 * expire ttlMs later; the next refresh of a surviving node with subscribers on that channel
 * (the only nodes that have someone to tell) comes at most refreshMs after that, and its
 * `Left` frames take one pub/sub hop: 20 s + 5 s + a hop < 30 s (PROTOCOL.md's bound).
 */
import type { Redis } from "ioredis";
import type { Channel } from "../channels/store.ts";
import type { Hub } from "../hub/hub.ts";
import {
  announce,
  type ChannelPresence,
  type ChannelPresenceOptions,
  PRESENCE_LIST_MAX,
  presenceFull,
  type PresenceMember,
  type PresenceSnapshot,
  runHook,
} from "../hub/channel_presence.ts";
import type { Logger } from "../log.ts";
import type { FaultReporter } from "../metrics.ts";
import type { Keys } from "./keys.ts";
import { COUNT, JOIN, LEAVE, READ, REFRESH, TOTAL } from "./channel_presence_scripts.ts";
import { unavailable } from "./redis.ts";

/** How often a node refreshes its members and counts, and how long an entry lives unrefreshed. */
export interface ChannelPresenceTiming {
  readonly refreshMs: number;
  readonly ttlMs: number;
}

/**
 * Production timing (`PRESENCE_TTL_MS` default 20,000, refresh every quarter of it): a dead
 * node's members are `Left` within 20 + 5 s (< 30 s). `PRESENCE_TTL_MS` can only shorten it.
 */
export const DEFAULT_CHANNEL_PRESENCE_TIMING: ChannelPresenceTiming = {
  refreshMs: 5000,
  ttlMs: 20_000,
};

/** Channels per refresh pipeline. */
const BATCH = 500;

/** Options of {@link RedisChannelPresence}. */
export interface RedisChannelPresenceOptions extends ChannelPresenceOptions {
  /** The node's command connection (owned by the node). */
  readonly redis: Redis;
  /** The node's pub/sub connection (owned by the node): joins and leaves arrive on it. */
  readonly sub: Redis;
  readonly keys: Keys;
  readonly hub: Hub;
  readonly nodeId: string;
  readonly logger: Logger;
  /** Where refreshes, leaves and received events report what failed. */
  readonly reportFault: FaultReporter;
  readonly timing?: ChannelPresenceTiming | undefined;
}

interface WireEvent {
  readonly c: "J" | "L";
  readonly n: string;
  readonly u: string;
  readonly i: string;
  readonly m: number;
}

/** Presence of a cluster, for one node. */
export class RedisChannelPresence implements ChannelPresence {
  readonly #o: RedisChannelPresenceOptions;
  readonly #timing: ChannelPresenceTiming;
  /** This node's members: presence channel → UUID → info JSON text. */
  readonly #mine = new Map<string, Map<string, string>>();
  /** Channels whose count changed since the last write (written in the next microtask). */
  #dirty: Set<string> | undefined;
  #members = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #pending = new Set<Promise<unknown>>();
  readonly #onMessage = (channel: string, payload: string) => {
    if (channel === this.#o.keys.presenceEvents) this.#receive(payload);
  };
  #closed = false;

  /** Presence of one node; {@link start} listens and starts the heartbeat. */
  constructor(options: RedisChannelPresenceOptions) {
    this.#o = options;
    this.#timing = options.timing ?? DEFAULT_CHANNEL_PRESENCE_TIMING;
  }

  /** Listens to the joins and leaves of every node, and starts the heartbeat. */
  async start(): Promise<void> {
    this.#o.sub.on("message", this.#onMessage);
    await this.#o.sub.subscribe(this.#o.keys.presenceEvents);
    this.#timer = setInterval(() => this.#refresh(), this.#timing.refreshMs);
  }

  /** After the pub/sub connection came back: listens to joins and leaves again. */
  async listenAgain(): Promise<void> {
    await this.#o.sub.subscribe(this.#o.keys.presenceEvents);
  }

  get localMembers(): number {
    return this.#members;
  }

  async join(channel: string, member: PresenceMember): Promise<number> {
    const k = this.#o.keys;
    let answer: [number, number];
    try {
      answer = await JOIN.run(this.#o.redis, [k.presence(channel), k.presenceExpiry(channel)], [
        member.uuid,
        member.info,
        this.#timing.ttlMs,
        this.#o.maxMembers,
        this.#o.eventsMax,
        channel,
        k.presenceEvents,
      ]) as [number, number];
    } catch (error) {
      throw unavailable(error);
    }
    const [outcome, count] = answer;
    if (outcome === -1) throw presenceFull(channel, this.#o.maxMembers);
    let members = this.#mine.get(channel);
    if (members === undefined) this.#mine.set(channel, members = new Map());
    if (!members.has(member.uuid)) {
      members.set(member.uuid, member.info);
      this.#members++;
    }
    if (outcome === 1) {
      this.#hook(() => this.#o.hooks?.onJoined?.(channel, member.uuid, member.info));
    }
    return count;
  }

  subscribed(channel: string): void {
    this.#countChanged(channel);
  }

  unsubscribed(channel: string, id: string): Promise<void> | void {
    this.#countChanged(channel);
    const members = this.#mine.get(channel);
    if (members === undefined || !members.has(id)) return;
    members.delete(id);
    this.#members--;
    if (members.size === 0) this.#mine.delete(channel);
    const k = this.#o.keys;
    const left = LEAVE.run(this.#o.redis, [k.presence(channel), k.presenceExpiry(channel)], [
      id,
      this.#o.eventsMax,
      channel,
      k.presenceEvents,
    ]).then((info) => {
      if (typeof info === "string") {
        return this.#hook(() => this.#o.hooks?.onLeft?.(channel, id, info));
      }
    }, (error) => this.#o.reportFault("presence leave", error));
    this.#track(left);
    return left;
  }

  dropped(channel: string): void {
    const members = this.#mine.get(channel);
    this.#mine.delete(channel);
    this.#members -= members?.size ?? 0;
    for (const [uuid, info] of members ?? []) {
      this.#hook(() => this.#o.hooks?.onLeft?.(channel, uuid, info));
    }
    // The channel's keys go with it (the first node to get the event deletes them: idempotent).
    const k = this.#o.keys;
    this.#track(
      this.#o.redis.del(k.presence(channel), k.presenceExpiry(channel)).catch(() => {}),
    );
    this.#countChanged(channel);
  }

  async read(channel: Channel): Promise<PresenceSnapshot> {
    const k = this.#o.keys;
    try {
      if (channel.presence !== true) {
        const count = await TOTAL.run(this.#o.redis, [k.counts(channel.name)], []);
        return { count: Number(count), members: [], truncated: false };
      }
      const reply = await READ.run(
        this.#o.redis,
        [k.presence(channel.name), k.presenceExpiry(channel.name)],
        [PRESENCE_LIST_MAX],
      ) as (string | number)[];
      const count = Number(reply[0]);
      const members: PresenceMember[] = [];
      for (let i = 1; i + 1 < reply.length; i += 2) {
        members.push({ uuid: String(reply[i]), info: String(reply[i + 1]) });
      }
      return { count, members, truncated: count > members.length };
    } catch (error) {
      throw unavailable(error);
    }
  }

  /** A join or leave published by some node (its pub/sub payload). */
  #receive(payload: string): void {
    if (this.#closed) return;
    try {
      const event = JSON.parse(payload) as WireEvent;
      announce(this.#o.hub, {
        change: event.c === "J" ? "Joined" : "Left",
        channel: event.n,
        member: { uuid: event.u, info: event.i },
        members: event.m,
      }, this.#o.eventsMax);
    } catch (error) {
      this.#o.reportFault("presence event", error);
    }
  }

  /** After Redis came back (maybe empty): write every member and count again now. */
  resync(): void {
    this.#refresh();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#o.sub.off("message", this.#onMessage);
    await Promise.allSettled([...this.#pending]);
  }

  #countChanged(channel: string): void {
    if (this.#closed) return;
    if (this.#dirty === undefined) {
      this.#dirty = new Set();
      queueMicrotask(() => this.#writeCounts());
    }
    this.#dirty.add(channel);
  }

  /**
   * Writes this node's counts of the changed channels; a cluster total that went 0 → n or
   * n → 0 is an occupied or vacated transition (the scripts run one at a time in Redis).
   */
  #writeCounts(): void {
    const channels = [...this.#dirty ?? []];
    this.#dirty = undefined;
    const k = this.#o.keys;
    for (const channel of channels) {
      const count = this.#o.hub.subscriberCount(channel);
      this.#track(
        COUNT.run(this.#o.redis, [k.counts(channel)], [
          this.#o.nodeId,
          count,
          this.#timing.ttlMs,
        ]).then((reply) => {
          const [before, after] = reply as [number, number];
          if (before === 0 && after > 0) this.#hook(() => this.#o.hooks?.onOccupied?.(channel));
          if (before > 0 && after === 0) this.#hook(() => this.#o.hooks?.onVacated?.(channel));
        }, (error) => this.#o.reportFault("subscriber count", error)),
      );
    }
  }

  /** The heartbeat: refresh this node's members (sweeping expired ones) and counts. */
  #refresh(): void {
    if (this.#closed || this.#o.redis.status !== "ready") return;
    const k = this.#o.keys;
    const channels = [...this.#mine];
    for (let i = 0; i < channels.length; i += BATCH) {
      for (const [channel, members] of channels.slice(i, i + BATCH)) {
        const args: (string | number)[] = [
          this.#timing.ttlMs,
          this.#o.eventsMax,
          channel,
          k.presenceEvents,
        ];
        for (const [uuid, info] of members) args.push(uuid, info);
        this.#track(
          REFRESH.run(this.#o.redis, [k.presence(channel), k.presenceExpiry(channel)], args)
            .then((removed) => {
              const gone = removed as string[];
              for (let j = 0; j + 1 < gone.length; j += 2) {
                const [uuid, info] = [gone[j]!, gone[j + 1]!];
                this.#hook(() => this.#o.hooks?.onLeft?.(channel, uuid, info));
              }
            }, (error) => this.#o.reportFault("presence refresh", error)),
        );
      }
    }
    for (const channel of this.#o.hub.activeChannels()) this.#countChanged(channel);
  }

  #hook(call: () => void | Promise<void>): Promise<void> | void {
    return runHook(this.#o.logger, call);
  }

  #track(work: Promise<unknown>): void {
    this.#pending.add(work);
    work.finally(() => this.#pending.delete(work)).catch(() => {});
  }
}
