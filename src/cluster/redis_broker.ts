/**
 * The cluster broker owns pub/sub in both directions. Sending: a push is one EVALSHA (check the
 * record, store if history, PUBLISH). Receiving: the node's pub/sub connection listens to the
 * events channel always, and to a channel's pushes only while it has local subscribers
 * (per-channel interest); what arrives goes to the cache (events) and to the handler, which
 * filters targeted pushes locally. It also listens to this node's receipt replies and its SSE
 * relay channel (commands of streams held here, sent by other nodes; see sse_relay.ts).
 */
import type { Redis } from "ioredis";
import type { ChannelCache } from "../channels/cache.ts";
import { recordReplaced } from "../channels/failures.ts";
import type { Channel } from "../channels/store.ts";
import {
  DEFAULT_PAGE,
  type HistoryPageSize,
  type HistoryRead,
  retainedPage,
} from "../history/log.ts";
import type { Broker, BrokerHandler, PublishOptions } from "../hub/broker.ts";
import type { FaultReporter } from "../metrics.ts";
import type { Keys } from "./keys.ts";
import {
  decodeExtended,
  type ExtendedPublication,
  ExtendedPush,
  PUBLISH_EX,
} from "./publish_ex.ts";
import { type ReceiptReply, ReceiptWaiter } from "./receipts.ts";
import { redisCall, unavailable } from "./redis.ts";
import { type ClusterEvent, decodeEntry, type RedisChannelStore } from "./redis_store.ts";
import { PUBLISH, PUBLISH_STORED, READ_HISTORY, storedPushArgs } from "./scripts.ts";
import { publishOnce } from "./publish_once.ts";

/** Records per pipeline when checking many after a reconnect. */
const BATCH = 500;

/** What the broker needs from its node. */
export interface RedisBrokerDeps {
  /** The command connection. */
  readonly redis: Redis;
  /** The pub/sub connection (this broker is its only listener). */
  readonly sub: Redis;
  readonly keys: Keys;
  readonly cache: ChannelCache;
  /** Where received pushes and channel events go. */
  readonly handler: BrokerHandler;
  readonly now: () => number;
  readonly reportFault: FaultReporter;
  /** A channel was deleted (by any node): the channel count changed. */
  readonly onDeleted: () => void;
  /** This node's id: other nodes send their receipt counts (v1.2) to its reply channel. */
  readonly nodeId: string;
  /** SSE commands forwarded to this node, and answers to its forwards (see sse_relay.ts). */
  readonly sseRelay: { readonly channel: string; receive(payload: string): void };
}

/** The pub/sub payload of a push that is not stored: `P<uuid,uuid,...>\n<message>`. */
export function encodePush(message: string, recipients: readonly string[]): string {
  return `P${recipients.join(",")}\n${message}`;
}

/** Reads a push payload (either kind) back; undefined when it is not one. */
export function decodePush(payload: string): ExtendedPublication | undefined {
  if (payload[0] === "X") return decodeExtended(payload);
  const newline = payload.indexOf("\n");
  if (newline < 1) return undefined;
  const head = payload.slice(1, newline);
  const message = payload.slice(newline + 1);
  if (payload[0] === "P") return { message, recipients: head === "" ? [] : head.split(",") };
  if (payload[0] === "H") {
    const colon = head.indexOf(":");
    return {
      message,
      recipients: [],
      offset: Number(head.slice(0, colon)),
      epoch: head.slice(colon + 1),
    };
  }
  return undefined;
}

/** Pushes and history through Redis, and this node's pub/sub subscriptions. */
export class RedisBroker implements Broker {
  readonly #deps: RedisBrokerDeps;
  /** Channels whose pushes this node receives (it has local subscribers). */
  readonly #interest = new Set<string>();
  /** The epoch local subscribers of a channel subscribed to (a delete of another is not theirs). */
  readonly #interestEpochs = new Map<string, string>();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #stats = { received: 0, published: 0 };
  /** Receipts of this node's pushes, counted by the nodes that deliver them. */
  readonly #receipts = new ReceiptWaiter();
  readonly #onMessage = (channel: string, payload: string) => this.#receive(channel, payload);
  #closed = false;

  /** Creates the broker of one node; {@link start} listens. */
  constructor(deps: RedisBrokerDeps) {
    this.#deps = deps;
  }

