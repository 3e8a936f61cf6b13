/**
 * Lua scripts of presence in Redis, as Centrifugo's Redis presence manager keeps it: per
 * presence channel a HASH (member UUID → info JSON) and a ZSET (member UUID → expiry, ms of
 * Redis's clock), each entry refreshed by its node's heartbeat; an entry past its expiry is a
 * member of a dead (or cut off) node. Joins and leaves are PUBLISHed by the same script that
 * makes them, so every node sees them in the order Redis applied them, and only when the
 * membership (mover included) is at most `PRESENCE_EVENTS_MAX`.
 *
 * Event payload: `{"c":"J"|"L","n":channel,"u":uuid,"i":info JSON text,"m":members}`.
 */
import { Script } from "./scripts.ts";

/** `now`: Redis's clock in ms (one clock for every node). */
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * `total()`: the sum of the live counts in the counts hash KEYS[1] (fields `count:expiresAtMs`,
 * live while past `now`); with `prune`, it deletes the expired fields as it goes.
 */
function totalFunction(prune: boolean): string {
  return `local function total()
  local sum = 0
  local fields = redis.call('HGETALL', KEYS[1])
  for i = 1, #fields, 2 do
    local value = fields[i + 1]
    local sep = string.find(value, ':', 1, true)
    if tonumber(string.sub(value, sep + 1)) > now then
      sum = sum + tonumber(string.sub(value, 1, sep - 1))${
    prune ? "\n    else\n      redis.call('HDEL', KEYS[1], fields[i])" : ""
  }
    end
  end
  return sum
end`;
}

/**
 * Join. KEYS: hash, zset. ARGV: uuid, info, ttlMs, maxMembers, eventsMax, channel, pub/sub.
 * Returns `{1, live}` joined, `{0, live}` already a member (refreshed), `{-1, live}` full.
 */
export const JOIN = new Script(
  2,
  `${NOW}
local ttl = tonumber(ARGV[3])
local live = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if score and tonumber(score) > now then
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
  return {0, live}
end
if live >= tonumber(ARGV[4]) then return {-1, live} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
live = live + 1
if live <= tonumber(ARGV[5]) then
  redis.call('PUBLISH', ARGV[7], cjson.encode({c = 'J', n = ARGV[6], u = ARGV[1], i = ARGV[2], m = live}))
end
return {1, live}
`,
);

/**
 * Leave. KEYS: hash, zset. ARGV: uuid, eventsMax, channel, pub/sub. Returns the member's info,
 * or false when it was not a member (never joined, or swept already).
 */
export const LEAVE = new Script(
  2,
  `${NOW}
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return false end
local before = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
local info = redis.call('HGET', KEYS[1], ARGV[1]) or '{}'
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if before <= tonumber(ARGV[2]) then
  redis.call('PUBLISH', ARGV[4], cjson.encode({c = 'L', n = ARGV[3], u = ARGV[1], i = info, m = before}))
end
return info
`,
);

/**
 * A node's heartbeat for one channel: refreshes (or writes again) its members, then removes the
 * expired ones of every node and announces them `Left`. KEYS: hash, zset. ARGV: ttlMs,
 * eventsMax, channel, pub/sub, then uuid, info pairs. Returns the removed `{uuid, info, …}`.
 */
export const REFRESH = new Script(
  2,
  `${NOW}
local ttl = tonumber(ARGV[1])
for i = 5, #ARGV, 2 do
  -- HEXISTS answers 0 or 1, and 0 is true in Lua: compare, or a lost info is never written again.
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[i])
end
if #ARGV >= 5 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
local removed = {}
local before = redis.call('ZCARD', KEYS[2])
for _, uuid in ipairs(gone) do
  local info = redis.call('HGET', KEYS[1], uuid) or '{}'
  redis.call('HDEL', KEYS[1], uuid)
  redis.call('ZREM', KEYS[2], uuid)
  if before <= tonumber(ARGV[2]) then
    redis.call('PUBLISH', ARGV[4], cjson.encode({c = 'L', n = ARGV[3], u = uuid, i = info, m = before}))
  end
  before = before - 1
  table.insert(removed, uuid)
  table.insert(removed, info)
end
return removed
`,
);

/**
 * Who is on a presence channel. KEYS: hash, zset. ARGV: most listed. Returns
 * `{count, uuid, info, …}` of the live members, oldest expiry first.
 */
export const READ = new Script(
  2,
  `${NOW}
local count = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
local uuids = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'LIMIT', 0, tonumber(ARGV[1]))
local out = {count}
for _, uuid in ipairs(uuids) do
  table.insert(out, uuid)
  table.insert(out, redis.call('HGET', KEYS[1], uuid) or '{}')
end
return out
`,
);

/**
 * A node's subscriber count of one channel (any channel). KEYS: counts hash. ARGV: node id,
 * count (0 = none), ttlMs. Fields are `count:expiresAtMs` (Redis's clock). Returns the
 * cluster's live total before and after, for occupied/vacated.
 */
export const COUNT = new Script(
  1,
  `${NOW}
${totalFunction(true)}
local before = total()
local ttl = tonumber(ARGV[3])
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. (now + ttl))
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return {before, total()}
`,
);

/** The cluster's live subscriber total of a channel. KEYS: counts hash. */
export const TOTAL = new Script(
  1,
  `${NOW}
${totalFunction(false)}
return total()
`,
);
