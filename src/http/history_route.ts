/**
 * `READ_HISTORY` (v1.2 "History read"): a history channel's retained pushes for a publisher's
 * backend, paged by `since`/`limit`, with each push's acceptance time.
 */
import type { Channel } from "../channels/store.ts";
import { PushError } from "../errors.ts";
import type { HistoryEntry, HistoryRead } from "../history/log.ts";
import { serverAck } from "../protocol/outbound.ts";

/** Where a read starts: a position seen before (offset and epoch), as in SUBSCRIBE. */
export interface ReadSince {
  readonly offset: number;
  readonly epoch: string;
}

/** One page of a channel's history. */
export interface HistoryPage {
  readonly top: number;
  /** Oldest first, at most `limit`. */
  readonly entries: readonly HistoryEntry[];
  /** With `since`: whether everything after it is still retained (absent without `since`). */
  readonly recovered?: boolean;
}

/** Reads a channel's stream the way the brokers do (`HistoryRead` of everything above `since`). */
export type ReadStream = (channel: Channel, since: number) => Promise<HistoryRead>;

/**
 * The page after `since` (every retained push without it), at most `limit`, oldest first. Kept
 * to one stream read so it can switch to a paged read of the store (`read(channel, from, limit)`)
 * without changing the answer.
 */
export async function readPage(
  read: ReadStream,
  channel: Channel,
  options: { since: ReadSince | undefined; limit: number },
): Promise<HistoryPage> {
  if (channel.history === null) {
    throw new PushError("no_history", `The channel "${channel.name}" has no history`);
  }
  const { since, limit } = options;
  if (since === undefined) {
    const all = await read(channel, 0);
    return { top: all.top, entries: all.entries.slice(0, limit) };
  }
  if (since.epoch !== channel.epoch) {
    // Another epoch: nothing after that position exists in this stream; only the top is read.
    const { top } = await read(channel, Number.MAX_SAFE_INTEGER);
    return { top, entries: [], recovered: false };
  }
  const after = await read(channel, since.offset);
  // `complete` is false when since.offset is above the top or entries after it were trimmed.
  if (!after.complete) return { top: after.top, entries: [], recovered: false };
  return { top: after.top, entries: after.entries.slice(0, limit), recovered: true };
}

/** The `History` ack of a page. */
export function historyAck(channel: Channel, page: HistoryPage): string {
  const publications = page.entries.map((entry) => ({
    offset: entry.offset,
    message: entry.json === true ? JSON.parse(entry.message) as unknown : entry.message,
    time: new Date(entry.createdAt).toISOString(),
  }));
  return serverAck("History", channel.name, null, {
    epoch: channel.epoch,
    offset: page.top,
    publications,
    ...(page.recovered === undefined ? {} : { recovered: page.recovered }),
  });
}
