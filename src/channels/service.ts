/** Channel rules (unique names, token checks, options, rotation) over a store and a hasher. */
import { PushError } from "../errors.ts";
import { channelNotFound, channelsFull, channelTaken, tokenInvalid } from "./failures.ts";
import { type Channel, type ChannelOptions, type ChannelStore, newEpoch } from "./store.ts";
import { checkKey, TokenGate } from "./token_gate.ts";
import { newToken, sameDigest, tokenDigest, type TokenHasher } from "./tokens.ts";

interface KnownChannel {
  readonly channel: Channel;
  /** SHA-256 of the token once bcrypt has accepted it: later checks skip bcrypt. */
  verifiedDigest: Uint8Array | undefined;
}

/** A created channel and its token (the only time the token is ever visible). */
export interface CreatedChannel {
  readonly channel: Channel;
  readonly token: string;
}

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
  /** Ping: with a null token only existence is checked. */
  ping(name: string, token: string | null, source?: string): Promise<Channel>;
  /** Deletes `name` after checking its token; resolves once the deletion is durable. */
  delete(name: string, token: string | null, source?: string): Promise<Channel>;
  /** Gives `name` a new token after checking the current one; the old one stops working. */
  rotate(name: string, token: string | null, source?: string): Promise<string>;
  /** The operator's way out of a lost token: delete without one. */
  forceDelete(name: string): Promise<Channel>;
  /** The operator's way out of a lost token: a new token without the old one. */
  forceRotate(name: string): Promise<string>;
  /** The current record of `name`, answered from memory. */
  current(name: string): Channel | undefined;
  /** Throws 404 unless `channel` is still the current record of its name (403 if replaced). */
  assertCurrent(channel: Channel): void;
  /** Whether `name` exists, answered from memory. */
  exists(name: string): boolean;
  /** Every channel name, oldest first (in cluster mode, read from Redis). */
  names(): string[] | Promise<string[]>;
  /** How many channels exist. */
  readonly size: number;
}

/** Options of {@link createChannelService}. */
export interface ChannelServiceOptions {
  store: ChannelStore;
  hasher: TokenHasher;
  /** Most bcrypt verifications waiting or running at once; past it, callers get 429. */
  maxTokenChecks: number;
  /** Most channels; creating one more is 507. */
  maxChannels?: number;
  /** Schedules bcrypt verifications fairly across sources (default: one from maxTokenChecks). */
  tokenGate?: TokenGate;
  now?: () => number;
  generateToken?: () => string;
}

/**
 * Loads every channel from the store into a memory index and returns the service over both.
 * The index makes existence checks synchronous, so a subscribe can never race a delete.
 */
export async function createChannelService(
  options: ChannelServiceOptions,
): Promise<ChannelService> {
  const { store, hasher, maxTokenChecks } = options;
  const maxChannels = options.maxChannels ?? Number.MAX_SAFE_INTEGER;
  const now = options.now ?? Date.now;
  const generateToken = options.generateToken ?? newToken;
  const known = new Map<string, KnownChannel>();
  for (const channel of await store.list()) {
    known.set(channel.name, { channel, verifiedDigest: undefined });
  }
  const gate = options.tokenGate ?? new TokenGate({ lanes: 2, maxPending: maxTokenChecks });
  /** Names being created right now (counted against `maxChannels`). */
  let creating = 0;

  function find(name: string): KnownChannel {
    const entry = known.get(name);
    if (entry === undefined) throw channelNotFound(name);
    return entry;
  }

  async function checkToken(
    entry: KnownChannel,
    token: string,
    source: string | undefined,
  ): Promise<void> {
    const digest = tokenDigest(token);
    if (entry.verifiedDigest !== undefined && sameDigest(entry.verifiedDigest, digest)) return;
    const { tokenHash } = entry.channel;
    const valid = await gate.check(
      () => hasher.verify(token, tokenHash),
      checkKey(tokenHash, digest),
      source,
    );
    if (!valid) throw tokenInvalid();
    // Only remember the digest if the record was not deleted, re-created or rotated meanwhile.
    if (known.get(entry.channel.name) === entry) entry.verifiedDigest = digest;
  }

  async function authorize(
    name: string,
    token: string | null,
    source?: string,
  ): Promise<Channel> {
    const entry = find(name);
    if (token === null) throw new PushError("token_missing", "No channel token provided");
    await checkToken(entry, token, source);
    assertCurrent(entry.channel);
    return entry.channel;
  }

  function assertCurrent(channel: Channel): void {
    const current = known.get(channel.name)?.channel;
    if (current === undefined) throw channelNotFound(channel.name);
    // Deleted and re-created, or rotated, while the token was being checked.
    if (current !== channel) throw tokenInvalid();
  }

  async function replaceToken(channel: Channel): Promise<string> {
    const token = generateToken();
    const tokenHash = await hasher.hash(token);
    assertCurrent(channel);
    if (
      !(await store.replaceTokenHash(channel.name, channel.epoch, channel.tokenHash, tokenHash))
    ) {
      assertCurrent(channel);
      throw tokenInvalid();
    }
    known.set(channel.name, {
      channel: { ...channel, tokenHash },
      verifiedDigest: tokenDigest(token),
    });
    return token;
  }

  async function remove(channel: Channel): Promise<Channel> {
    const deleted = await store.delete(channel.name, channel.epoch);
    if (known.get(channel.name)?.channel === channel) known.delete(channel.name);
    if (!deleted) throw channelNotFound(channel.name);
    return channel;
  }

  return {
    async create(name, channelOptions) {
      if (known.has(name)) throw channelTaken(name);
      if (known.size + creating >= maxChannels) {
        throw channelsFull(maxChannels);
      }
      creating++;
      try {
        const { channel, token } = await mintChannel(name, channelOptions, {
          hasher,
          generateToken,
          now,
        });
        if (known.has(name) || !(await store.insert(channel))) throw channelTaken(name);
        known.set(name, { channel, verifiedDigest: tokenDigest(token) });
        return { channel, token };
      } finally {
        creating--;
      }
    },
    authorize,
    async ping(name, token, source) {
      const entry = find(name);
      if (token !== null) await checkToken(entry, token, source);
      return entry.channel;
    },
    async delete(name, token, source) {
      return await remove(await authorize(name, token, source));
    },
    async rotate(name, token, source) {
      return await replaceToken(await authorize(name, token, source));
    },
    async forceDelete(name) {
      return await remove(find(name).channel);
    },
    async forceRotate(name) {
      return await replaceToken(find(name).channel);
    },
    current: (name) => known.get(name)?.channel,
    assertCurrent,
    exists: (name) => known.has(name),
    names: () => [...known.keys()],
    get size() {
      return known.size;
    },
  };
}

/**
 * A new channel record and its token: a fresh CSPRNG token (only its bcrypt hash is kept) and a
 * fresh epoch. Shared by every {@link ChannelService} implementation.
 */
export async function mintChannel(
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