  /** Listens to the events channel; from then on the cache may be filled. */
  async start(): Promise<void> {
    this.#deps.sub.on("message", this.#onMessage);
    await this.#deps.sub.subscribe(
      this.#deps.keys.events,
      this.#replies,
      this.#deps.sseRelay.channel,
    );
    this.#deps.cache.live = true;
  }

  /** This node's receipt reply channel. */
  get #replies(): string {
    return this.#deps.keys.receipts(this.#deps.nodeId);
  }

  async publish(
    channel: Channel,
    message: string,
    recipients: readonly string[],
    options?: PublishOptions,
  ): Promise<number | undefined> {
    if (options?.once !== undefined) {
      // v1.2 idempotent pushes: the key's claim and the push are one script (publish_once.ts).
      return await publishOnce(
        {
          redis: this.#deps.redis,
          keys: this.#deps.keys,
          now: this.#deps.now,
          onPublished: () => this.#stats.published++,
          receipts: { waiter: this.#receipts, nodeId: this.#deps.nodeId },
          call: redisCall,
          applied: (answer) => this.#applied(channel, answer),
        },
        channel,
        message,
        recipients,
        { ...options, once: options.once },
      );
    }
    if (options?.json === true || options?.receipt !== undefined) {
      return await this.#publishExtended(channel, message, recipients, options);
    }
    const { keys } = this.#deps;
    const stored = channel.history !== null && recipients.length === 0;
    const answer = await redisCall(() => {
      this.#stats.published++;
      return stored
        ? PUBLISH_STORED.run(
          this.#deps.redis,
          [keys.channel(channel.name), keys.history(channel.name)],
          storedPushArgs(keys, channel, message),
        )
        : PUBLISH.run(
          this.#deps.redis,
          [keys.channel(channel.name)],
          [
            channel.epoch,
            channel.tokenHash,
            keys.pushes(channel.name),
            encodePush(message, recipients),
          ],
        );
    });
    this.#applied(channel, answer);
    return stored ? Number(answer) : undefined;
  }

  /** A push that v1's payload cannot carry (see publish_ex.ts). */
  async #publishExtended(
    channel: Channel,
    message: string,
    recipients: readonly string[],
    options: PublishOptions,
  ): Promise<number | undefined> {
    const { keys } = this.#deps;
    const push = new ExtendedPush(keys, channel, message, recipients, options, {
      waiter: this.#receipts,
      nodeId: this.#deps.nodeId,
    });
    const answer = await push.run(redisCall, () => {
      this.#stats.published++;
      return PUBLISH_EX.run(
        this.#deps.redis,
        [keys.channel(channel.name), keys.history(channel.name)],
        push.args,
      );
    }, (answer) => this.#applied(channel, answer));
    const [offset, nodes] = answer as [number, number];
    // Each node that received it answers with its own count (see receipts.ts).
    await push.receipt(Number(nodes));
    return push.stored ? Number(offset) : undefined;
  }

  async history(
    channel: Channel,
    since: number | undefined,
    page: HistoryPageSize = DEFAULT_PAGE,
  ): Promise<HistoryRead> {
    const { keys } = this.#deps;
    const reply = await redisCall(() =>
      READ_HISTORY.run(
        this.#deps.redis,
        [keys.channel(channel.name), keys.history(channel.name)],
        [channel.epoch, since ?? -1, page.limit, page.maxBytes],
      )
    ) as [number, ...string[]];
    const top = Number(reply[0]);
    if (top < 0) this.#applied(channel, 0);
    if (since === undefined || since >= top) {
      // A future offset is not recoverable: that position never existed in this epoch.
      return { top, entries: [], complete: since === top };
    }
    const entries = (reply.slice(1) as string[]).map(decodeEntry);
    return retainedPage(entries, since, top, channel.history!, this.#deps.now(), page);
  }

  /** SUBSCRIBEs to the channel's pushes; resolves once in force (503 while disconnected). */
  subscribe(channel: string): Promise<void> {
    const { sub, keys, cache } = this.#deps;
    this.#interest.add(channel);
    // The record the subscriber just looked up is the cache's: its epoch is theirs.
    const epoch = cache.get(channel)?.channel.epoch;
    if (epoch !== undefined) this.#interestEpochs.set(channel, epoch);
    if (sub.status !== "ready") return Promise.reject(unavailable(undefined));
    return sub.subscribe(keys.pushes(channel)).then(
      () => {},
      (error) => Promise.reject(unavailable(error)),
    );
  }

  unsubscribe(channel: string): void {
    const { sub, keys } = this.#deps;
    this.#interest.delete(channel);
    this.#interestEpochs.delete(channel);
    // Disconnected, there is nothing to undo: the heal subscribes to the interest only.
    if (sub.status !== "ready") return;
    this.#track(
      sub.unsubscribe(keys.pushes(channel)).catch((error) =>
        this.#deps.reportFault("pubsub unsubscribe", error)
      ),
    );
  }

  /**
   * After the pub/sub connection came back: listens again to events, replies, the SSE relay and
   * every interest.
   */
  async listenAgain(): Promise<void> {
    const { sub, keys, cache } = this.#deps;
    await sub.subscribe(
      keys.events,
      this.#replies,
      this.#deps.sseRelay.channel,
      ...[...this.#interest].map((c) => keys.pushes(c)),
    );
    cache.live = true;
  }

  /**
   * After a reconnect: drops local subscriptions whose channel was deleted meanwhile, and
   * returns the private channels among the rest (name → epoch), whose grants need a look.
   */
  async resync(store: RedisChannelStore): Promise<Map<string, string>> {
    const names = [...this.#interest];
    const privateChannels = new Map<string, string>();
    for (let i = 0; i < names.length; i += BATCH) {
      const batch = names.slice(i, i + BATCH);
      const records = await store.getMany(batch);
      batch.forEach((name, j) => {
        const record = records[j];
        const epoch = this.#interestEpochs.get(name);
        if (record === undefined || (epoch !== undefined && record.epoch !== epoch)) {
          this.#deps.handler.onChannelEvent(name, { type: "deleted" });
        } else if (record.private) privateChannels.set(name, record.epoch);
      });
    }
    return privateChannels;
  }

  /** How many channels this node receives pushes of. */
  get interest(): number {
    return this.#interest.size;
  }

  /** Prometheus lines for pub/sub. */
  metrics(): string {
    return [
      counter(
        "pushserver_pubsub_channels",
        "gauge",
        "Push channels this node is subscribed to in Redis (it has local subscribers).",
        this.#interest.size,
      ),
      counter(
        "pushserver_pubsub_messages_received_total",
        "counter",
        "Pub/sub messages received from Redis (pushes and channel events).",
        this.#stats.received,
      ),
      counter(
        "pushserver_pubsub_publishes_total",
        "counter",
        "Pushes sent to Redis.",
        this.#stats.published,
      ),
    ].join("");
  }

  /** Stops handing received traffic to the handler; resolves once unsubscribes settled. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#receipts.close();
    this.#deps.sub.off("message", this.#onMessage);
    await Promise.allSettled([...this.#pending]);
  }

  #receive(channel: string, payload: string): void {
    if (this.#closed) return;
    this.#stats.received++;
    try {
      const { keys, handler } = this.#deps;
      if (channel === keys.events) return this.#onEvent(JSON.parse(payload) as ClusterEvent);
      if (channel === this.#replies) {
        return this.#receipts.onReply(JSON.parse(payload) as ReceiptReply);
      }
      if (channel === this.#deps.sseRelay.channel) return this.#deps.sseRelay.receive(payload);
      const name = keys.channelOfPushes(channel);
      const publication = decodePush(payload);
      if (name === undefined || publication === undefined) return;
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
        this.#deps.redis.publish(this.#deps.keys.receipts(receipt.node), JSON.stringify(reply))
          .catch((error) => this.#deps.reportFault("receipt reply", error)),
      );
    } catch (error) {
      this.#deps.reportFault("pubsub message", error);
    }
  }

  #onEvent(event: ClusterEvent): void {
    const { cache, handler } = this.#deps;
    switch (event.t) {
      case "deleted": {
        cache.invalidate(event.n);
        this.#deps.onDeleted();
        const epoch = this.#interestEpochs.get(event.n);
        // Local subscribers of a newer channel of that name are not concerned.
        if (epoch === undefined || epoch === event.e) {
          handler.onChannelEvent(event.n, { type: "deleted" });
        }
        return;
      }
      case "rotated":
        return cache.rotated(event.n, event.h);
      case "revoked":
        return handler.onChannelEvent(event.n, { type: "revoked", uuid: event.u });
    }
  }

  /** Throws 404 or 403 when the record the token was checked against is no longer current. */
  #applied(channel: Channel, answer: unknown): void {
    if (answer !== 0 && answer !== -1) return;
    this.#deps.cache.disputed(channel.name);
    throw recordReplaced(channel.name, answer === 0);
  }

  #track(work: Promise<unknown>): void {
    this.#pending.add(work);
    work.finally(() => this.#pending.delete(work));
  }
}

/** One Prometheus series with its HELP and TYPE lines. */
export function counter(name: string, type: string, help: string, value: number): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}\n`;
}
