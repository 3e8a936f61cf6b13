/** Durable channel storage: the interface every backend implements. */

/** A stored channel. Only the bcrypt hash of its token is ever kept. */
export interface Channel {
  readonly name: string;
  readonly tokenHash: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
}

/**
 * Where channels live across restarts. Methods are async so a networked store needs no caller
 * changes. `insert` and `delete` resolve only after the change is durable.
 */
export interface ChannelStore {
  /** Adds a channel; resolves `false` when the name is already taken. */
  insert(channel: Channel): Promise<boolean>;
  /** The channel called `name`, if any. */
  get(name: string): Promise<Channel | undefined>;
  /** Removes the channel; resolves `false` when there was none. */
  delete(name: string): Promise<boolean>;
  /** Every channel, oldest first. */
  list(): Promise<Channel[]>;
  /** Releases the store; later calls fail. */
  close(): void;
}
