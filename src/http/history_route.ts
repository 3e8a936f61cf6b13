/**
 * `READ_HISTORY` (v1.2 "History read"): a history channel's retained pushes for a publisher's
 * backend, paged by `since`/`limit`, with each push's acceptance time.
 */
import type { Channel } from "../channels/store.ts";
import { PushError } from "../errors.ts";
import type { HistoryEntry, HistoryPageSize, HistoryRead } from "../history/log.ts";
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

/** Reads one page of a channel's stream the way the brokers do (everything above `since`). */
export type ReadStream = (
  channel: Channel,
  since: number,
  page: HistoryPageSize,
) => Promise<HistoryRead>;

/**
 * Most message characters one answer carries: `limit` × `MAX_MESSAGE_BYTES` could be 64 MiB, so
 * a page of large messages stops earlier (at least one entry); the caller reads on from its last
 * offset, as with any page.
 */
const MAX_PAGE_BYTES = 8 << 20;

/**
 * The page after `since` (the oldest retained pushes without it), at most `limit`, oldest first,
 * read from the store one page at a time.
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
  const page = { limit, maxBytes: MAX_PAGE_BYTES };
  if (since === undefined) {
    const from = await oldestRetained(read, channel, page);
    const all = await read(channel, from, page);
    return { top: all.top, entries: all.entries };
  }
  if (since.epoch !== channel.epoch) {
    // Another epoch: nothing after that position exists in this stream; only the top is read.
    const { top } = await read(channel, Number.MAX_SAFE_INTEGER, page);
    return { top, entries: [], recovered: false };
  }
  const after = await read(channel, since.offset, page);
  // `complete` is false when since.offset is above the top or entries after it were trimmed.
  if (!after.complete) return { top: after.top, entries: [], recovered: false };
  return { top: after.top, entries: after.entries, recovered: true };
}

/**
 * The offset right below the oldest retained push: retention by size keeps at most the newest
 * `size`, and retention by age trims from the oldest on, so the first offset whose read is
 * complete is found by bisection (a few one-entry reads, never the whole range).
 */
async function oldestRetained(
  read: ReadStream,
  channel: Channel,
  page: HistoryPageSize,
): Promise<number> {
  const probe = { limit: 1, maxBytes: page.maxBytes };
  const { top } = await read(channel, Number.MAX_SAFE_INTEGER, probe);
  let low = Math.max(0, top - channel.history!.size);
  if ((await read(channel, low, probe)).complete) return low;
  // Invariant: reading from `low` is incomplete, from `high` (the top: nothing above) complete.
  let high = top;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if ((await read(channel, middle, probe)).complete) high = middle;
    else low = middle;
  }
  return high;
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
