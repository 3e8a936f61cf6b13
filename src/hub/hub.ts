/**
 * The hub: which live connection is subscribed to which channel, and fan-out to them. It knows
 * no sockets, no Deno API and no storage: only {@link Subscriber}.
 */
import { PushError } from "../errors.ts";
import type { AckPresence, Recovery } from "../protocol/outbound.ts";
import {
  cancelHeld,
  continuesReplay,
  holdFrame,
  isLate,
  newHeld,
  purgeHeld,
  releasedFrames,
} from "./_held.ts";
import { endedWhileJoining, Joiners } from "./_joining.ts";
import { type Member, newMember } from "./_member.ts";
import type { Publication } from "./broker.ts";
import { ackFrame, frameHead, PushFrames } from "./frames.ts";

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

/** Outcome of one delivery. */
export interface DeliveryReport {
  /** Frames queued. */
  delivered: number;
  /** Targets whose frame could not be queued. */
  dropped: number;
}

/** Options of {@link Hub}. */
export interface HubOptions {
  /** Most channels one connection may subscribe to. */
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
  onConnection?: (id: string, open: boolean) => Promise<void> | void;
  /**
   * `id` was subscribed to `channel` (`true`; not again for a repeated subscribe) or stopped
   * being subscribed other than by the channel's delete (`false`: unsubscribe, revoke, expiry,
   * disconnect). Channel presence follows its members here.
   */
  onMembership?: (channel: string, id: string, subscribed: boolean) => Promise<void> | void;
}

/** Local subscriptions and fan-out. Per connection, frames go out in the order they are produced. */
export class Hub {
  readonly #members = new Map<string, Member>();
  readonly #channels = new Map<string, Set<Member>>();
  readonly #maxSubscriptions: number;
  readonly #maxTotal: number;
  readonly #maxHeldChars: number;
  readonly #onActive: (channel: string) => Promise<void> | undefined;
  readonly #onIdle: (channel: string) => void;
  readonly #onConnection: ((id: string, open: boolean) => Promise<void> | void) | undefined;
  readonly #onMembership:
    | ((channel: string, id: string, subscribed: boolean) => Promise<void> | void)
    | undefined;
  readonly #ready = new Map<string, Promise<void>>();
  /** Connections with a subscribe in flight. */
  readonly #joiners = new Joiners();
  #subscriptionCount = 0;

  /** Creates an empty hub. */
  constructor(options: HubOptions) {
    this.#maxSubscriptions = options.maxSubscriptionsPerConnection;
    this.#maxTotal = options.maxSubscriptions ?? Number.POSITIVE_INFINITY;
    this.#maxHeldChars = options.maxHeldChars ?? 4 * 1024 * 1024;
    this.#onActive = options.onChannelActive ?? (() => undefined);
    this.#onIdle = options.onChannelIdle ?? (() => {});
    this.#onConnection = options.onConnection;
    this.#onMembership = options.onMembership;
  }

  /** Number of registered connections. */
  get connectionCount(): number {
    return this.#members.size;
  }

  /** Number of (connection, channel) subscriptions. */
  get subscriptionCount(): number {
    return this.#subscriptionCount;
  }

  /** Local subscribers of `channel`. */
  subscriberCount(channel: string): number {
    return this.#channels.get(channel)?.size ?? 0;
  }

