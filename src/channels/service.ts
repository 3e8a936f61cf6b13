/**
 * Channel rules (unique names, token checks, options, rotation) over a compare-and-set
 * {@link ChannelStore}, a {@link ChannelCache} and a hasher: written once for every backend. The
 * cache only saves work: a token is checked against a record, and the action is a compare-and-set
 * on that record in the store, so no stale cache entry ever lets a deleted channel or a
 * rotated-away token act.
 */
import { PushError } from "../errors.ts";
import type { FaultReporter } from "../metrics.ts";
import type { ChannelCache } from "./cache.ts";
import {
  channelNotFound,
  channelsFull,
  channelTaken,
  recordReplaced,
  tokenInvalid,
} from "./failures.ts";
import {
  type Channel,
  type ChannelOptions,
  type ChannelStore,
  newEpoch,
  sameRecord,
  type WriteResult,
} from "./store.ts";
import { checkKey, TokenGate } from "./token_gate.ts";
import { newToken, sameDigest, tokenDigest, type TokenHasher } from "./tokens.ts";

/** A created channel and its token (the only time the token is ever visible). */
export interface CreatedChannel {
  readonly channel: Channel;
  readonly token: string;
}

/** A value now, or later (a networked store answers later). */
type Maybe<T> = T | Promise<T>;

/** What publishers can do to channels, and what subscribers may ask about them. */
export interface ChannelService {
  /** Creates `name`; 409 when taken, 507 past `maxChannels`. */
  create(name: string, options: ChannelOptions): Promise<CreatedChannel>;
  /**
   * Checks `token` against `name`: 404 when missing, 401 when `token` is null, 403 when wrong.
   * Resolves with the record the token was checked against: an action acts on that record only.
   * `source` (the caller's address) is who pays for a bcrypt check in the fair token gate.
   */
  authorize(name: string, token: string | null, source?: string): Promise<Channel>;
  /** Ping: with a null token only existence is checked (always against the store's answer). */
  ping(name: string, token: string | null, source?: string): Promise<Channel>;
  /** Deletes `name` after checking its token; resolves once the deletion is durable. */
  delete(name: string, token: string | null, source?: string): Promise<Channel>;
  /** Gives `name` a new token after checking the current one; the old one stops working. */
  rotate(name: string, token: string | null, source?: string): Promise<string>;
  /** The operator's way out of a lost token: delete without one. */
  forceDelete(name: string): Promise<Channel>;
  /** The operator's way out of a lost token: a new token without the old one. */
  forceRotate(name: string): Promise<string>;
  /**
   * The current record of `name` for a subscriber: from the cache when it can answer (no I/O on
   * a single node), else from the store. 503 while a partial cache cannot be trusted.
   */
  lookup(name: string): Maybe<Channel | undefined>;
  /** Every channel name, oldest first. */
  names(): Promise<string[]>;
  /** How many channels exist, as last counted. */
  readonly size: number;
  /** Counts the channels again (others may have created or deleted some). */
  recount(): Promise<void>;
}

/**
 * Who hears that a channel was created or deleted (the webhooks' `channel_created` and
 * `channel_deleted`): told after the store's write and before the action is answered, by every
 * path (delete, forced delete). It must not throw: a failure is its own to report.
 */
export interface ChannelLifecycle {
  created(name: string): Promise<void>;
  deleted(name: string): Promise<void>;
}

/** Options of {@link createChannelService}. */
export interface ChannelServiceOptions {
  readonly store: ChannelStore;
  /** The backend's cache: complete over a store only this process writes, else partial. */
  readonly cache: ChannelCache;
  readonly hasher: TokenHasher;
  /** Most bcrypt verifications waiting or running at once; past it, callers get 429. */
  readonly maxTokenChecks: number;
  /** Most channels; creating one more is 507. */
  readonly maxChannels?: number;
  /** Schedules bcrypt verifications fairly across sources (default: one from maxTokenChecks). */
  readonly tokenGate?: TokenGate;
  readonly now?: () => number;
  readonly generateToken?: () => string;
  /** Where a failed recount is reported (default: nowhere; the count stays as it was). */
  readonly reportFault?: FaultReporter;
  /** Told of every create and delete before it is answered (default: nobody). */
  readonly lifecycle?: ChannelLifecycle | undefined;
}

/** How often a forced action re-reads a record that other writers keep changing. */
const FORCED_ATTEMPTS = 3;
/** How often a subscriber lookup re-reads a record that changed while it was read. */
const LOOKUP_ATTEMPTS = 3;

