/**
 * One pushserver node in cluster mode: its two Redis connections (commands, and pub/sub), the
 * events every node listens to, its per-channel interest, the presence of its connections, its
 * health, and how it heals after Redis comes back (even empty).
 */
import { channelNotFound } from "../channels/failures.ts";
import type { Redis } from "ioredis";
import type { ChannelService } from "../channels/service.ts";
import type { Channel } from "../channels/store.ts";
import type { TokenGate } from "../channels/token_gate.ts";
import type { TokenHasher } from "../channels/tokens.ts";
import type { Config } from "../config.ts";
import type { Broker, BrokerHandler } from "../hub/broker.ts";
import type { Grants } from "../hub/grants.ts";
import type { Hub } from "../hub/hub.ts";
import type { ChannelLookup } from "../hub/lookup.ts";
import type { Logger } from "../log.ts";
import { ChannelCache } from "./cache.ts";
import { createClusterChannelService, redis } from "./cluster_service.ts";
import { Keys } from "./keys.ts";
import { closeRedis, openRedis, unavailable } from "./redis.ts";
import { decodePush, RedisBroker } from "./redis_broker.ts";
import type { ExtendedPublication } from "./publish_ex.ts";
import { type ReceiptReply, ReceiptWaiter } from "./receipts.ts";
import { RedisGrants } from "./redis_grants.ts";
import { type ClusterEvent, RedisChannelStore } from "./redis_store.ts";
import { loadScripts } from "./scripts.ts";
import type { PresenceOptions } from "../hub/presence.ts";
import { type PresenceTiming, RedisPresence } from "./redis_presence.ts";

/** How often the node beats, checks Redis, and heals when needed. */
const TICK_MS = 1000;
/** A node whose heartbeat key is older than this is dead: its connections are unknown. */
const HEARTBEAT_TTL_MS = 4000;
/** Life of a connection's presence and grant keys unless refreshed (the node refreshes them). */
const PRESENCE_TTL_MS = 10 * 60_000;
/** How often presence keys are refreshed. */
const PRESENCE_REFRESH_MS = 3 * 60_000;
/** How often the cluster's channel count is read. */
const COUNT_REFRESH_MS = 5000;
/** Keys per pipeline when refreshing or checking many. */
const BATCH = 500;

/** Options of {@link ClusterNode.start}. */
export interface ClusterNodeOptions {
  readonly logger: Logger;
  readonly now: () => number;
  readonly nodeId?: string;
}

/** A started node. Build the service, broker and grants from it, then hand it the hub. */
export class ClusterNode {
  readonly keys: Keys;
  readonly store: RedisChannelStore;
  readonly cache = new ChannelCache();
  readonly nodeId: string;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #config: Config;
  readonly #logger: Logger;
  readonly #now: () => number;
  /** Channels whose pushes this node receives (it has local subscribers). */
  readonly #interest = new Set<string>();
  /** The epoch local subscribers of a channel subscribed to (a delete of another is not theirs). */
  readonly #interestEpochs = new Map<string, string>();
  /** Epochs of recent lookups, handed to the interest when the channel becomes active. */
  readonly #lookedUp = new Map<string, string>();
  /** Connections closed while Redis could not be told. */
  readonly #goneUnsaid = new Set<string>();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #receipts = new ReceiptWaiter();
  #handler: BrokerHandler | undefined;
  #broker: Broker | undefined;
  #hub: Hub | undefined;
  #presence: RedisPresence | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #heartbeatOk = true;
  #needsHeal = false;
  #healing: Promise<void> | undefined;
  #presenceDirty = false;
  #lastPresenceRefresh = 0;
  #lastCount = 0;
  #count = 0;
  #closed = false;
  readonly #stats = { disconnects: 0, received: 0, published: 0, heals: 0 };

