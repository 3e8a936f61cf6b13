/**
 * A node's cache of channel records and verified token digests in cluster mode. It is never the
 * authority: every token-checked action is a compare-and-set in Redis against the cached record,
 * and entries are dropped by the events every node receives (deleted, rotated). It is only
 * filled while that event subscription is up, and emptied when it drops.
 */
import type { Channel } from "../channels/store.ts";

/** Most records a node keeps (oldest inserted go first). */
const MAX_ENTRIES = 100_000;

interface Entry {
  readonly channel: Channel;
  /** SHA-256 of the token once bcrypt accepted it against `channel.tokenHash`. */
  readonly verifiedDigest: Uint8Array | undefined;
}

interface Mark {
  readonly generation: number;
  readonly invalidations: number;
}

/** Channel records by name, with a way to tell that an answer read from Redis went stale. */
export class ChannelCache {
  readonly #entries = new Map<string, Entry>();
  /** Invalidations per name, counted only while some read is in flight. */
  readonly #invalidations = new Map<string, number>();
  #generation = 0;
  #readers = 0;
  /** Whether the event subscription is up (otherwise nothing is cached). */
  live = false;

  /** The cached entry of `name`. */
  get(name: string): Entry | undefined {
    return this.#entries.get(name);
  }

  /** How many records are cached. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Runs `read` (which asks Redis) and tells whether an event about `name` arrived meanwhile
   * (`stale`: the answer may predate it, so it must not be cached). A caller that caches does
   * so right after this resolves, before any other event can be handled.
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
   * Remembers `channel` (and the digest bcrypt accepted for it); a digest verified for the
   * same record is kept. Only call it with a record read under a {@link guard} that was not stale.
   */
  remember(channel: Channel, verifiedDigest?: Uint8Array): void {
    if (!this.live) return;
    const old = this.#entries.get(channel.name);
    const same = old !== undefined && sameRecord(old.channel, channel);
    this.#entries.delete(channel.name);
    this.#entries.set(channel.name, {
      channel: same ? old.channel : channel,
      verifiedDigest: verifiedDigest ?? (same ? old.verifiedDigest : undefined),
    });
    if (this.#entries.size > MAX_ENTRIES) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }

  /** Forgets `name` (an event said it changed). */
  invalidate(name: string): void {
    this.#entries.delete(name);
    if (this.#readers > 0) {
      this.#invalidations.set(name, (this.#invalidations.get(name) ?? 0) + 1);
    }
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

/** Whether two records are the same generation with the same token hash. */
export function sameRecord(a: Channel, b: Channel): boolean {
  return a.epoch === b.epoch && a.tokenHash === b.tokenHash;
}
