/**
 * The channel rules of cluster mode: the same {@link ChannelService} as a single node, over
 * Redis. The node's cache only saves work; Redis decides: a token is checked against a record,
 * and the action is a compare-and-set on that record, so no stale cache entry ever lets a
 * deleted channel or a rotated-away token act (see cache.ts).
 */
import {
  channelNotFound,
  channelsFull,
  channelTaken,
  recordReplaced,
  tokenInvalid,
} from "../channels/failures.ts";
import { type ChannelService, type CreatedChannel, mintChannel } from "../channels/service.ts";
import type { Channel } from "../channels/store.ts";
import { checkKey, type TokenGate } from "../channels/token_gate.ts";
import { newToken, sameDigest, tokenDigest, type TokenHasher } from "../channels/tokens.ts";
import { PushError } from "../errors.ts";
import { type ChannelCache, sameRecord } from "./cache.ts";
import { unavailable } from "./redis.ts";
import type { CasResult, RedisChannelStore } from "./redis_store.ts";

/** Options of {@link createClusterChannelService}. */
export interface ClusterServiceOptions {
  readonly store: RedisChannelStore;
  readonly cache: ChannelCache;
  readonly hasher: TokenHasher;
  /** Schedules bcrypt verifications fairly across sources (the same gate as a single node). */
  readonly tokenGate: TokenGate;
  readonly maxChannels: number;
  readonly now: () => number;
  readonly generateToken?: () => string;
  /** The last known number of channels in the cluster. */
  readonly count: () => number;
  /** Called after this node created or deleted a channel (the count changed). */
  readonly onCountChanged: () => void;
}

/** The cluster-mode channel service. */
export function createClusterChannelService(options: ClusterServiceOptions): ChannelService {
  const { store, cache, hasher, tokenGate, now } = options;
  const generateToken = options.generateToken ?? newToken;

  /** Reads the record from Redis (never the cache) and caches it if nothing changed meanwhile. */
  async function fetch(name: string): Promise<Channel | undefined> {
    const { value, stale } = await cache.guard(name, () => redis(() => store.get(name)));
    if (value !== undefined && !stale) cache.remember(value);
    return value;
  }

  function bcrypt(token: string, channel: Channel, source: string | undefined): Promise<boolean> {
    const { tokenHash } = channel;
    return tokenGate.check(
      () => hasher.verify(token, tokenHash),
      checkKey(tokenHash, tokenDigest(token)),
      source,
    );
  }

  /**
   * The record `token` belongs to: the cached one when its verified digest matches, otherwise
   * checked with bcrypt against the cached record and, failing that, against a fresh read (the
   * cache may hold a record from before a rotation done on another node).
   */
  async function check(name: string, token: string, source?: string): Promise<Channel> {
    const digest = tokenDigest(token);
    const entry = cache.get(name);
    if (entry?.verifiedDigest !== undefined && sameDigest(entry.verifiedDigest, digest)) {
      return entry.channel;
    }
    const cached = entry?.channel;
    if (cached !== undefined) {
      const { value: valid, stale } = await cache.guard(name, () => bcrypt(token, cached, source));
      if (valid) {
        if (!stale) cache.remember(cached, digest);
        return cached;
      }
    }
    const { value: channel, stale } = await cache.guard(name, async () => {
      const fresh = await redis(() => store.get(name));
      if (fresh === undefined) throw channelNotFound(name);
      // The record the token already failed against: no second bcrypt needed.
      if (cached !== undefined && sameRecord(cached, fresh)) return undefined;
      return (await bcrypt(token, fresh, source)) ? fresh : undefined;
    });
    if (channel === undefined) throw tokenInvalid();
    if (!stale) cache.remember(channel, digest);
    return channel;
  }

  async function authorize(
    name: string,
    token: string | null,
    source?: string,
  ): Promise<Channel> {
    // Without a token there is nothing to compare-and-set: existence is asked of Redis.
    const known = token !== null && cache.get(name) !== undefined;
    if (!known && (await fetch(name)) === undefined) throw channelNotFound(name);
    if (token === null) throw new PushError("token_missing", "No channel token provided");
    return await check(name, token, source);
  }

  /** Maps a compare-and-set that did not apply to 404 (gone) or 403 (record replaced). */
  function applied(name: string, result: CasResult): void {
    if (result === "ok") return;
    cache.invalidate(name);
    throw recordReplaced(name, result === "gone");
  }

  async function replaceToken(channel: Channel): Promise<{ token: string; result: CasResult }> {
    const token = generateToken();
    const tokenHash = await hasher.hash(token);
    const { value: result, stale } = await cache.guard(
      channel.name,
      () => redis(() => store.rotateRecord(channel, tokenHash)),
    );
    if (result === "ok" && !stale) cache.remember({ ...channel, tokenHash }, tokenDigest(token));
    return { token, result };
  }

  /** An operator action without a token: retried while other nodes keep changing the record. */
  async function forced<T>(
    name: string,
    act: (channel: Channel) => Promise<{ value: T; result: CasResult }>,
  ): Promise<T> {
    for (let attempt = 0;; attempt++) {
      const channel = await redis(() => store.get(name));
      if (channel === undefined) throw channelNotFound(name);
      const { value, result } = await act(channel);
      if (result === "ok") return value;
      cache.invalidate(name);
      if (result === "gone") throw channelNotFound(name);
      if (attempt >= 2) throw new PushError("unavailable", "The channel keeps changing; retry");
    }
  }

  async function remove(channel: Channel): Promise<CasResult> {
    const result = await redis(() => store.deleteRecord(channel));
    if (result === "ok") {
      cache.invalidate(channel.name);
      options.onCountChanged();
    }
    return result;
  }

  return {
    async create(name, channelOptions): Promise<CreatedChannel> {
      const { channel, token } = await mintChannel(name, channelOptions, {
        hasher,
        generateToken,
        now,
      });
      const { value: outcome, stale } = await cache.guard(
        name,
        () => redis(() => store.insertLimited(channel, options.maxChannels)),
      );
      if (outcome === "taken") throw channelTaken(name);
      if (outcome === "full") throw channelsFull(options.maxChannels);
      if (!stale) cache.remember(channel, tokenDigest(token));
      options.onCountChanged();
      return { channel, token };
    },
    authorize,
    async ping(name, token, source) {
      // Always asked of Redis: a ping answers exactly, even right after a change on another node.
      const channel = await fetch(name);
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
    current: (name) => cache.get(name)?.channel,
    assertCurrent(channel) {
      const current = cache.get(channel.name)?.channel;
      if (current !== undefined && !sameRecord(current, channel)) throw tokenInvalid();
    },
    exists: (name) => cache.get(name) !== undefined,
    names: () => redis(() => store.names()),
    get size() {
      return options.count();
    },
  };
}

/** Runs a Redis call; a failure of Redis itself becomes 503. */
export async function redis<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw unavailable(error);
  }
}
