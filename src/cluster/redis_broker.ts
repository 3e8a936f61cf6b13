/**
 * The cluster broker: a push is one EVALSHA (check the record, store if history, PUBLISH); a
 * node SUBSCRIBEs to a channel's pushes only while it has local subscribers, and filters
 * targeted pushes locally.
 */
import { recordReplaced } from "../channels/failures.ts";
import type { Redis } from "ioredis";
import type { Channel } from "../channels/store.ts";
import {
  DEFAULT_PAGE,
  type HistoryPageSize,
  type HistoryRead,
  retainedPage,
} from "../history/log.ts";
import type { Broker, ChannelEvent, Publication, PublishOptions } from "../hub/broker.ts";
import type { ChannelCache } from "./cache.ts";
import { redis } from "./cluster_service.ts";
import type { Keys } from "./keys.ts";
import { decodeExtended, type ExtendedHeader, PUBLISH_EX } from "./publish_ex.ts";
import type { ReceiptWaiter } from "./receipts.ts";
import { decodeEntry } from "./redis_store.ts";
import { PUBLISH, PUBLISH_STORED, READ_HISTORY } from "./scripts.ts";
import { publishOnce } from "./publish_once.ts";

/** What the broker needs from its node. */
export interface RedisBrokerDeps {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly cache: ChannelCache;
  readonly now: () => number;
  /** Starts receiving a channel's pushes (SUBSCRIBE), resolves once in force. */
  readonly listen: (channel: string) => Promise<void>;
  /** Stops receiving a channel's pushes (UNSUBSCRIBE). */
  readonly unlisten: (channel: string) => void;
  /** Counts one publish sent to Redis. */
  readonly onPublished: () => void;
  /** Receipts this node waits for (v1.2), and this node's id for the other nodes' answers. */
  readonly receipts?: { readonly waiter: ReceiptWaiter; readonly nodeId: string };
}

/** The pub/sub payload of a push that is not stored: `P<uuid,uuid,...>\n<message>`. */
export function encodePush(message: string, recipients: readonly string[]): string {
  return `P${recipients.join(",")}\n${message}`;
}

/** Reads a push payload (either kind) back; undefined when it is not one. */
export function decodePush(payload: string): Publication | undefined {
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

/** Pushes and history through Redis. */
export class RedisBroker implements Broker {
  readonly #deps: RedisBrokerDeps;

  /** Creates the broker of one node. */
  constructor(deps: RedisBrokerDeps) {
    this.#deps = deps;
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
        { ...this.#deps, call: redis, applied: (answer) => this.#applied(channel, answer) },
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
    const answer = await redis(() => {
      this.#deps.onPublished();
      return stored
        ? PUBLISH_STORED.run(
          this.#deps.redis,
          [keys.channel(channel.name), keys.history(channel.name)],
          [
            channel.epoch,
            channel.tokenHash,
            keys.pushes(channel.name),
            message,
            channel.history!.size,
            channel.history!.ttlSeconds * 1000,
          ],
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
    const stored = channel.history !== null && recipients.length === 0;
    const json = options.json === true;
    const receipts = options.receipt === undefined ? undefined : this.#deps.receipts;
    const id = receipts?.waiter.nextId();
    const header: ExtendedHeader = {
      r: recipients,
      ...(json ? { j: 1 } : {}),
      ...(id === undefined ? {} : { q: id, n: receipts!.nodeId }),
    };
    if (id !== undefined) receipts!.waiter.register(id, options.receipt!);
    const answer = await redis(() => {
      this.#deps.onPublished();
      return PUBLISH_EX.run(
        this.#deps.redis,
        [keys.channel(channel.name), keys.history(channel.name)],
        [
          channel.epoch,
          channel.tokenHash,
          keys.pushes(channel.name),
          message,
          channel.history?.size ?? 0,
          (channel.history?.ttlSeconds ?? 0) * 1000,
          stored ? "1" : "0",
          JSON.stringify(header),
          json ? "j" : "",
        ],
      );
    }).catch((error) => {
      if (id !== undefined) receipts!.waiter.cancel(id);
      throw error;
    });
    if (!Array.isArray(answer)) {
      if (id !== undefined) receipts!.waiter.cancel(id);
      this.#applied(channel, answer);
    }
    const [offset, nodes] = answer as [number, number];
    // Each node that received it answers with its own count (see receipts.ts).
    if (id !== undefined) await receipts!.waiter.wait(id, Number(nodes));
    return stored ? Number(offset) : undefined;
  }

  async history(
    channel: Channel,
    since: number | undefined,
    page: HistoryPageSize = DEFAULT_PAGE,
  ): Promise<HistoryRead> {
    const { keys } = this.#deps;
    const reply = await redis(() =>
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

  channelEvent(channel: string, event: ChannelEvent): Promise<void> {
    // A delete was announced by the delete script itself, atomically with the change.
    if (event.type === "deleted") return Promise.resolve();
    const payload = JSON.stringify({ t: "revoked", n: channel, u: event.uuid });
    return redis(() => this.#deps.redis.publish(this.#deps.keys.events, payload)).then(() => {});
  }

  subscribe(channel: string): Promise<void> {
    return this.#deps.listen(channel);
  }

  unsubscribe(channel: string): void {
    this.#deps.unlisten(channel);
  }

  forget(): void {
    // The delete script removed the stream with the record.
  }

  close(): Promise<void> {
    // The node owns the connections and closes them.
    return Promise.resolve();
  }

  /** Throws 404 or 403 when the record the token was checked against is no longer current. */
  #applied(channel: Channel, answer: unknown): void {
    if (answer !== 0 && answer !== -1) return;
    this.#deps.cache.invalidate(channel.name);
    throw recordReplaced(channel.name, answer === 0);
  }
}
