/**
 * Where webhook events wait until the receiver acknowledges them: a SQLite table on a single
 * node (src/local/sqlite_outbox.ts), a Redis stream in a cluster (src/cluster/redis_outbox.ts).
 */
import type { WebhookEvent } from "./events.ts";

/** A delivery formed from pending events: sent, and retried, with this id and body. */
export interface StoredDelivery {
  readonly id: string;
  /** The exact bytes that are signed and POSTed (the same on every attempt). */
  readonly body: string;
  /** When it was formed, ms since the epoch: the retry window runs from here. */
  readonly createdMs: number;
  /** Failed attempts so far. */
  readonly attempts: number;
  /** Not to be attempted before this time (ms since the epoch). */
  readonly nextMs: number;
  /** How many events it carries. */
  readonly events: number;
  /** The time of its oldest event (delivery latency is measured from it). */
  readonly oldestMs: number;
}

/** Pending events that are not in a delivery yet. */
export interface PendingEvents {
  readonly count: number;
  /** The oldest one's time (ms since the epoch), when there is one. */
  readonly oldestMs: number | undefined;
}

/**
 * Durable, ordered storage of events and of the one delivery in progress. Every write resolves
 * once it is durable. Appends made one after another keep their order. Occupancy is counted
 * here, so that `occupied` and `vacated` strictly alternate per channel even when several
 * nodes' subscribers come and go at once: the transition and its event are one atomic write.
 */
export interface WebhookOutbox {
  /** Appends `event` after every event appended before it. */
  append(event: WebhookEvent): Promise<void>;
  /** A first local subscriber: appends `channel_occupied` if no node had one (at `timeMs`). */
  occupy(channel: string, timeMs: number): Promise<void>;
  /** A last local subscriber gone: appends `channel_vacated` if no node has one left. */
  vacate(channel: string, timeMs: number): Promise<void>;
  /** A channel deleted: appends `channel_vacated` if it was occupied, then `channel_deleted`. */
  deleted(channel: string, timeMs: number): Promise<void>;
  /**
   * Whether this process sends deliveries now (a single node always; in a cluster the holder
   * of a lease, so exactly one node sends). Called before every attempt.
   */
  lead(): Promise<boolean>;
  /** The delivery in progress, if any. */
  current(): Promise<StoredDelivery | undefined>;
  /** Events not yet in a delivery. */
  pending(): Promise<PendingEvents>;
  /**
   * Moves up to `max` of the oldest pending events into a new delivery whose id and body
   * `build` makes; undefined when there is no event, a delivery is in progress, or the lease
   * was lost meanwhile.
   */
  form(
    max: number,
    timeMs: number,
    build: (events: readonly WebhookEvent[]) => { id: string; body: string },
  ): Promise<StoredDelivery | undefined>;
  /** Records a failed attempt of delivery `id`: its count, and when the next may start. */
  attempted(id: string, attempts: number, nextMs: number): Promise<void>;
  /** Forgets delivery `id` (acknowledged, or dropped after the retry window). */
  finish(id: string): Promise<void>;
  /** Releases what the outbox holds (its lease, its connection); pending events stay. */
  close(): Promise<void>;
}
