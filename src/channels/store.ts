/** Durable channel storage: the interface every backend implements. */

/** Retention of a channel's history: the newest `size` pushes younger than `ttlSeconds`. */
export interface HistoryOptions {
  readonly size: number;
  readonly ttlSeconds: number;
}

/** The options a publisher chooses at create (v1.1); both absent = a v1 channel. */
export interface ChannelOptions {
  /** Subscribing needs a grant from a publisher. */
  readonly private: boolean;
  /** Stored pushes with offsets, for recovery; `null` = no history. */
  readonly history: HistoryOptions | null;
  /**
   * Presence channel (v1.2): members with `info`, `Joined`/`Left` frames, member lists.
   * Absent = false, so v1/v1.1 records (and their literals) stay as they were.
   */
  readonly presence?: boolean;
}

/** A stored channel. Only the bcrypt hash of its token is ever kept. */
export interface Channel extends ChannelOptions {
  readonly name: string;
  readonly tokenHash: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  /**
   * Opaque and new for every created channel: a deleted and re-created channel has another one.
   * It is the history's epoch, and the generation that ties a token check to the record it
   * checked (a delete or rotate acts only on that record).
   */
  readonly epoch: string;
}

/** What {@link ChannelStore.page} reads. */
export interface ChannelPageQuery {
  readonly prefix: string;
  /** The last name of the previous page (exclusive); absent for the first page. */
  readonly after?: string | undefined;
  readonly limit: number;
}

/**
 * The least string above every string that starts with `prefix` (`undefined` for "" or when
 * no such string exists), so that `prefix <= name < prefixEnd(prefix)` is an index range.
 * Code point order, which is the byte order of UTF-8 (SQLite's BINARY, Redis's BYLEX).
 */
export function prefixEnd(prefix: string): string | undefined {
  const points = [...prefix];
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      // Lone surrogates are refused as channel names, so the next code point skips them.
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return points.join("") + String.fromCodePoint(next);
    }
  }
  return undefined;
}

/** What {@link ChannelStore.insert} did: stored, the name was taken, or the store is full. */
export type InsertResult = "ok" | "taken" | "full";

/**
 * What a compare-and-set write found: `done`; `gone`, no channel of that name; `changed`, the
 * stored record is another one (deleted and re-created, or its token rotated) than expected.
 */
export type WriteResult = "done" | "gone" | "changed";

/**
 * Where channels live: the one interface every backend implements (SQLite, Redis). Methods are
 * async so a networked store needs no caller changes; writes resolve once the change is durable
 * (as the backend defines it). Every write that acts on an existing channel is a compare-and-set
 * on the record the caller checked a token against (its epoch and token hash), so a token that
 * was rotated away, or whose channel was deleted, never acts again, whichever process changed it.
 * A store fault (disk full, I/O error, Redis unreachable) rejects with the 503 `unavailable`
 * {@link PushError}; the rules above it never see a driver error.
 */
export interface ChannelStore {
  /**
   * Adds `channel` unless its name is taken (`taken`) or the store already holds `max` channels
   * (`full`); a taken name is `taken` even when the store is full.
   */
  insert(channel: Channel, max: number): Promise<InsertResult>;
  /** The stored record of `name`, if any. */
  get(name: string): Promise<Channel | undefined>;
  /** Deletes `expected` and its history if it is still the stored record. */
  delete(expected: Channel): Promise<WriteResult>;
  /** Gives `expected` the token hash `tokenHash` if it is still the stored record. */
  rotate(expected: Channel, tokenHash: string): Promise<WriteResult>;
  /** Every channel name, oldest first. */
  names(): Promise<string[]>;
  /** How many channels the store holds. */
  count(): Promise<number>;
  /**
   * Up to `limit` channels whose names start with `prefix` (literal, case-sensitive) and sort
   * after `after` (when given), in ascending name order (by code point, as UTF-8 bytes sort).
   * Reads one index range: never a scan of every channel, however many there are.
   */
  page(query: ChannelPageQuery): Promise<Channel[]>;
  /** Releases the store; later calls fail. */
  close(): void;
}

/** Whether two records are the same generation with the same token hash. */
export function sameRecord(a: Channel, b: Channel): boolean {
  return a.epoch === b.epoch && a.tokenHash === b.tokenHash;
}

/** A fresh epoch: 8 random bytes as 16 hex characters. */
export function newEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
