/**
 * Durable per-channel history on the SQLite store: offsets assigned in memory, pushes committed
 * in batches (one transaction per event-loop turn), a bounded in-memory tail for recoveries.
 */
import type { Channel } from "../channels/store.ts";
import { channelNotFound } from "../channels/failures.ts";
import type { FaultReporter } from "../metrics.ts";
import { storeFault } from "./store_faults.ts";
import type { SqliteChannelStore } from "./sqlite_store.ts";
import type { Receipt } from "../hub/broker.ts";
import {
  DEFAULT_PAGE,
  type HistoryEntry,
  type HistoryPageSize,
  type HistoryRead,
  retainedPage,
  type StoredPush,
} from "../history/log.ts";

/** Most entries of a channel's tail kept in memory. */
const TAIL_ENTRIES = 2048;
/** Most message bytes (UTF-16 units, close enough) of a channel's tail kept in memory. */
const TAIL_CHARS = 1 << 20;
/** How often entries past their TTL are deleted from disk (reads filter by TTL exactly). */
const SWEEP_INTERVAL_MS = 60_000;

interface Stream {
  readonly epoch: string;
  readonly ttlSeconds: number;
  /** Last offset handed out. */
  assigned: number;
  /** Last offset committed (and delivered). */
  committed: number;
  /** Creation time of the last assigned push: kept non-decreasing along offsets. */
  lastTime: number;
  /** The newest committed entries, contiguous, ending at `committed`. */
  tail: HistoryEntry[];
  tailChars: number;
  /** Whether `tail` holds every retained entry (true until the tail drops one). */
  tailWhole: boolean;
}

interface Pending {
  readonly push: StoredPush;
  readonly receipt: Receipt | undefined;
  readonly done: PromiseWithResolvers<void>;
}

/** Options of {@link SqliteHistory}. */
export interface SqliteHistoryOptions {
  readonly store: SqliteChannelStore;
  readonly now: () => number;
  /**
   * Called for each committed push, in offset order, before its publisher is answered. A throw
   * is reported and does not hold the batch: the push is stored, its publisher answered.
   */
  readonly onCommitted: (push: StoredPush, receipt?: Receipt) => void;
  /** Told the outcome of each batch write (`error` undefined when it worked). */
  readonly wrote?: (error?: unknown) => void;
  /** Where a failed delivery or sweep is reported. */
  readonly reportFault?: FaultReporter;
}

/** History of every history channel of one single-node server. */
export class SqliteHistory {
  readonly #store: SqliteChannelStore;
  readonly #now: () => number;
  readonly #onCommitted: (push: StoredPush, receipt?: Receipt) => void;
  readonly #wrote: (error?: unknown) => void;
  readonly #reportFault: FaultReporter;
  readonly #streams = new Map<string, Stream>();
  #pending: Pending[] = [];
  #flushTimer: ReturnType<typeof setImmediate> | undefined;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /** Creates the history over an open store. */
  constructor(options: SqliteHistoryOptions) {
    this.#store = options.store;
    this.#now = options.now;
    this.#onCommitted = options.onCommitted;
    this.#wrote = options.wrote ?? (() => {});
    this.#reportFault = options.reportFault ?? (() => {});
  }

