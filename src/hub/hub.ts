/**
 * The hub: which live connection is subscribed to which channel, and fan-out to them.
 * It knows no sockets, no Deno API and no storage: only {@link Subscriber}.
 */
import { PushError } from "../errors.ts";
import { clientAck, pushHead, pushTail } from "../protocol/outbound.ts";

/** A live connection as the hub sees it. */
export interface Subscriber {
  /** The connection's UUID. */
  readonly id: string;
  /**
   * Queues one frame without waiting. Returns `false` when the frame was not queued (the
   * connection is closing, or it was just closed as a slow consumer).
   */
  send(frame: string): boolean;
}

interface Member {
  readonly subscriber: Subscriber;
  /** Subscribed channels in subscription order. */
  channels: string[];
  /** Cached head of this member's push frames; rebuilt lazily after `channels` changes. */
  head: string | undefined;
}

/** Outcome of one delivery. */
export interface DeliveryReport {
  /** Frames queued. */
  delivered: number;
  /** Targets whose frame could not be queued. */
  dropped: number;
}

/** Options of {@link Hub}. */
export interface HubOptions {
  /** Most channels one connection may subscribe to; past it, subscribe throws 429. */
  maxSubscriptionsPerConnection: number;
}

/** Local subscriptions and fan-out. Per connection, frames go out in the order they are produced. */
export class Hub {
  readonly #members = new Map<string, Member>();
  readonly #channels = new Map<string, Set<Member>>();
  readonly #maxSubscriptions: number;
  #subscriptionCount = 0;

  /** Creates an empty hub. */
  constructor(options: HubOptions) {
    this.#maxSubscriptions = options.maxSubscriptionsPerConnection;
  }

  /** Number of registered connections. */
  get connectionCount(): number {
    return this.#members.size;
  }

  /** Number of (connection, channel) subscriptions. */
  get subscriptionCount(): number {
    return this.#subscriptionCount;
  }

  /** Registers a connection with no subscriptions. */
  add(subscriber: Subscriber): void {
    this.#members.set(subscriber.id, { subscriber, channels: [], head: undefined });
  }

  /** Forgets a connection and all its subscriptions at once. */
  remove(id: string): void {
    const member = this.#members.get(id);
    if (member === undefined) return;
    this.#members.delete(id);
    for (const channel of member.channels) this.#detach(channel, member);
    member.channels = [];
  }

  /** The connection's channels in subscription order (empty when unknown). */
  channelsOf(id: string): readonly string[] {
    return this.#members.get(id)?.channels ?? [];
  }

  /** Subscribes `id` to `channel` (idempotent) and returns its channels. */
  subscribe(id: string, channel: string): readonly string[] {
    const member = this.#member(id);
    if (member.channels.includes(channel)) return member.channels;
    if (member.channels.length >= this.#maxSubscriptions) {
      throw new PushError(
        "too_many_requests",
        `A connection may subscribe to at most ${this.#maxSubscriptions} channels`,
      );
    }
    member.channels = [...member.channels, channel];
    member.head = undefined;
    let subscribers = this.#channels.get(channel);
    if (subscribers === undefined) {
      subscribers = new Set();
      this.#channels.set(channel, subscribers);
    }
    subscribers.add(member);
    this.#subscriptionCount++;
    return member.channels;
  }

  /** Unsubscribes `id` from `channel` (idempotent) and returns its channels. */
  unsubscribe(id: string, channel: string): readonly string[] {
    const member = this.#member(id);
    if (!member.channels.includes(channel)) return member.channels;
    member.channels = member.channels.filter((c) => c !== channel);
    member.head = undefined;
    this.#detach(channel, member);
    return member.channels;
  }

  /**
   * Sends `message` on `channel` to every subscriber, or only to the subscribed connections
   * among `recipients` (each at most once) when that list is non-empty. The message is
   * serialized once; each frame is a cached per-connection head plus that shared tail.
   */
  deliver(channel: string, message: string, recipients: readonly string[] = []): DeliveryReport {
    const report: DeliveryReport = { delivered: 0, dropped: 0 };
    const subscribers = this.#channels.get(channel);
    if (subscribers === undefined) return report;
    const tail = pushTail(channel, message);
    if (recipients.length === 0) {
      for (const member of subscribers) send(member, tail, report);
    } else {
      const seen = recipients.length > 1 ? new Set<string>() : undefined;
      for (const id of recipients) {
        if (seen !== undefined) {
          if (seen.has(id)) continue;
          seen.add(id);
        }
        const member = this.#members.get(id);
        if (member !== undefined && subscribers.has(member)) send(member, tail, report);
      }
    }
    return report;
  }

  /**
   * Removes `channel` from every subscriber and tells each with a `Channel Deleted` ack.
   * Returns how many connections were subscribed.
   */
  dropChannel(channel: string): number {
    const subscribers = this.#channels.get(channel);
    if (subscribers === undefined) return 0;
    this.#channels.delete(channel);
    this.#subscriptionCount -= subscribers.size;
    for (const member of subscribers) {
      member.channels = member.channels.filter((c) => c !== channel);
      member.head = undefined;
      member.subscriber.send(
        clientAck("Channel Deleted", { uuid: member.subscriber.id, channels: member.channels }),
      );
    }
    return subscribers.size;
  }

  /** Every registered connection (for shutdown). */
  subscribers(): Subscriber[] {
    return [...this.#members.values()].map((member) => member.subscriber);
  }

  #member(id: string): Member {
    const member = this.#members.get(id);
    if (member === undefined) throw new Error(`hub: unknown connection ${id}`);
    return member;
  }

  #detach(channel: string, member: Member): void {
    const subscribers = this.#channels.get(channel);
    if (subscribers === undefined || !subscribers.delete(member)) return;
    this.#subscriptionCount--;
    if (subscribers.size === 0) this.#channels.delete(channel);
  }
}

function send(member: Member, tail: string, report: DeliveryReport): void {
  const head = member.head ??= pushHead({ uuid: member.subscriber.id, channels: member.channels });
  if (member.subscriber.send(head + tail)) report.delivered++;
  else report.dropped++;
}
