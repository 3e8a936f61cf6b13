/** History types shared by the brokers: stored pushes, reads and stream positions. */
import type { HistoryOptions } from "../channels/store.ts";

/** One retained push of a channel's stream. */
export interface HistoryEntry {
  readonly offset: number;
  /** Milliseconds since the epoch, when the push was accepted. */
  readonly createdAt: number;
  /** The string message, or with `json` the JSON text of any other value (v1.2). */
  readonly message: string;
  readonly json?: boolean;
}

/** A push on its way into storage. */
export interface StoredPush extends HistoryEntry {
  readonly channel: string;
  readonly epoch: string;
  readonly history: HistoryOptions;
}

/** Where a channel's stream stands. */
export interface StreamPosition {
  readonly offset: number;
  readonly epoch: string;
}

/** How much one history read may return: a page. */
export interface HistoryPageSize {
  /** Most entries. */
  readonly limit: number;
  /**
   * Most message characters (UTF-16 units, bytes for ASCII); a page holds at least one entry,
   * even one larger than this.
   */
  readonly maxBytes: number;
}

/** The page a read returns when the caller names none: small enough for a quick store read. */
export const DEFAULT_PAGE: HistoryPageSize = { limit: 256, maxBytes: 1 << 20 };

/** No page bound: only for offline tools (a migration copies a whole history). */
export const EVERY_ENTRY: HistoryPageSize = {
  limit: Number.MAX_SAFE_INTEGER,
  maxBytes: Number.POSITIVE_INFINITY,
};

/** The answer to "what did I miss since `offset`?", one page at a time. */
export interface HistoryRead {
  /** The stream's top offset (0 before the first push). */
  readonly top: number;
  /**
   * Retained entries above the asked offset, oldest first, at most one page of them (empty when
   * none was asked, or when they are not all retained). Read on from the last one's offset.
   */
  readonly entries: readonly HistoryEntry[];
  /** Whether every push above the asked offset is retained (then `entries` starts right above it). */
  readonly complete: boolean;
}

/** The characters of one entry that count against a page's `maxBytes`. */
export function entryBytes(entry: HistoryEntry): number {
  return entry.message.length;
}

/**
 * One page of the retained part of a stream above `since`: `entries` are the stored entries
 * from `since + 1` on (sorted by offset, contiguous up to `top`; a backend may pass more than a
 * page, or fewer when its store ends). Retention is the newest `size` that are younger than
 * `ttlSeconds` at `now`; a stream is `complete` when the entry right above `since` is retained
 * (offsets and times only grow, so then all above it are). Incomplete reads return no entries.
 * Shared by every history backend so retention and paging mean the same everywhere.
 */
export function retainedPage(
  entries: readonly HistoryEntry[],
  since: number,
  top: number,
  options: HistoryOptions,
  now: number,
  page: HistoryPageSize = DEFAULT_PAGE,
): HistoryRead {
  if (since >= top) return { top, entries: [], complete: since === top };
  const oldestOffset = top - options.size + 1;
  const oldestTime = now - options.ttlSeconds * 1000;
  const first = entries[0];
  const complete = first !== undefined && first.offset === since + 1 &&
    first.offset >= oldestOffset && first.createdAt >= oldestTime;
  if (!complete) return { top, entries: [], complete: false };
  const kept: HistoryEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (
      kept.length >= page.limit || (kept.length > 0 && bytes + entryBytes(entry) > page.maxBytes)
    ) {
      break;
    }
    kept.push(entry);
    bytes += entryBytes(entry);
  }
  return { top, entries: kept, complete };
}
