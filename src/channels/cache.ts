/**
 * The one cache of channel records and verified token digests, over any {@link ChannelStore}.
 * It is never the authority for a write: every token-checked action is a compare-and-set in the
 * store against the cached record. Two kinds, chosen by the backend:
 * - **complete**: every record of a store whose only writer is this process (single node). It
 *   is loaded at start and changed only by this process's own writes, so a miss means "no such
 *   channel" and lookups need no I/O.
 * - **partial**: the records this node looked at, in a store other nodes write too (cluster).
 *   Entries are dropped by the events every node receives (deleted, rotated); it is only filled
 *   while that event subscription is up (`live`), and emptied when it drops. A miss means "ask
 *   the store".
 */
import { PushError } from "../errors.ts";
import { type Channel, sameRecord } from "./store.ts";

/** Most records a partial cache keeps (oldest inserted go first). */
const MAX_ENTRIES = 100_000;

/** A cached record. */
export interface CacheEntry {
  readonly channel: Channel;
  /** SHA-256 of the token once bcrypt accepted it against `channel.tokenHash`. */
  readonly verifiedDigest: Uint8Array | undefined;
}

interface Mark {
  readonly generation: number;
  readonly invalidations: number;
}

/** Options of {@link ChannelCache}. */
export interface ChannelCacheOptions {
  /** Every record of a store only this process writes: the cache is complete. */
  readonly records?: Iterable<Channel>;
  /** Most records a partial cache keeps. */
  readonly maxEntries?: number;
  /** The 503 a partial cache answers while it is not live and a record is asked of it. */
  readonly offline?: () => PushError;
}

/** Channel records by name, with a way to tell that an answer read from the store went stale. */
export class ChannelCache {
  readonly #entries = new Map<string, CacheEntry>();
  /** Invalidations per name, counted only while some read is in flight. */
  readonly #invalidations = new Map<string, number>();
  readonly #maxEntries: number;
  readonly #offline: () => PushError;
  #generation = 0;
  #readers = 0;
  /** Whether the cache holds every record (a miss means the channel does not exist). */
  readonly complete: boolean;
  /** Whether the event subscription is up (otherwise a partial cache holds nothing). */
  live: boolean;

  /**
   * A complete cache of `options.records` (the store's only writer is this process) or, without
   * them, a partial one that is not live until the backend's event subscription is up.
   */
  constructor(options: ChannelCacheOptions = {}) {
    this.complete = options.records !== undefined;
    this.live = this.complete;
    this.#maxEntries = this.complete
      ? Number.POSITIVE_INFINITY
      : (options.maxEntries ?? MAX_ENTRIES);
    this.#offline = options.offline ??
      (() => new PushError("unavailable", "The channel store is reconnecting; retry shortly"));
    for (const channel of options.records ?? []) {
      this.#entries.set(channel.name, { channel, verifiedDigest: undefined });
    }
  }

  /** The cached entry of `name`. */
  get(name: string): CacheEntry | undefined {
    return this.#entries.get(name);
  }

  /**
   * The cached record of `name` for a subscriber lookup: `undefined` from a complete cache means
   * no such channel, `null` from a partial one means "read the store". Throws 503 while a partial
   * cache is not live (events may have been lost: what the store says now may already be stale).
   */
  known(name: string): Channel | undefined | null {
    const entry = this.#entries.get(name);
    if (entry !== undefined || this.complete) return entry?.channel;
    if (!this.live) throw this.#offline();
    return null;
  }

  /** How many records are cached. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Runs `read` (which asks the store, or bcrypt) and tells whether an event about `name`
   * arrived meanwhile (`stale`: the answer may predate it, so it must not be cached). A caller
   * that caches does so right after this resolves, before any other event can be handled.
   */
  async guard<T>(name: string, read: () => Promise<T>): Promise<{ value: T; stale: boolean }> {
    const mark: Mark = {
      generation: this.#generation,
      invalidations: this.#invalidations.get(name) ?? 0,
    };
    this.#readers++;
    try {
      const value = await read();
      const stale = mark.generation !== this.#generation ||
        (this.#invalidations.get(name) ?? 0) !== mark.invalidations;
      return { value, stale };
    } finally {
      if (--this.#readers === 0) this.#invalidations.clear();
    }
  }

  /**
   * Remembers `channel` as read from the store (and the digest bcrypt accepted for it); a digest
   * verified for the same record is kept. Only call it with a record read under a
   * {@link guard} that was not stale. A complete cache only takes the digest of the record it
   * holds: its records change through this process's own writes alone ({@link wrote}).
   */
  remember(channel: Channel, verifiedDigest?: Uint8Array): void {
    if (!this.live) return;
    const old = this.#entries.get(channel.name);
    const same = old !== undefined && sameRecord(old.channel, channel);
    if (this.complete && !same) return;
    this.#entries.delete(channel.name);
    this.#entries.set(channel.name, {
      channel: same ? old.channel : channel,
      verifiedDigest: verifiedDigest ?? (same ? old.verifiedDigest : undefined),
    });
    if (this.#entries.size > this.#maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }

  /**
   * Records this process's own successful write of `channel` (created, or given a new token
   * hash). A complete cache always takes it: with no other writer, the write's answer is the
   * truth. A partial one takes it only when no event about the name arrived during the write.
   */
  wrote(channel: Channel, verifiedDigest: Uint8Array, stale: boolean): void {
    if (stale && !this.complete) return;
    if (!this.live) return;
    this.#entries.delete(channel.name);
    this.#entries.set(channel.name, { channel, verifiedDigest });
  }

  /** Forgets `name` (deleted by this process, or an event said it changed). */
  invalidate(name: string): void {
    this.#entries.delete(name);
    if (this.#readers > 0) {
      this.#invalidations.set(name, (this.#invalidations.get(name) ?? 0) + 1);
    }
  }

  /**
   * The store refused a compare-and-set against the cached record of `name`: a partial cache
   * drops it so the next check reads the store. A complete one is already current (the write
   * that changed the record was this process's own).
   */
  disputed(name: string): void {
    if (!this.complete) this.invalidate(name);
  }

  /** Forgets `name` unless its cached record already has `tokenHash` (this node rotated it). */
  rotated(name: string, tokenHash: string): void {
    const entry = this.#entries.get(name);
    // Reads in flight may hold the record from before the rotation: they count it either way.
    this.invalidate(name);
    if (entry?.channel.tokenHash === tokenHash) this.#entries.set(name, entry);
  }

  /** Forgets everything and stops caching (the event subscription dropped: events may be lost). */
  reset(): void {
    this.live = false;
    this.#entries.clear();
    this.#generation++;
  }
}