  /**
   * Assigns the next offset to `message` and resolves once it is durable, after
   * `onCommitted` has run for it. Concurrent appends share one commit.
   */
  append(channel: Channel, message: string, json = false, receipt?: Receipt): Promise<number> {
    if (this.#closed) return Promise.reject(new Error("history is closed"));
    const history = channel.history!;
    const stream = this.#stream(channel);
    const offset = ++stream.assigned;
    stream.lastTime = Math.max(stream.lastTime, this.#now());
    const push: StoredPush = {
      channel: channel.name,
      epoch: channel.epoch,
      history,
      offset,
      createdAt: stream.lastTime,
      message,
      ...(json ? { json } : {}),
    };
    const done = Promise.withResolvers<void>();
    this.#pending.push({ push, receipt, done });
    // Once the pushes of this event-loop turn are in: `setTimeout(0)` would wait for the next
    // timer tick (~1–2 ms here), during which every publisher of a history channel waits.
    this.#flushTimer ??= setImmediate(() => this.#flush());
    this.#startSweeper();
    return done.promise.then(() => offset);
  }

  /**
   * The stream's top and, when `since` is given, one page of the retained entries above it:
   * from the in-memory tail when it reaches that far back, else one bounded read from disk.
   */
  read(
    channel: Channel,
    since: number | undefined,
    page: HistoryPageSize = DEFAULT_PAGE,
  ): HistoryRead {
    const history = channel.history!;
    const stream = this.#stream(channel);
    const top = stream.committed;
    if (since === undefined || since >= top) {
      // A future offset is not recoverable: that position never existed in this epoch.
      return { top, entries: [], complete: since === top };
    }
    const { tail } = stream;
    const first = tail[0];
    let entries: readonly HistoryEntry[];
    if (first !== undefined && (first.offset <= since + 1 || stream.tailWhole)) {
      // The tail is contiguous: the entry above `since` sits at a known index.
      const start = Math.max(0, since + 1 - first.offset);
      entries = tail.slice(start, start + page.limit);
    } else {
      entries = this.#store.readHistory(channel.name, since, page);
    }
    return retainedPage(entries, since, top, history, this.#now(), page);
  }

  /** Forgets a deleted channel's stream (its rows went with the channel). */
  forget(name: string): void {
    this.#streams.delete(name);
  }

  /** Commits what is pending, then stops. */
  close(): void {
    this.#flush();
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  #stream(channel: Channel): Stream {
    let stream = this.#streams.get(channel.name);
    if (stream === undefined || stream.epoch !== channel.epoch) {
      const top = this.#store.topOffset(channel.name, channel.epoch);
      stream = {
        epoch: channel.epoch,
        ttlSeconds: channel.history!.ttlSeconds,
        assigned: top,
        committed: top,
        lastTime: 0,
        tail: [],
        tailChars: 0,
        // After a restart the tail starts empty: reads below it go to disk.
        tailWhole: top === 0,
      };
      this.#streams.set(channel.name, stream);
    }
    return stream;
  }

  #flush(): void {
    if (this.#flushTimer !== undefined) clearImmediate(this.#flushTimer);
    this.#flushTimer = undefined;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    let stored: boolean[];
    try {
      stored = this.#store.appendHistory(batch.map((p) => p.push));
    } catch (error) {
      // Nothing of the batch was stored: hand its offsets out again, so the stream has no gap.
      for (const { push } of batch) {
        const stream = this.#streams.get(push.channel);
        if (stream !== undefined && stream.epoch === push.epoch) stream.assigned = stream.committed;
      }
      this.#wrote(error);
      const answer = storeFault(error) ?? error;
      for (const { done } of batch) done.reject(answer);
      return;
    }
    this.#wrote();
    for (const [i, { push, receipt, done }] of batch.entries()) {
      if (!stored[i]) {
        done.reject(channelNotFound(push.channel));
        continue;
      }
      const stream = this.#streams.get(push.channel);
      if (stream !== undefined && stream.epoch === push.epoch) this.#remember(stream, push);
      // Runs in setImmediate: a throw here would leave this and every later publisher of the
      // batch waiting forever. The push is durable; subscribers who missed it can recover it.
      try {
        this.#onCommitted(push, receipt);
      } catch (error) {
        this.#reportFault("history delivery", error);
      }
      done.resolve();
    }
  }

  #remember(stream: Stream, push: StoredPush): void {
    stream.committed = push.offset;
    stream.tail.push(
      push.json === true
        ? { offset: push.offset, createdAt: push.createdAt, message: push.message, json: true }
        : { offset: push.offset, createdAt: push.createdAt, message: push.message },
    );
    stream.tailChars += push.message.length;
    const keep = Math.min(push.history.size, TAIL_ENTRIES);
    while (
      stream.tail.length > keep || (stream.tailChars > TAIL_CHARS && stream.tail.length > 1)
    ) {
      const dropped = stream.tail.shift()!;
      stream.tailChars -= dropped.message.length;
      // Past `size` the entry is no longer retained anyway; otherwise only disk has it now.
      if (dropped.offset > push.offset - push.history.size) stream.tailWhole = false;
    }
  }

  #startSweeper(): void {
    if (this.#sweepTimer !== undefined) return;
    const timer = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS);
    Deno.unrefTimer(timer);
    this.#sweepTimer = timer;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [name, stream] of this.#streams) {
      try {
        this.#store.trimHistoryOlderThan(name, now - stream.ttlSeconds * 1000);
      } catch (error) {
        // The next sweep tries again; reads filter by TTL meanwhile.
        this.#reportFault("history sweep", error);
        return;
      }
    }
  }
}