  private constructor(
    cmd: Redis,
    sub: Redis,
    config: Config,
    options: ClusterNodeOptions,
  ) {
    this.#cmd = cmd;
    this.#sub = sub;
    this.#config = config;
    this.#logger = options.logger;
    this.#now = options.now;
    this.keys = new Keys(config.redisPrefix);
    this.store = new RedisChannelStore(cmd, this.keys);
    this.nodeId = options.nodeId ?? crypto.randomUUID();
  }

  /**
   * Connects to `config.redisUrl`; when Redis does not answer, throws a ConfigError naming
   * REDIS_URL. Listens to the events channel before resolving.
   */
  static async start(config: Config, options: ClusterNodeOptions): Promise<ClusterNode> {
    const url = config.redisUrl!;
    const cmd = await openRedis(url, "pushserver-cmd");
    let sub: Redis;
    try {
      sub = await openRedis(url, "pushserver-sub");
    } catch (error) {
      await closeRedis(cmd);
      throw error;
    }
    const node = new ClusterNode(cmd, sub, config, options);
    try {
      await node.#begin();
    } catch (error) {
      await Promise.all([closeRedis(cmd), closeRedis(sub)]);
      throw error;
    }
    return node;
  }

  async #begin(): Promise<void> {
    this.#sub.on(
      "message",
      (channel: string, payload: string) => this.#onMessage(channel, payload),
    );
    this.#sub.on("close", () => this.#onSubLost());
    this.#sub.on("ready", () => this.#maybeHeal());
    this.#cmd.on("ready", () => this.#maybeHeal());
    await this.#sub.subscribe(
      this.keys.events,
      this.keys.receipts(this.nodeId),
      this.keys.presenceEvents,
    );
    this.cache.live = true;
    await loadScripts(this.#cmd);
    await this.#beat();
    this.#count = await this.store.count();
    this.#lastCount = this.#now();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  /** The channel service over this node's cache and Redis. */
  service(hasher: TokenHasher, tokenGate: TokenGate): ChannelService {
    return createClusterChannelService({
      store: this.store,
      cache: this.cache,
      hasher,
      tokenGate,
      maxChannels: this.#config.maxChannels,
      now: this.#now,
      count: () => this.#count,
      onCountChanged: () => this.#refreshCount(),
    });
  }

  /** The broker that hands this node's received pushes and events to `handler`. */
  broker(handler: BrokerHandler): Broker {
    this.#handler = handler;
    return this.#broker = new RedisBroker({
      redis: this.#cmd,
      keys: this.keys,
      cache: this.cache,
      now: this.#now,
      listen: (channel) => this.#listen(channel),
      unlisten: (channel) => this.#unlisten(channel),
      onPublished: () => this.#stats.published++,
      receipts: { waiter: this.#receipts, nodeId: this.nodeId },
    });
  }

  /** Grants in Redis; `hub` is this node's (its connections' presence is kept in Redis). */
  grants(hub: Hub): Grants {
    this.#hub = hub;
    return new RedisGrants({
      redis: this.#cmd,
      keys: this.keys,
      cache: this.cache,
      maxGrants: this.#config.maxSubscriptionsPerConnection,
      ttlMs: PRESENCE_TTL_MS,
    });
  }

  /** Presence of presence channels and subscriber counts, in Redis (see redis_presence.ts). */
  presence(hub: Hub, options: PresenceOptions, timing?: PresenceTiming): RedisPresence {
    return this.#presence = new RedisPresence({
      ...options,
      redis: this.#cmd,
      keys: this.keys,
      hub,
      nodeId: this.nodeId,
      logger: this.#logger,
      timing,
    });
  }

  /** What a subscriber connection asks about channels, answered through the cache and Redis. */
  readonly lookup: ChannelLookup = {
    lookup: (name) => {
      if (this.#sub.status !== "ready") throw unavailable(undefined);
      const cached = this.cache.get(name)?.channel;
      if (cached !== undefined) {
        this.#noteLookup(cached);
        return cached;
      }
      return this.#read(name);
    },
    isGranted: async (id, channel) => {
      const { value, stale } = await this.cache.guard(
        channel.name,
        () => redis(() => this.#cmd.hget(this.keys.grants(id), channel.name)),
      );
      if (stale) {
        // An event about the channel arrived meanwhile: it may have been deleted.
        const current = await redis(() => this.store.get(channel.name));
        if (current?.epoch !== channel.epoch) throw channelNotFound(channel.name);
      }
      return value === channel.epoch;
    },
    history: (channel, since, page) => {
      if (this.#broker === undefined) throw new Error("cluster node: broker not built yet");
      return this.#broker.history(channel, since, page);
    },
  };

  /** Called by the hub when a connection opens or closes: keeps its presence in Redis. */
  onConnection(id: string, open: boolean): void {
    if (this.#closed) return;
    const key = this.keys.connection(id);
    const work = open
      ? this.#cmd.set(key, this.nodeId, "PX", PRESENCE_TTL_MS)
      : this.#cmd.del(key, this.keys.grants(id));
    this.#track(work.catch(() => {
      this.#presenceDirty = true;
      if (!open) this.#goneUnsaid.add(id);
    }));
  }

  /** True while both connections are up, the heartbeat answers, and no heal is pending. */
  healthy(): boolean {
    return this.#cmd.status === "ready" && this.#sub.status === "ready" && this.#heartbeatOk &&
      !this.#needsHeal;
  }

  /** The cluster's channel count, as last read. */
  get channelCount(): number {
    return this.#count;
  }

  /** Prometheus lines for the Redis connection and pub/sub. */
  metrics(): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, value: number) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    metric(
      "pushserver_redis_up",
      "gauge",
      "1 while this node's Redis connections work.",
      this.healthy() ? 1 : 0,
    );
    metric(
      "pushserver_redis_disconnects_total",
      "counter",
      "Times the pub/sub connection to Redis was lost.",
      this.#stats.disconnects,
    );
    metric(
      "pushserver_redis_heals_total",
      "counter",
      "Times the node healed after Redis came back.",
      this.#stats.heals,
    );
    metric(
      "pushserver_pubsub_channels",
      "gauge",
      "Push channels this node is subscribed to in Redis (it has local subscribers).",
      this.#interest.size,
    );
    metric(
      "pushserver_pubsub_messages_received_total",
      "counter",
      "Pub/sub messages received from Redis (pushes and channel events).",
      this.#stats.received,
    );
    metric(
      "pushserver_pubsub_publishes_total",
      "counter",
      "Pushes sent to Redis.",
      this.#stats.published,
    );
    return lines.join("\n") + "\n";
  }

  /** Stops the timers, forgets this node's presence, closes both connections. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#receipts.close();
    await Promise.allSettled([...this.#pending]);
    if (this.#cmd.status === "ready") {
      await this.#cmd.del(this.keys.node(this.nodeId)).catch(() => {});
    }
    await Promise.all([closeRedis(this.#cmd), closeRedis(this.#sub)]);
  }

  async #read(name: string): Promise<Channel | undefined> {
    for (let attempt = 0;; attempt++) {
      const { value, stale } = await this.cache.guard(
        name,
        () => redis(() => this.store.get(name)),
      );
      if (!stale || attempt >= 2) {
        if (value !== undefined) {
          if (!stale) this.cache.remember(value);
          this.#noteLookup(value);
        }
        return value;
      }
    }
  }

  #noteLookup(channel: Channel): void {
    if (this.#interest.has(channel.name)) return;
    if (this.#lookedUp.size > 10_000) this.#lookedUp.clear();
    this.#lookedUp.set(channel.name, channel.epoch);
  }

  #listen(channel: string): Promise<void> {
    this.#interest.add(channel);
    const epoch = this.#lookedUp.get(channel);
    if (epoch !== undefined) {
      this.#interestEpochs.set(channel, epoch);
      this.#lookedUp.delete(channel);
    }
    if (this.#sub.status !== "ready") return Promise.reject(unavailable(undefined));
    return this.#sub.subscribe(this.keys.pushes(channel)).then(
      () => {},
      (error) => Promise.reject(unavailable(error)),
    );
  }

  #unlisten(channel: string): void {
    this.#interest.delete(channel);
    this.#interestEpochs.delete(channel);
    if (this.#sub.status !== "ready") return;
    this.#track(this.#sub.unsubscribe(this.keys.pushes(channel)).catch(() => {}));
  }

  #onMessage(channel: string, payload: string): void {
    this.#stats.received++;
    const handler = this.#handler;
    try {
      if (channel === this.keys.events) return this.#onEvent(JSON.parse(payload) as ClusterEvent);
      if (channel === this.keys.presenceEvents) return this.#presence?.onEvent(payload);
      const name = this.keys.channelOfPushes(channel);
      if (name === undefined) {
        if (channel === this.keys.receipts(this.nodeId)) {
          this.#receipts.onReply(JSON.parse(payload) as ReceiptReply);
        }
        return;
      }
      const publication: ExtendedPublication | undefined = decodePush(payload);
      if (publication === undefined || handler === undefined) return;
      const receipt = publication.receipt;
      if (receipt === undefined) return void handler.onPublication(name, publication);
      // Counted here, on the node that holds the connections, and sent to the one that asked.
      const reached = publication.recipients.length > 0 ? new Set<string>() : undefined;
      const report = handler.onPublication(name, publication, reached);
      const reply: ReceiptReply = {
        q: receipt.id,
        d: report?.delivered ?? 0,
        ...(reached === undefined ? {} : { u: [...reached] }),
      };
      this.#track(
        this.#cmd.publish(this.keys.receipts(receipt.node), JSON.stringify(reply)).catch(() => {}),
      );
    } catch (error) {
      this.#logger.error("cluster message failed", { error });
    }
  }

  #onEvent(event: ClusterEvent): void {
    const handler = this.#handler;
    switch (event.t) {
      case "deleted": {
        this.cache.invalidate(event.n);
        this.#refreshCount();
        const epoch = this.#interestEpochs.get(event.n);
        // Local subscribers of a newer channel of that name are not concerned.
        if (epoch === undefined || epoch === event.e) {
          handler?.onChannelEvent(event.n, { type: "deleted" });
        }
        return;
      }
      case "rotated":
        return this.cache.rotated(event.n, event.h);
      case "revoked":
        return handler?.onChannelEvent(event.n, { type: "revoked", uuid: event.u });
    }
  }

  #onSubLost(): void {
    if (this.#closed) return;
    if (!this.#needsHeal) {
      this.#stats.disconnects++;
      this.#logger.warn("lost the Redis pub/sub connection; reconnecting");
    }
    // Events may be lost from here on: nothing cached can be trusted until the heal.
    this.#needsHeal = true;
    this.cache.reset();
  }

  #tick(): void {
    if (this.#closed) return;
    this.#track(this.#beat());
    const now = this.#now();
    if (now - this.#lastCount >= COUNT_REFRESH_MS) this.#refreshCount();
    if (this.#presenceDirty || now - this.#lastPresenceRefresh >= PRESENCE_REFRESH_MS) {
      if (this.#cmd.status === "ready") this.#track(this.#refreshPresence().catch(() => {}));
    }
    this.#maybeHeal();
  }

  async #beat(): Promise<void> {
    try {
      await this.#cmd.set(this.keys.node(this.nodeId), "1", "PX", HEARTBEAT_TTL_MS);
      this.#heartbeatOk = true;
    } catch {
      if (this.#heartbeatOk) this.#logger.warn("Redis does not answer");
      this.#heartbeatOk = false;
    }
  }

  #refreshCount(): void {
    this.#lastCount = this.#now();
    if (this.#cmd.status !== "ready") return;
    this.#track(this.store.count().then((n) => this.#count = n, () => {}));
  }

  #maybeHeal(): void {
    if (!this.#needsHeal || this.#healing !== undefined || this.#closed) return;
    if (this.#cmd.status !== "ready" || this.#sub.status !== "ready") return;
    this.#healing = this.#heal().finally(() => this.#healing = undefined);
    this.#track(this.#healing);
  }

  /**
   * After the pub/sub connection came back: listen again (events and every channel with local
   * subscribers), then tell local subscribers what they missed that is still true (channels
   * deleted, grants gone), then restore presence. Pushes published meanwhile are not replayed:
   * pub/sub never delivers them late, so nothing stale or duplicated arrives.
   */
  async #heal(): Promise<void> {
    try {
      await this.#sub.subscribe(
        this.keys.events,
        this.keys.receipts(this.nodeId),
        this.keys.presenceEvents,
        ...[...this.#interest].map((c) => this.keys.pushes(c)),
      );
      this.cache.live = true;
      await loadScripts(this.#cmd);
      await this.#resync();
      await this.#refreshPresence();
      this.#presence?.resync();
      this.#needsHeal = false;
      this.#stats.heals++;
      this.#logger.info("reconnected to Redis", { channels: this.#interest.size });
    } catch (error) {
      this.#logger.warn("heal after Redis reconnect failed; retrying", { error });
    }
  }

  /** Drops local subscriptions whose channel was deleted, or whose grant went, meanwhile. */
  async #resync(): Promise<void> {
    const handler = this.#handler;
    const names = [...this.#interest];
    const privateChannels = new Map<string, string>();
    for (let i = 0; i < names.length; i += BATCH) {
      const batch = names.slice(i, i + BATCH);
      const records = await this.store.getMany(batch);
      batch.forEach((name, j) => {
        const record = records[j];
        const epoch = this.#interestEpochs.get(name);
        if (record === undefined || (epoch !== undefined && record.epoch !== epoch)) {
          handler?.onChannelEvent(name, { type: "deleted" });
        } else if (record.private) privateChannels.set(name, record.epoch);
      });
    }
    const hub = this.#hub;
    if (hub === undefined || privateChannels.size === 0) return;
    const pairs: [string, string][] = [];
    for (const subscriber of hub.subscribers()) {
      for (const channel of hub.channelsOf(subscriber.id)) {
        if (privateChannels.has(channel)) pairs.push([subscriber.id, channel]);
      }
    }
    for (let i = 0; i < pairs.length; i += BATCH) {
      const batch = pairs.slice(i, i + BATCH);
      const pipeline = this.#cmd.pipeline();
      for (const [id, channel] of batch) pipeline.hget(this.keys.grants(id), channel);
      const replies = (await pipeline.exec()) ?? [];
      batch.forEach(([id, channel], j) => {
        const [error, epoch] = replies[j] ?? [null, null];
        if (error === null && epoch !== privateChannels.get(channel)) {
          handler?.onChannelEvent(channel, { type: "revoked", uuid: id });
        }
      });
    }
  }

  /** Writes every local connection's presence again (Redis may have restarted empty). */
  async #refreshPresence(): Promise<void> {
    this.#presenceDirty = false;
    this.#lastPresenceRefresh = this.#now();
    const ids = this.#hub?.subscribers().map((s) => s.id) ?? [];
    const gone = [...this.#goneUnsaid];
    try {
      for (let i = 0; i < ids.length; i += BATCH) {
        const pipeline = this.#cmd.pipeline();
        for (const id of ids.slice(i, i + BATCH)) {
          pipeline.set(this.keys.connection(id), this.nodeId, "PX", PRESENCE_TTL_MS);
          pipeline.pexpire(this.keys.grants(id), PRESENCE_TTL_MS);
        }
        await pipeline.exec();
      }
      for (let i = 0; i < gone.length; i += BATCH) {
        const batch = gone.slice(i, i + BATCH);
        await this.#cmd.del(
          ...batch.flatMap((id) => [this.keys.connection(id), this.keys.grants(id)]),
        );
        for (const id of batch) this.#goneUnsaid.delete(id);
      }
    } catch (error) {
      this.#presenceDirty = true;
      throw error;
    }
  }

  #track(work: Promise<unknown>): void {
    this.#pending.add(work);
    work.finally(() => this.#pending.delete(work)).catch(() => {});
  }
}
