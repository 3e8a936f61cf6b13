/** Channel rules (unique names, token checks) over a store and a hasher; throws PushError. */
import { PushError } from "../errors.ts";
import type { ChannelStore } from "./store.ts";
import { checkKey, TokenGate } from "./token_gate.ts";
import { newToken, sameDigest, tokenDigest, type TokenHasher } from "./tokens.ts";

interface KnownChannel {
  readonly tokenHash: string;
  /** SHA-256 of the token once bcrypt has accepted it: later checks skip bcrypt. */
  verifiedDigest: Uint8Array | undefined;
}

/** What publishers can do to channels, and what subscribers may ask about them. */
export interface ChannelService {
  /** Creates `name` and returns its token (the only time it is ever visible). */
  create(name: string): Promise<string>;
  /** Checks `token` against `name`: 404 when missing, 401 when `token` is null, 403 when wrong. */
  authorize(name: string, token: string | null): Promise<void>;
  /** Ping: with a null token only existence is checked. */
  ping(name: string, token: string | null): Promise<void>;
  /** Deletes `name` after checking its token; resolves once the deletion is durable. */
  delete(name: string, token: string | null): Promise<void>;
  /** Whether `name` exists, answered from memory. */
  exists(name: string): boolean;
  /** Every channel name, oldest first. */
  names(): string[];
  /** How many channels exist. */
  readonly size: number;
}

/** Options of {@link createChannelService}. */
export interface ChannelServiceOptions {
  store: ChannelStore;
  hasher: TokenHasher;
  /** Most bcrypt verifications waiting or running at once; past it, callers get 429. */
  maxTokenChecks: number;
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
  const now = options.now ?? Date.now;
  const generateToken = options.generateToken ?? newToken;
  const known = new Map<string, KnownChannel>();
  for (const channel of await store.list()) {
    known.set(channel.name, { tokenHash: channel.tokenHash, verifiedDigest: undefined });
  }
  const gate = options.tokenGate ?? new TokenGate({ lanes: 2, maxPending: maxTokenChecks });

  function find(name: string): KnownChannel {
    const channel = known.get(name);
    if (channel === undefined) {
      throw new PushError("unknown_channel", `Could not find a channel called ${quote(name)}`);
    }
    return channel;
  }

  async function checkToken(name: string, channel: KnownChannel, token: string): Promise<void> {
    const digest = tokenDigest(token);
    if (channel.verifiedDigest !== undefined && sameDigest(channel.verifiedDigest, digest)) return;
    const verify = () => hasher.verify(token, channel.tokenHash);
    const valid = await gate.check(verify, checkKey(channel.tokenHash, digest));
    if (!valid) throw new PushError("token_invalid", "Channel token is invalid");
    // Only remember the digest if the channel was not deleted or re-created meanwhile.
    if (known.get(name) === channel) channel.verifiedDigest = digest;
  }

  async function authorize(name: string, token: string | null): Promise<void> {
    const channel = find(name);
    if (token === null) throw new PushError("token_missing", "No channel token provided");
    await checkToken(name, channel, token);
  }

  return {
    async create(name) {
      const taken = () =>
        new PushError("channel_exists", `A channel called ${quote(name)} already exists`);
      if (known.has(name)) throw taken();
      const token = generateToken();
      const tokenHash = await hasher.hash(token);
      if (known.has(name) || !(await store.insert({ name, tokenHash, createdAt: now() }))) {
        throw taken();
      }
      known.set(name, { tokenHash, verifiedDigest: tokenDigest(token) });
      return token;
    },
    authorize,
    async ping(name, token) {
      const channel = find(name);
      if (token !== null) await checkToken(name, channel, token);
    },
    async delete(name, token) {
      await authorize(name, token);
      const channel = find(name);
      const deleted = await store.delete(name);
      if (known.get(name) === channel) known.delete(name);
      if (!deleted) {
        throw new PushError("unknown_channel", `Could not find a channel called ${quote(name)}`);
      }
    },
    exists: (name) => known.has(name),
    names: () => [...known.keys()],
    get size() {
      return known.size;
    },
  };
}

function quote(name: string): string {
  return JSON.stringify(name);
}
