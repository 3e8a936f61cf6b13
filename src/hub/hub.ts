/**
 * The hub: which live connection is subscribed to which channel, the grants each holds, and
 * fan-out to them. It knows no sockets, no Deno API and no storage: only {@link Subscriber}.
 */
import { CLOSE, PushError } from "../errors.ts";
import {
  clientAck,
  compactAck,
  compactPush,
  pushHead,
  pushMessage,
  pushTail,
  type Recovery,
} from "../protocol/outbound.ts";
import type { Publication } from "./broker.ts";

/** A live connection as the hub sees it. */
export interface Subscriber {
  /** The connection's UUID. */
  readonly id: string;
  /** Whether it asked for compact frames (`pushserver.compact`). */
  readonly compact: boolean;
  /**
   * Queues one frame without waiting. Returns `false` when the frame was not queued (the
   * connection is closing, or it was just closed as a slow consumer).
   */
  send(frame: string): boolean;
  /** Closes the connection (the hub calls it when held frames overflow). */
  close(code: number, reason: string): void;
}

/** Frames held back while a recovery replays, released after it. */
interface Held {
  readonly channel: string;
  readonly frames: { frame: string; channel: string | undefined; offset: number | undefined }[];
  chars: number;
}

interface Member {
  readonly subscriber: Subscriber;
  /** Subscribed channels in subscription order. */
  channels: string[];
  /** Cached head of this member's v1 push frames; rebuilt lazily after `channels` changes. */
  head: string | undefined;
  /** Grants on private channels: channel → the epoch it was granted for. */
  grants: Map<string, string> | undefined;
  held: Held | undefined;
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
  /** Most channels one connection may subscribe to (and, separately, hold grants on). */
  maxSubscriptionsPerConnection: number;
  /** Most subscriptions over all connections of this node (`MAX_SUBSCRIPTIONS`; default none). */
  maxSubscriptions?: number;
  /** Most characters held for one connection during a recovery; past it, it is closed 4008. */
  maxHeldChars?: number;
  /** A channel got its first local subscriber; the returned promise settles once it is live. */
  onChannelActive?: (channel: string) => Promise<void> | undefined;
  /** A channel lost its last local subscriber. */
  onChannelIdle?: (channel: string) => void;
  /** A connection was registered (`open`) or forgotten (cluster mode keeps presence in Redis). */
  onConnection?: (id: string, open: boolean) => void;
}

/** Local subscriptions and fan-out. Per connection, frames go out in the order they are produced. */
export class Hub {
  readonly #members = new Map<string, Member>();
  readonly #channels = new Map<string, Set<Member>>();
  readonly #granted = new Map<string, Set<Member>>();
  readonly #maxSubscriptions: number;
  readonly #maxTotal: number;
  readonly #maxHeldChars: number;
  readonly #onActive: (channel: string) => Promise<void> | undefined;
  readonly #onIdle: (channel: string) => void;
  readonly #onConnection: ((id: string, open: boolean) => void) | undefined;
  readonly #ready = new Map<string, Promise<void>>();
  #subscriptionCount = 0;

  /** Creates an empty hub. */
  constructor(options: HubOptions) {
    this.#maxSubscriptions = options.maxSubscriptionsPerConnection;
    this.#maxTotal = options.maxSubscriptions ?? Number.POSITIVE_INFINITY;
    this.#maxHeldChars = options.maxHeldChars ?? 4 * 1024 * 1024;
    this.#onActive = options.onChannelActive ?? (() => undefined);
    this.#onIdle = options.onChannelIdle ?? (() => {});
    this.#onConnection = options.onConnection;
  }

  /** Number of registered connections. */
  get connectionCount(): number {
    return this.#members.size;
  }

  /** Number of (connection, channel) subscriptions. */
  get subscriptionCount(): number {
    return this.#subscriptionCount;
  }

