/**
 * What a subscriber connection may ask about channels, whatever transport it came in on and
 * whichever backend answers: the seam between transports and the channel/history backends.
 */
import type { Channel } from "../channels/store.ts";
import type { HistoryPageSize, HistoryRead } from "../history/log.ts";

/** A value now, or later (a networked store answers later). */
export type Maybe<T> = T | Promise<T>;

/** What a connection may ask about channels. */
export interface ChannelLookup {
  /** The channel's current record, if it exists. */
  lookup(name: string): Maybe<Channel | undefined>;
  /** Whether connection `id` holds a grant on private `channel`. */
  isGranted(id: string, channel: Channel): Maybe<boolean>;
  /** A history channel's stream top and one page of what came after `since`. */
  history(
    channel: Channel,
    since: number | undefined,
    page?: HistoryPageSize,
  ): Promise<HistoryRead>;
}
