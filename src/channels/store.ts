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
  /** Releases the store; later calls fail. */
  close(): void;
}

/** A fresh epoch: 8 random bytes as 16 hex characters. */
export function newEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