  /** Channels with at least one local subscriber. */
  activeChannels(): string[] {
    return [...this.#channels.keys()];
  }

  /** Whether a connection with this UUID is registered here. */
  has(id: string): boolean {
    return this.#members.has(id);
  }

  /** Registers a connection with no subscriptions. */
  add(subscriber: Subscriber): void {
    this.#members.set(subscriber.id, {
      subscriber,
      channels: [],
      head: undefined,
      grants: undefined,
      held: undefined,
    });
    this.#onConnection?.(subscriber.id, true);
  }

  /** Forgets a connection, its subscriptions and its grants at once. */
  remove(id: string): void {
    const member = this.#members.get(id);
    if (member === undefined) return;
    this.#members.delete(id);
    for (const channel of member.channels) this.#detach(channel, member);
    member.channels = [];
    for (const channel of member.grants?.keys() ?? []) this.#ungrant(channel, member);
    member.grants = undefined;
    member.held = undefined;
    this.#onConnection?.(id, false);
  }

  /** The connection's channels in subscription order (empty when unknown). */
  channelsOf(id: string): readonly string[] {
    return this.#members.get(id)?.channels ?? [];
  }

  /** Whether `id` is subscribed to `channel`. */
  isSubscribed(id: string, channel: string): boolean {
    return this.#members.get(id)?.channels.includes(channel) ?? false;
  }

  /**
   * Subscribes `id` to `channel` (idempotent) and returns its channels. When this is the
   * channel's first local subscriber, `ready` settles once the node receives its traffic.
   */
  subscribe(id: string, channel: string): readonly string[] {
    const member = this.#member(id);
    if (member.channels.includes(channel)) return member.channels;
    if (member.channels.length >= this.#maxSubscriptions) {
      throw new PushError(
        "too_many_requests",
        `A connection may subscribe to at most ${this.#maxSubscriptions} channels`,
      );
    }
    // Bounds subscription state as a whole (~741 B each): the per-connection limit times
    // MAX_CONNECTIONS allowed ~11 GB.
    if (this.#subscriptionCount >= this.#maxTotal) {
      throw new PushError(
        "too_many_requests",
        `The server holds its maximum of ${this.#maxTotal} subscriptions (MAX_SUBSCRIPTIONS)`,
      );
    }
    member.channels = [...member.channels, channel];
    member.head = undefined;
    let subscribers = this.#channels.get(channel);
    if (subscribers === undefined) {
      subscribers = new Set();
      this.#channels.set(channel, subscribers);
      const ready = this.#onActive(channel);
      if (ready !== undefined) {
        const settled = ready.finally(() => {
          if (this.#ready.get(channel) === settled) this.#ready.delete(channel);
        });
        this.#ready.set(channel, settled);
      }
    }
    subscribers.add(member);
    this.#subscriptionCount++;
    return member.channels;
  }

  /** Settles once `channel`'s traffic reaches this node (`undefined`: it already does). */
  ready(channel: string): Promise<void> | undefined {
    return this.#ready.get(channel);
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

  /** Lets `id` subscribe to private `channel` (of `epoch`); `false` when `id` is not here. */
  grant(id: string, channel: string, epoch: string): boolean {
    const member = this.#members.get(id);
    if (member === undefined) return false;
    member.grants ??= new Map();
    if (!member.grants.has(channel) && member.grants.size >= this.#maxSubscriptions) {
      throw new PushError(
        "too_many_requests",
        `A connection may hold grants on at most ${this.#maxSubscriptions} channels`,
      );
    }
    member.grants.set(channel, epoch);
    let holders = this.#granted.get(channel);
    if (holders === undefined) this.#granted.set(channel, holders = new Set());
    holders.add(member);
    return true;
  }

  /** Whether `id` holds a grant on `channel` for this `epoch` of it. */
  isGranted(id: string, channel: string, epoch: string): boolean {
    return this.#members.get(id)?.grants?.get(channel) === epoch;
  }

  /** Takes back `id`'s grant on `channel`, if it holds one. */
  revokeGrant(id: string, channel: string): void {
    const member = this.#members.get(id);
    if (member?.grants?.delete(channel)) this.#ungrant(channel, member);
  }

  /**
   * Takes back `id`'s grant on `channel` and, if subscribed, unsubscribes it with a
   * `Subscription Revoked` ack. Returns whether it was subscribed.
   */
  revoke(id: string, channel: string): boolean {
    this.revokeGrant(id, channel);
    const member = this.#members.get(id);
    if (member === undefined || !member.channels.includes(channel)) return false;
    this.unsubscribe(id, channel);
    this.#send(member, this.#ack(member, "Subscription Revoked", channel), undefined, undefined);
    return true;
  }

  /**
   * Sends a publication on `channel` to every subscriber, or only to the subscribed
   * connections among its `recipients` (each at most once). The `pushMessage` is serialized
   * once; v1 frames are a cached per-connection head plus a shared tail, compact frames are
   * one string for all.
   */
  deliver(channel: string, publication: Publication): DeliveryReport {
    const report: DeliveryReport = { delivered: 0, dropped: 0 };
    const subscribers = this.#channels.get(channel);
    if (subscribers === undefined) return report;
    const frames = new PushFrames(
      pushMessage(
        channel,
        publication.message,
        publication.offset === undefined || publication.epoch === undefined
          ? undefined
          : { offset: publication.offset, epoch: publication.epoch },
      ),
    );
    const { recipients, offset } = publication;
    if (recipients.length === 0) {
      for (const member of subscribers) this.#push(member, frames, channel, offset, report);
    } else {
      const seen = recipients.length > 1 ? new Set<string>() : undefined;
      for (const id of recipients) {
        if (seen !== undefined) {
          if (seen.has(id)) continue;
          seen.add(id);
        }
        const member = this.#members.get(id);
        if (member !== undefined && subscribers.has(member)) {
          this.#push(member, frames, channel, offset, report);
        }
      }
    }
    return report;
  }

  /**
   * Removes `channel` from every subscriber and tells each with a `Channel Deleted` ack; its
   * grants end too. Returns how many connections were subscribed.
   */
  dropChannel(channel: string): number {
    for (const member of this.#granted.get(channel) ?? []) member.grants?.delete(channel);
    this.#granted.delete(channel);
    const subscribers = this.#channels.get(channel);
    if (subscribers === undefined) return 0;
    this.#channels.delete(channel);
    this.#subscriptionCount -= subscribers.size;
    this.#onIdle(channel);
    for (const member of subscribers) {
      member.channels = member.channels.filter((c) => c !== channel);
      member.head = undefined;
      this.#send(member, this.#ack(member, "Channel Deleted", channel), undefined, undefined);
    }
    return subscribers.size;
  }

  /** The ack a member gets for `message` about `channel`, in its frame mode. */
  ackFor(id: string, message: string, channel: string, recovery?: Recovery): string {
    return this.#ack(this.#member(id), message, channel, recovery);
  }

  /**
   * Holds every frame for `id` (a recovery of `channel` is about to replay); they are sent by
   * {@link release}. Only one hold per connection at a time.
   */
  hold(id: string, channel: string): void {
    this.#member(id).held = { channel, frames: [], chars: 0 };
  }

  /**
   * Ends a hold and returns the held frames in order, without the pushes of the recovered
   * channel at or below `replayedUpTo` (the replay already carried them).
   */
  release(id: string, replayedUpTo: number): string[] {
    const member = this.#members.get(id);
    const held = member?.held;
    if (member === undefined || held === undefined) return [];
    member.held = undefined;
    return held.frames
      .filter((f) =>
        f.channel !== held.channel || f.offset === undefined || f.offset > replayedUpTo
      )
      .map((f) => f.frame);
  }

  /** Every registered connection (for shutdown). */
  subscribers(): Subscriber[] {
    return [...this.#members.values()].map((member) => member.subscriber);
  }

  #ack(member: Member, message: string, channel: string, recovery?: Recovery): string {
    const uuid = member.subscriber.id;
    return member.subscriber.compact
      ? compactAck(message, uuid, channel, recovery)
      : clientAck(message, { uuid, channels: member.channels }, recovery);
  }

  #push(
    member: Member,
    frames: PushFrames,
    channel: string,
    offset: number | undefined,
    report: DeliveryReport,
  ): void {
    let frame: string;
    if (member.subscriber.compact) frame = frames.compact();
    else {
      const head = member.head ??= pushHead({
        uuid: member.subscriber.id,
        channels: member.channels,
      });
      frame = head + frames.tail();
    }
    if (this.#send(member, frame, channel, offset)) report.delivered++;
    else report.dropped++;
  }

  #send(member: Member, frame: string, channel: string | undefined, offset: number | undefined) {
    const held = member.held;
    if (held === undefined) return member.subscriber.send(frame);
    held.frames.push({ frame, channel, offset });
    held.chars += frame.length;
    if (held.chars > this.#maxHeldChars) {
      member.subscriber.close(CLOSE.slowConsumer, "slow consumer");
      return false;
    }
    return true;
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
    if (subscribers.size === 0) {
      this.#channels.delete(channel);
      this.#onIdle(channel);
    }
  }

  #ungrant(channel: string, member: Member): void {
    const holders = this.#granted.get(channel);
    if (holders === undefined) return;
    holders.delete(member);
    if (holders.size === 0) this.#granted.delete(channel);
  }
}

/** The frames of one push, each built on first use. */
class PushFrames {
  #tail: string | undefined;
  #compact: string | undefined;

  constructor(readonly pushMessage: string) {}

  tail(): string {
    return this.#tail ??= pushTail(this.pushMessage);
  }

  compact(): string {
    return this.#compact ??= compactPush(this.pushMessage);
  }
}
