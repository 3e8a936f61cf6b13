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

/** The answer to "what did I miss since `offset`?". */
export interface HistoryRead {
  /** The stream's top offset (0 before the first push). */
  readonly top: number;
  /** Retained entries above the asked offset, oldest first (empty when none was asked). */
  readonly entries: readonly HistoryEntry[];
  /** Whether `entries` holds every push above the asked offset (none was trimmed away). */
  readonly complete: boolean;
}

/**
 * The retained part of `entries` (sorted by offset, contiguous up to `top`): the newest
 * `size` that are younger than `ttlSeconds` at `now`, and whether everything above `since`
 * is among them. Shared by every history backend so retention means the same everywhere.
 */
export function retained(
  entries: readonly HistoryEntry[],
  since: number,
  top: number,
  options: HistoryOptions,
  now: number,
): HistoryRead {
  const oldestOffset = top - options.size + 1;
  const oldestTime = now - options.ttlSeconds * 1000;
  if (since > top) return { top, entries: [], complete: false };
  const kept = entries.filter((entry) =>
    entry.offset > since && entry.offset >= oldestOffset && entry.createdAt >= oldestTime
  );
  const complete = since === top ||
    (kept.length === top - since && kept[0]?.offset === since + 1);
  return { top, entries: kept, complete };
}
