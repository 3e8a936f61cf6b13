/**
 * Presence (v1.2 "Presence"): who is on a channel. The rules are here, written once; where the
 * members live is a backend's business (src/local/local_channel_presence.ts in this process,
 * src/cluster/redis_channel_presence.ts in Redis), both behind {@link ChannelPresence}.
 *
 * Rules: a member is a (channel, connection) pair of a presence channel with its `info`. Each join
 * and leave (subscribe, unsubscribe, revoke, expiry, disconnect, a dead node's expiry) is told to
 * the channel's OTHER local subscribers on every node as a `CLIENT_PRESENCE` frame, unless the
 * membership it happened in (the mover included) is above `PRESENCE_EVENTS_MAX`. A delete
 * forgets the members without `Left` frames (its subscribers get `Channel Deleted`).
 */
import type { Channel } from "../channels/store.ts";
import { PushError } from "../errors.ts";
import {
  PRESENCE_LIST_MAX,
  type PresenceChange,
  presenceFrame,
  type PresenceMember,
  type PresenceSnapshot,
} from "../protocol/presence.ts";
import type { Logger } from "../log.ts";
import type { Hub } from "./hub.ts";
import type { Maybe } from "./lookup.ts";

export type { PresenceMember, PresenceSnapshot };
/** Most members a read lists (the backends keep to it; they import no protocol/). */
export { PRESENCE_LIST_MAX };

/**
 * What the backend tells the rest of the server (webhooks): each fires once per change, on the
 * one node where it was decided (the member's node, or the node that found a dead node's
 * members expired). `info` is the member's JSON text.
 */
export interface PresenceHooks {
  /** A member joined a presence channel. */
  onJoined?(channel: string, uuid: string, info: string): void;
  /**
   * A member left a presence channel: unsubscribe, revoke, expiry, disconnect, a dead node, or
   * (without a `Left` frame) the channel's delete.
   */
  onLeft?(channel: string, uuid: string, info: string): void | Promise<void>;
  /** Any channel got its first subscriber (cluster-wide in cluster mode). */
  onOccupied?(channel: string): void;
  /** Any channel lost its last subscriber, or was deleted while it had some. */
  onVacated?(channel: string): void;
}

/** Settings every backend shares. */
export interface ChannelPresenceOptions {
  /** `PRESENCE_MAX_MEMBERS`: a join past it is 429. */
  readonly maxMembers: number;
  /** `PRESENCE_EVENTS_MAX`: above this many members no `Joined`/`Left` frames. */
  readonly eventsMax: number;
  readonly hooks?: PresenceHooks | undefined;
}

/**
 * Members of presence channels and subscriber counts of every channel, for one node. Every
 * method is safe to call for a connection or channel it does not know (a no-op).
 */
export interface ChannelPresence {
  /**
   * Adds `member` to presence `channel` (idempotent: a member joins once) and answers the
   * count, the member included. Throws 429 when the channel holds `maxMembers` already. The
   * connection must be subscribed in the hub first: leaving is driven by the hub.
   */
  join(channel: string, member: PresenceMember): Maybe<number>;
  /** The hub subscribed `id` to `channel` (any channel: counts). */
  subscribed(channel: string, id: string): void;
  /**
   * The hub unsubscribed `id` from `channel` other than by a delete (a member leaves). May
   * return a promise that settles (never rejects) once the leave is in force everywhere and its
   * hooks are done (a webhook event written), so that the `Unsubscribed` ack follows it.
   */
  unsubscribed(channel: string, id: string): Promise<void> | void;
  /** `channel` was deleted: its members here are forgotten, without `Left` frames. */
  dropped(channel: string): void;
  /**
   * Cluster-wide: members of a presence channel (at most 1,000 listed), or the live
   * subscribers of any other channel (`members: []`).
   */
  read(channel: Channel): Maybe<PresenceSnapshot>;
  /** Members held by this node's connections (the `/metrics` gauge). */
  readonly localMembers: number;
  /** Stops timers and forgets this node's members. */
  close(): Promise<void>;
}

/** A join or leave, as it travels to every node. */
export interface PresenceEvent {
  readonly change: PresenceChange;
  readonly channel: string;
  readonly member: PresenceMember;
  /** Members of the channel the change happened in: after a join, before a leave. */
  readonly members: number;
}

/**
 * Tells this node's other subscribers of the channel about `event` (the rule of
 * `PRESENCE_EVENTS_MAX`, and never the mover itself). Returns the frames sent.
 */
/**
 * Runs a presence hook for a backend: a throw or a rejection is logged, never passed on to the
 * membership change that caused it; a promise (a webhook event being written) is returned.
 */
export function runHook(
  logger: Logger | undefined,
  call: () => void | Promise<void>,
): Promise<void> | void {
  try {
    const done = call();
    if (done instanceof Promise) {
      return done.catch((error) => logger?.error("presence hook failed", { error }));
    }
  } catch (error) {
    logger?.error("presence hook failed", { error });
  }
}

export function announce(hub: Hub, event: PresenceEvent, eventsMax: number): number {
  if (event.members > eventsMax) return 0;
  return hub.sendToChannel(
    event.channel,
    presenceFrame(event.change, event.channel, event.member),
    event.member.uuid,
  );
}

/** The 429 of a join past `PRESENCE_MAX_MEMBERS`. */
export function presenceFull(channel: string, max: number): PushError {
  return new PushError(
    "too_many_requests",
    `The presence channel ${JSON.stringify(channel)} has ${max} members; the limit is ${max}`,
  );
}
