/** What the hub keeps per connection: its subscriptions, a replay's hold, a subscribe in flight. */
import type { Subscriber } from "./hub.ts";

/** Frames held back while a recovery replays, released after it (`_held.ts`). */
export interface Held {
  readonly channel: string;
  frames: { frame: string; channel: string | undefined; offset: number | undefined }[];
  chars: number;
  /** Live pushes of the recovering channel left out for room: the replay reads them instead. */
  dropped: boolean;
  /** A revoke or delete of the recovering channel ended the replay. */
  cancelled: boolean;
}

/** A subscribe in flight (its channel and grant are being checked) and what ended it meanwhile. */
export interface Joining {
  readonly channel: string;
  ended: "revoked" | "deleted" | undefined;
}

/** One registered connection. */
export interface Member {
  readonly subscriber: Subscriber;
  /** Subscribed channels in subscription order. */
  channels: string[];
  /** Cached head of this member's v1 push frames; rebuilt lazily after `channels` changes. */
  head: string | undefined;
  held: Held | undefined;
  joining: Joining | undefined;
  /**
   * Per recovered channel, the offset the connection's stream already reached: a live push at
   * or below it arrived late (in cluster mode pub/sub can trail the history read) and is skipped.
   * An entry goes once a live push reaches it. `undefined` (almost always): none.
   */
  reached: Map<string, number> | undefined;
}

/** A member with no subscriptions, nothing held and nothing in flight. */
export function newMember(subscriber: Subscriber): Member {
  return {
    subscriber,
    channels: [],
    head: undefined,
    held: undefined,
    joining: undefined,
    reached: undefined,
  };
}