/** Counts the store's channels and returns the service over the store and the cache. */
export async function createChannelService(
  options: ChannelServiceOptions,
): Promise<ChannelService> {
  const { store, cache, hasher } = options;
  const maxChannels = options.maxChannels ?? Number.MAX_SAFE_INTEGER;
  const now = options.now ?? Date.now;
  const generateToken = options.generateToken ?? newToken;
  const reportFault = options.reportFault ?? (() => {});
  const lifecycle = options.lifecycle;
  const gate = options.tokenGate ??
    new TokenGate({ lanes: 2, maxPending: options.maxTokenChecks });
  let count = await store.count();

  async function recount(): Promise<void> {
    try {
      count = await store.count();
    } catch (error) {
      reportFault("channel count", error);
    }
  }

  /** Reads the record from the store (never the cache) and caches it if nothing changed meanwhile. */
  async function fetch(name: string): Promise<Channel | undefined> {
    const { value, stale } = await cache.guard(name, () => store.get(name));
    if (value !== undefined && !stale) cache.remember(value);
    return value;
  }

  /** The record of `name` as the store has it now: a complete cache is the store's answer. */
  function current(name: string): Maybe<Channel | undefined> {
    return cache.complete ? cache.get(name)?.channel : fetch(name);
  }

  function bcrypt(
    token: string,
    digest: Uint8Array,
    channel: Channel,
    source: string | undefined,
  ): Promise<boolean> {
    const { tokenHash } = channel;
    return gate.check(() => hasher.verify(token, tokenHash), checkKey(tokenHash, digest), source);
  }

  /**
   * Throws 403 when the cache holds another record of `channel`'s name now (deleted and
   * re-created, or rotated, while its token was being checked), 404 when a complete cache holds
   * none. A partial cache that holds none cannot say: the action's compare-and-set decides.
   */
  function assertCurrent(channel: Channel): void {
    const cached = cache.get(channel.name)?.channel;
    if (cached === undefined) {
      if (cache.complete) throw channelNotFound(channel.name);
      return;
    }
    if (!sameRecord(cached, channel)) throw tokenInvalid();
  }

  /**
   * The record `token` belongs to: the cached one when its verified digest matches, otherwise
   * checked with bcrypt against the cached record and, with a partial cache, failing that,
   * against a fresh read (the cache may hold a record from before a rotation elsewhere).
   */
  async function check(name: string, token: string, source?: string): Promise<Channel> {
    const digest = tokenDigest(token);
    const entry = cache.get(name);
    if (entry?.verifiedDigest !== undefined && sameDigest(entry.verifiedDigest, digest)) {
      return entry.channel;
    }
    const cached = entry?.channel;
    if (cached !== undefined) {
      const { value: valid, stale } = await cache.guard(
        name,
        () => bcrypt(token, digest, cached, source),
      );
      if (valid) {
        if (!stale) cache.remember(cached, digest);
        assertCurrent(cached);
        return cached;
      }
      if (cache.complete) throw tokenInvalid();
    } else if (cache.complete) {
      throw channelNotFound(name);
    }
    const { value: channel, stale } = await cache.guard(name, async () => {
      const fresh = await store.get(name);
      if (fresh === undefined) throw channelNotFound(name);
      // The record the token already failed against: no second bcrypt needed.
      if (cached !== undefined && sameRecord(cached, fresh)) return undefined;
      return (await bcrypt(token, digest, fresh, source)) ? fresh : undefined;
    });
    if (channel === undefined) throw tokenInvalid();
    if (!stale) cache.remember(channel, digest);
    return channel;
  }

  /** The push path: a token already verified for the cached record answers without I/O. */
  function authorize(name: string, token: string | null, source?: string): Promise<Channel> {
    const entry = cache.get(name);
    if (token !== null && entry?.verifiedDigest !== undefined) {
      if (sameDigest(entry.verifiedDigest, tokenDigest(token))) {
        return Promise.resolve(entry.channel);
      }
    }
    return checkedRecord(name, token, source);
  }

  async function checkedRecord(
    name: string,
    token: string | null,
    source: string | undefined,
  ): Promise<Channel> {
    // Without a token there is nothing to compare-and-set: existence is the store's answer.
    const known = token !== null && cache.get(name) !== undefined;
    if (!known && (await current(name)) === undefined) throw channelNotFound(name);
    if (token === null) throw new PushError("token_missing", "No channel token provided");
    return await check(name, token, source);
  }

  /** Throws 404 (gone) or 403 (record replaced) for a compare-and-set that did not apply. */
  function applied(name: string, result: WriteResult): void {
    if (result === "done") return;
    cache.disputed(name);
    throw recordReplaced(name, result === "gone");
  }

  async function replaceToken(channel: Channel): Promise<{ token: string; result: WriteResult }> {
    const token = generateToken();
    const tokenHash = await hasher.hash(token);
    const { value: result, stale } = await cache.guard(
      channel.name,
      () => store.rotate(channel, tokenHash),
    );
    if (result === "done") cache.wrote({ ...channel, tokenHash }, tokenDigest(token), stale);
    return { token, result };
  }

  async function remove(channel: Channel): Promise<WriteResult> {
    const result = await store.delete(channel);
    if (result === "done") {
      cache.invalidate(channel.name);
      await lifecycle?.deleted(channel.name);
      await recount();
    }
    return result;
  }

  /** An operator action without a token: retried while other writers keep changing the record. */
  async function forced<T>(
    name: string,
    act: (channel: Channel) => Promise<{ value: T; result: WriteResult }>,
  ): Promise<T> {
    for (let attempt = 1;; attempt++) {
      const channel = await current(name);
      if (channel === undefined) throw channelNotFound(name);
      const { value, result } = await act(channel);
      if (result === "done") return value;
      cache.disputed(name);
      if (result === "gone") throw channelNotFound(name);
      if (attempt >= FORCED_ATTEMPTS) {
        throw new PushError("unavailable", "The channel keeps changing; retry");
      }
    }
  }

  async function read(name: string): Promise<Channel | undefined> {
    for (let attempt = 1;; attempt++) {
      const { value, stale } = await cache.guard(name, () => store.get(name));
      if (!stale || attempt >= LOOKUP_ATTEMPTS) {
        if (value !== undefined && !stale) cache.remember(value);
        return value;
      }
    }
  }

  return {
    async create(name, channelOptions) {
      // A complete cache answers exactly: no bcrypt hash is spent on a create that must fail.
      if (cache.complete) {
        if (cache.get(name) !== undefined) throw channelTaken(name);
        if (count >= maxChannels) throw channelsFull(maxChannels);
      }
      const { channel, token } = await mintChannel(name, channelOptions, {
        hasher,
        generateToken,
        now,
      });
      const { value: outcome, stale } = await cache.guard(
        name,
        () => store.insert(channel, maxChannels),
      );
      if (outcome === "taken") throw channelTaken(name);
      if (outcome === "full") throw channelsFull(maxChannels);
      cache.wrote(channel, tokenDigest(token), stale);
      await lifecycle?.created(name);
      await recount();
      return { channel, token };
    },
    authorize,
    async ping(name, token, source) {
      const channel = await current(name);
      if (channel === undefined) throw channelNotFound(name);
      if (token === null) return channel;
      return await check(name, token, source);
    },
    async delete(name, token, source) {
      const channel = await authorize(name, token, source);
      applied(name, await remove(channel));
      return channel;
    },
    async rotate(name, token, source) {
      const channel = await authorize(name, token, source);
      const { token: fresh, result } = await replaceToken(channel);
      applied(name, result);
      return fresh;
    },
    forceDelete: (name) =>
      forced(name, async (channel) => ({ value: channel, result: await remove(channel) })),
    forceRotate: (name) =>
      forced(name, async (channel) => {
        const { token, result } = await replaceToken(channel);
        return { value: token, result };
      }),
    lookup(name) {
      const known = cache.known(name);
      return known === null ? read(name) : known;
    },
    names: () => store.names(),
    get size() {
      return count;
    },
    recount,
  };
}

/** A new channel record and its token: a fresh CSPRNG token (only its bcrypt hash is kept). */
async function mintChannel(
  name: string,
  options: ChannelOptions,
  deps: { hasher: TokenHasher; generateToken: () => string; now: () => number },
): Promise<CreatedChannel> {
  const token = deps.generateToken();
  const channel: Channel = {
    name,
    tokenHash: await deps.hasher.hash(token),
    createdAt: deps.now(),
    epoch: newEpoch(),
    private: options.private,
    history: options.history,
    ...(options.presence === true ? { presence: true } : {}),
  };
  return { channel, token };
}
