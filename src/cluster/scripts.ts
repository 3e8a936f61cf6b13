/**
 * The Lua scripts of cluster mode. Each token-checked action is one script that first checks
 * the channel's stored epoch and token hash against the record the node verified the token with
 * (compare-and-set), then acts: so a token that was rotated away or whose channel was deleted
 * never acts again, on any node, from the moment the rotate or delete ran.
 *
 * Results: `0` the channel is gone, `-1` the record changed (re-created or rotated), `-2` no
 * live connection has the UUID, `-3` a connection's grant limit; anything else is success.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { Channel } from "../channels/store.ts";
import type { Keys } from "./keys.ts";

/** Compare-and-set prelude: KEYS[1] is the channel, ARGV[1] its epoch, ARGV[2] its token hash. */
export const CHECK = `
local current = redis.call('HMGET', KEYS[1], 'epoch', 'tokenHash')
if not current[1] then return 0 end
if current[1] ~= ARGV[1] or current[2] ~= ARGV[2] then return -1 end
`;

/** A Lua script run by EVALSHA (one command), loaded again with EVAL when Redis forgot it. */
export class Script {
  readonly #lua: string;
  readonly #sha: string;
  readonly #keys: number;

  /** A script taking `keys` keys. */
  constructor(keys: number, lua: string) {
    this.#keys = keys;
    this.#lua = lua;
    this.#sha = createHash("sha1").update(lua).digest("hex");
  }

  /** Loads the script into Redis's script cache (SCRIPT LOAD), so EVALSHA finds it. */
  async load(redis: Redis): Promise<void> {
    await redis.script("LOAD", this.#lua);
  }

  /** Runs the script; a restarted (empty) Redis gets it again through EVAL. */
  async run(
    redis: Redis,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await redis.evalsha(this.#sha, this.#keys, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return await redis.eval(this.#lua, this.#keys, ...keys, ...args);
    }
  }
}

/**
 * Creates a channel unless the name is taken (0) or the cluster holds `max` channels (-1).
 * KEYS: channel, index, history, names. ARGV: max, name, createdAt, tokenHash, epoch, private,
 * historySize ('' = none), historyTtlS, top, presence ('1' or '0').
 */
export const INSERT = new Script(
  4,
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'tokenHash', ARGV[4], 'createdAt', ARGV[3], 'epoch', ARGV[5],
  'private', ARGV[6], 'top', ARGV[9])
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'historySize', ARGV[7], 'historyTtlS', ARGV[8])
end
if ARGV[10] == '1' then redis.call('HSET', KEYS[1], 'presence', '1') end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[4], 0, ARGV[2])
redis.call('DEL', KEYS[3])
return 1
`,
);

/**
 * A push that is not stored: checks, then PUBLISHes the payload.
 * KEYS: channel. ARGV: epoch, tokenHash, pub/sub channel, payload.
 */
export const PUBLISH = new Script(
  1,
  `${CHECK}
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`,
);

/**
 * A stored push: checks, takes the next offset, stores the entry (capped list, TTL) and
 * PUBLISHes it with its offset, all at once; answers the offset.
 * KEYS: channel, history. ARGV: epoch, tokenHash, pub/sub channel, message, size, ttlMs.
 * An entry is `offset:createdAtMs:message`; the payload `H<offset>:<epoch>\\n<message>`.
 */
export const PUBLISH_STORED = new Script(
  2,
  `${CHECK}