  /**
   * Sends one frame, the same for every frame mode, to each local subscriber of `channel` but
   * `except` (presence frames); returns how many it was handed to.
   */
  sendToChannel(channel: string, frame: string, except: string): number {
    let sent = 0;
    for (const member of this.#channels.get(channel) ?? []) {
      if (member.subscriber.id === except) continue;
      if (this.#send(member, frame, undefined, undefined)) sent++;
    }
    return sent;
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
  add(subscriber: Subscriber): Promise<void> | void {
    this.#members.set(subscriber.id, newMember(subscriber));
    return this.#onConnection?.(subscriber.id, true);
  }

  /** Forgets a connection and its subscriptions at once. */
  remove(id: string): void {
    const member = this.#members.get(id);
    if (member === undefined) return;
    this.#members.delete(id);
    const channels = member.channels;
    for (const channel of channels) this.#detach(channel, member);
    member.channels = [];
    for (const channel of channels) this.#onMembership?.(channel, id, false);
    member.held = undefined;
    this.#joiners.stop(member);
    member.reached = undefined;
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
    const joining = member.joining;
    if (joining?.channel === channel) {
      this.#joiners.stop(member);
      if (joining.ended !== undefined) throw endedWhileJoining(channel, joining.ended);
    }
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
    this.#onMembership?.(channel, id, true);
    return member.channels;
  }

  /**
   * Marks a subscribe of `id` to `channel` as in flight (its record and grant are being checked):
   * a revoke or delete of the channel before {@link subscribe} makes that subscribe throw (403 or
   * 404), so a subscribe racing a revoke never ends subscribed. One per connection at a time.
   */
  joining(id: string, channel: string): void {
    const member = this.#members.get(id);
    if (member !== undefined) this.#joiners.start(member, channel);
  }

  /** Ends what {@link joining} began, when the subscribe stopped before {@link subscribe}. */
  notJoining(id: string): void {
    const member = this.#members.get(id);
    if (member !== undefined) this.#joiners.stop(member);
  }

  /** Settles once `channel`'s traffic reaches this node (`undefined`: it already does). */
  ready(channel: string): Promise<void> | undefined {
    return this.#ready.get(channel);
  }

  /** Unsubscribes `id` from `channel` (idempotent) and returns its channels. */
  unsubscribe(id: string, channel: string): readonly string[] {
    void this.leave(id, channel);
    return this.#member(id).channels;
  }

  /**
   * Unsubscribes `id` from `channel` (idempotent), like {@link unsubscribe}; what the change
   * causes elsewhere (a presence leave written cluster-wide, its webhook event) may settle later,
   * and the returned promise says when (never rejects), so the `Unsubscribed` ack can follow it.
   */
  leave(id: string, channel: string): Promise<void> | void {
    const member = this.#member(id);
    if (!member.channels.includes(channel)) return;
    member.channels = member.channels.filter((c) => c !== channel);
    member.head = undefined;
    member.reached?.delete(channel);
    this.#detach(channel, member);
    return this.#onMembership?.(channel, id, false);
  }

  /**
   * If `id` is subscribed to `channel`, unsubscribes it with a
   * `Subscription Revoked` ack. Returns whether it was subscribed.
   */
  revoke(id: string, channel: string): boolean {
    const member = this.#members.get(id);
    if (member === undefined) return false;
    this.#end(member, channel, "revoked");
    if (!member.channels.includes(channel)) return false;
    this.unsubscribe(id, channel);
    this.#send(member, ackFrame(member, "Subscription Revoked", channel), undefined, undefined);
    return true;
  }

  /**
   * Ends `id`'s subscription to `channel` because the token that allowed it expired: it is
   * unsubscribed and receives `Subscription Expired`. Returns whether it was subscribed.
   */
  expire(id: string, channel: string): boolean {
    const member = this.#members.get(id);
    if (member === undefined || !member.channels.includes(channel)) return false;
    this.unsubscribe(id, channel);
    this.#send(member, ackFrame(member, "Subscription Expired", channel), undefined, undefined);
    return true;
  }

  /**
   * Sends a publication on `channel` to every subscriber, or only to the subscribed
   * connections among its `recipients` (each at most once). The `pushMessage` is serialized
   * once; v1 frames are a cached per-connection head plus a shared tail, compact frames are
   * one string for all.
   */
  deliver(channel: string, publication: Publication, reached?: Set<string>): DeliveryReport {
    const report: DeliveryReport = { delivered: 0, dropped: 0 };
    const subscribers = this.#channels.get(channel);
    if (subscribers === undefined) return report;
    const frames = PushFrames.of(
      channel,
      publication.message,
      publication.offset === undefined || publication.epoch === undefined
        ? undefined
        : { offset: publication.offset, epoch: publication.epoch },
      publication.json,
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
          if (this.#push(member, frames, channel, offset, report)) reached?.add(id);
        }
      }
    }
    return report;
  }

  /**
   * Removes `channel` from every subscriber and tells each with a `Channel Deleted` ack.
   * Returns how many connections were subscribed.
   */
  dropChannel(channel: string): number {
    this.#joiners.deleted(channel);
    const subscribers = this.#channels.get(channel);
    if (subscribers === undefined) return 0;
    this.#channels.delete(channel);
    this.#subscriptionCount -= subscribers.size;
    this.#onIdle(channel);
    for (const member of subscribers) {
      this.#end(member, channel, "deleted");
      member.reached?.delete(channel);
      member.channels = member.channels.filter((c) => c !== channel);
      member.head = undefined;
      this.#send(member, ackFrame(member, "Channel Deleted", channel), undefined, undefined);
    }
    return subscribers.size;
  }

  /** The ack a member gets for `message` about `channel`, in its frame mode. */
  ackFor(
    id: string,
    message: string,
    channel: string,
    recovery?: Recovery,
    presence?: AckPresence,
  ): string {
    return ackFrame(this.#member(id), message, channel, recovery, presence);
  }

  /** The frame `id` gets for a push (a replayed one: live pushes go through {@link deliver}). */
  pushFrame(id: string, frames: PushFrames): string {
    return this.#frame(this.#member(id), frames);
  }

  /**
   * Holds every frame for `id` (a recovery of `channel` is about to replay); they are sent by
   * {@link finish} or {@link release}. Only one hold per connection at a time. Live pushes of
   * `channel` past the hold's room are left out (the replay reads them from history instead);
   * other frames past it close the connection as a slow consumer.
   */
  hold(id: string, channel: string): void {
    this.#member(id).held = newHeld(channel);
  }

  /** Whether `id`'s replay of `channel` may go on (not revoked, deleted, or closed meanwhile). */
  replaying(id: string, channel: string): boolean {
    const held = this.#members.get(id)?.held;
    return held !== undefined && held.channel === channel && !held.cancelled;
  }

  /**
   * Ends a replay that reached `replayedUpTo`, the channel's top when last read: when the held
   * live pushes of the channel continue it without a gap, releases the hold (sending what it
   * held, skipping what the replay carried) and returns `true` — all at once, so nothing slips
   * between replay and live. Otherwise drops the held pushes of the channel (the replay reads
   * them from history) and returns `false`.
   */
  finish(id: string, replayedUpTo: number): boolean {
    const held = this.#members.get(id)?.held;
    if (held === undefined) return true;
    if (!continuesReplay(held, replayedUpTo)) {
      held.dropped = false;
      purgeHeld(held, held.channel);
      return false;
    }
    for (const frame of this.release(id, replayedUpTo)) {
      this.#members.get(id)?.subscriber.send(frame);
    }
    return true;
  }

  /**
   * Ends a hold and returns the held frames in order, without the pushes of the recovered
   * channel at or below `replayedUpTo` (the replay already carried them). From then on, live
   * pushes of that channel at or below `replayedUpTo` that arrive late are skipped.
   */
  release(id: string, replayedUpTo: number): string[] {
    const member = this.#members.get(id);
    const held = member?.held;
    if (member === undefined || held === undefined) return [];
    member.held = undefined;
    const { frames, top } = releasedFrames(held, replayedUpTo);
    if (replayedUpTo >= 0 && !held.cancelled && member.channels.includes(held.channel)) {
      (member.reached ??= new Map()).set(held.channel, top);
    }
    return frames;
  }

  /** Every registered connection (for shutdown). */
  subscribers(): Subscriber[] {
    return [...this.#members.values()].map((member) => member.subscriber);
  }

  #frame(member: Member, frames: PushFrames): string {
    if (member.subscriber.compact) return frames.compact();
    const head = member.head ??= frameHead(member.subscriber.id, member.channels);
    return head + frames.tail();
  }

  #push(
    member: Member,
    frames: PushFrames,
    channel: string,
    offset: number | undefined,
    report: DeliveryReport,
  ): boolean {
    if (
      offset !== undefined && member.reached !== undefined && isLate(member, channel, offset)
    ) {
      return false;
    }
    if (this.#send(member, this.#frame(member, frames), channel, offset)) {
      report.delivered++;
      return true;
    }
    report.dropped++;
    return false;
  }

  #send(member: Member, frame: string, channel: string | undefined, offset: number | undefined) {
    const held = member.held;
    if (held === undefined) return member.subscriber.send(frame);
    return holdFrame(member, held, frame, channel, offset, this.#maxHeldChars);
  }

  /** A revoke or delete of `channel` reached `member`: its replay and subscribe in flight end. */
  #end(member: Member, channel: string, how: "revoked" | "deleted"): void {
    if (member.joining?.channel === channel) member.joining.ended = how;
    cancelHeld(member, channel);
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
}
