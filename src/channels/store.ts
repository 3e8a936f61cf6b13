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

/**
 * Where channels live across restarts. Methods are async so a networked store needs no caller
 * changes. Writes resolve only after the change is durable.
 */
export interface ChannelStore {
  /** Adds a channel; resolves `false` when the name is already taken. */
  insert(channel: Channel): Promise<boolean>;
  /** The channel called `name`, if any. */
  get(name: string): Promise<Channel | undefined>;
  /** Removes the channel if it still has `epoch`; resolves `false` when it did not. */
  delete(name: string, epoch: string): Promise<boolean>;
  /**
   * Replaces the token hash if the channel still has `epoch` and `oldHash` (so two concurrent
   * rotations cannot both win); resolves `false` otherwise.
   */
  replaceTokenHash(name: string, epoch: string, oldHash: string, newHash: string): Promise<boolean>;
  /** Every channel, oldest first. */
  list(): Promise<Channel[]>;
  /**
   * Up to `limit` channels whose names start with `prefix` (literal, case-sensitive) and sort
   * after `after` (when given), in ascending name order (by code point, as UTF-8 bytes sort).
   * Reads one index range: never a scan of every channel, however many there are.
   */
  page(query: ChannelPageQuery): Promise<Channel[]>;
  /** Releases the store; later calls fail. */
  close(): void;
}

/** A fresh epoch: 8 random bytes as 16 hex characters. */
export function newEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
