/**
 * Cluster pushes that carry more than v1's string (v1.2): a JSON value, a receipt request. They
 * take their own script and pub/sub payload, so a plain string push keeps v1's exact path.
 *
 * Payload: `X<offset>:<epoch>:<header JSON>\n<message>` (offset and epoch empty when the push is
 * not stored); the header holds `r` (recipients), `j` (1: JSON text) and `q`/`n` (receipt id and
 * the node that waits for the counts).
 */
import type { Publication } from "../hub/broker.ts";
import { Script } from "./scripts.ts";

/** What the header of an extended push says. */
export interface ExtendedHeader {
  readonly r: readonly string[];
  readonly j?: 1;
  /** Receipt id, and the node whose reply channel gets the counts. */
  readonly q?: string;
  readonly n?: string;
}

/** A publication decoded from an extended payload, with its receipt request if any. */
export interface ExtendedPublication extends Publication {
  readonly receipt?: { readonly id: string; readonly node: string };
}

/**
 * Checks the record (compare-and-set, as every push), stores the entry when asked (next offset,
 * capped list, TTL), then PUBLISHes; answers `{offset or 0, receivers}` (how many nodes got it).
 * KEYS: channel, history. ARGV: epoch, tokenHash, pub/sub channel, message, size, ttlMs,
 * stored ('1'/'0'), header JSON, entry marker ('j' for JSON text, else '').
 */
export const PUBLISH_EX = new Script(
  2,
  `
local current = redis.call('HMGET', KEYS[1], 'epoch', 'tokenHash')
if not current[1] then return 0 end
if current[1] ~= ARGV[1] or current[2] ~= ARGV[2] then return -1 end
local top = 0
local head = '::'
if ARGV[7] == '1' then
  top = redis.call('HINCRBY', KEYS[1], 'top', 1)
  local now = redis.call('TIME')
  local ms = string.format('%.0f', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
  redis.call('LPUSH', KEYS[2], top .. ':' .. ms .. ARGV[9] .. ':' .. ARGV[4])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
  head = top .. ':' .. ARGV[1] .. ':'
end
local receivers = redis.call('PUBLISH', ARGV[3], 'X' .. head .. ARGV[8] .. '\\n' .. ARGV[4])
return {top, receivers}
`,
);

/** Reads an extended payload back; `undefined` when it is malformed. */
export function decodeExtended(payload: string): ExtendedPublication | undefined {
  const newline = payload.indexOf("\n");
  const first = payload.indexOf(":");
  const second = payload.indexOf(":", first + 1);
  if (payload[0] !== "X" || newline < 0 || first < 0 || second < 0 || second > newline) {
    return undefined;
  }
  const offset = payload.slice(1, first);
  const epoch = payload.slice(first + 1, second);
  const header = JSON.parse(payload.slice(second + 1, newline)) as ExtendedHeader;
  return {
    message: payload.slice(newline + 1),
    recipients: header.r,
    ...(header.j === 1 ? { json: true } : {}),
    ...(offset === "" ? {} : { offset: Number(offset), epoch }),
    ...(header.q !== undefined && header.n !== undefined
      ? { receipt: { id: header.q, node: header.n } }
      : {}),
  };
}