local top = redis.call('HINCRBY', KEYS[1], 'top', 1)
local now = redis.call('TIME')
local ms = string.format('%.0f', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
redis.call('LPUSH', KEYS[2], top .. ':' .. ms .. ':' .. ARGV[4])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('PUBLISH', ARGV[3], 'H' .. top .. ':' .. ARGV[1] .. '\\n' .. ARGV[4])
return top
`,
);

/**
 * The ARGV of {@link PUBLISH_STORED}, which the extended push scripts (publish_ex.ts) begin with:
 * epoch, tokenHash, pub/sub channel, message, history size, history ttlMs (0 without history).
 */
export function storedPushArgs(keys: Keys, channel: Channel, message: string): (string | number)[] {
  return [
    channel.epoch,
    channel.tokenHash,
    keys.pushes(channel.name),
    message,
    channel.history?.size ?? 0,
    (channel.history?.ttlSeconds ?? 0) * 1000,
  ];
}

/**
 * The stream top and, when `since` ≥ 0, one page of the stored entries above it, oldest first,
 * as `{top, entry...}`; `{-1}` when the channel no longer has this epoch. The list holds the
 * newest entries, newest first, so offset `o` sits at index `top - o`: when the entry right above
 * `since` is no longer stored the answer is `{top}` without reading the list (not recoverable),
 * and otherwise the page is read in small LRANGE steps that stop at `limit` entries or once
 * `maxBytes` message bytes are in (at least one entry).
 * KEYS: channel, history. ARGV: epoch, since (-1: none), limit, maxBytes.
 */
export const READ_HISTORY = new Script(
  2,
  `
local current = redis.call('HMGET', KEYS[1], 'epoch', 'top')
if current[1] ~= ARGV[1] then return {-1} end
local top = tonumber(current[2]) or 0
local since = tonumber(ARGV[2])
if since < 0 or since >= top then return {top} end
if top - since > redis.call('LLEN', KEYS[2]) then return {top} end
local limit = tonumber(ARGV[3])
local maxBytes = tonumber(ARGV[4])
local reply = {top}
local bytes = 0
local index = top - since - 1
while index >= 0 do
  local first = math.max(0, index - 7)
  local chunk = redis.call('LRANGE', KEYS[2], first, index)
  for i = #chunk, 1, -1 do
    local entry = chunk[i]
    local colon = string.find(entry, ':', string.find(entry, ':', 1, true) + 1, true)
    local size = #entry - colon
    if #reply > 1 and (#reply - 1 >= limit or bytes + size > maxBytes) then return reply end
    reply[#reply + 1] = entry
    bytes = bytes + size
  end
  index = first - 1
end
return reply
`,
);

/**
 * Deletes the channel (record, stream, history) and announces it on the events channel, at once.
 * KEYS: channel, index, history, names. ARGV: epoch, tokenHash, name, events channel, event.
 */
export const DELETE = new Script(
  4,
  `${CHECK}
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`,
);

/**
 * Replaces the token hash and announces it (every node drops its cached token digest).
 * KEYS: channel. ARGV: epoch, old tokenHash, new tokenHash, events channel, event.
 */
export const ROTATE = new Script(
  1,
  `${CHECK}
redis.call('HSET', KEYS[1], 'tokenHash', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`,
);

/**
 * Grants connection `uuid` this epoch of the channel, if a live node holds that connection.
 * KEYS: channel, connection, grants. ARGV: epoch, tokenHash, name, node key prefix, max, ttlMs.
 */
export const GRANT = new Script(
  3,
  `${CHECK}
local node = redis.call('GET', KEYS[2])
if not node or redis.call('EXISTS', ARGV[4] .. node) == 0 then return -2 end
if redis.call('HEXISTS', KEYS[3], ARGV[3]) == 0
    and redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[5]) then
  return -3
end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return 1
`,
);

/**
 * Takes a grant back and tells every node (the connection's node unsubscribes it), at once.
 * KEYS: channel, grants. ARGV: epoch, tokenHash, name, events channel, event.
 */
export const REVOKE = new Script(
  2,
  `${CHECK}
redis.call('HDEL', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`,
);

/** Every script, loaded at start and after a reconnect (a restarted Redis forgets them). */
export const SCRIPTS: readonly Script[] = [
  INSERT,
  PUBLISH,
  PUBLISH_STORED,
  READ_HISTORY,
  DELETE,
  ROTATE,
  GRANT,
  REVOKE,
];

/** Loads every script, in one round trip. */
export async function loadScripts(redis: Redis): Promise<void> {
  await Promise.all(SCRIPTS.map((script) => script.load(redis)));
}
