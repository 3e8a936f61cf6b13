/**
 * Idempotent pushes in cluster mode (PROTOCOL.md v1.2 "Idempotent pushes"). The key's claim and
 * the push are one Lua script: a script that runs makes the push and records the key together,
 * and one that finds the key makes nothing. So a push whose answer was lost (a 503 while Redis
 * was frozen, whose command Redis still ran later; a node that died) can be retried on any node
 * and is made once.
 *
 * The key is a HASH `<prefix>once:<key length>:<key>:<channel>` with `e` (the channel's epoch),
 * `x` (expiry, ms on the publishing node's clock: tests inject it), `o` (offset of a stored push),
 * `w` ('1' when the first push asked for a receipt) and, once its counts are in, `r` (the receipt
 * as JSON). Redis expires the hash a minute after `x`, so it never outlives its use.
 */
import type { Redis } from "ioredis";
import type { Channel } from "../channels/store.ts";
import {
  type EarlierPush,
  ONCE_TTL_MS,
  type PublishOptions,
  type PushOnce,
  type Receipt,
} from "../hub/broker.ts";
import type { Keys } from "./keys.ts";
import { ExtendedPush, type ReceiptSide, STORE_AND_PUBLISH_EX } from "./publish_ex.ts";
import { RECEIPT_WAIT_MS } from "./receipts.ts";
import { CHECK, Script } from "./scripts.ts";

/** How long past `x` Redis keeps the hash (clock skew between nodes and Redis). */
const EXPIRY_SLACK_MS = 60_000;
/** How often a repeat polls for the first push's receipt counts while they are not in. */
const RECEIPT_POLL_MS = 50;

/**
 * PUBLISH_EX (publish_ex.ts) behind the key check: answers `{'again', o, w, r}` when the key
 * holds this epoch and has not expired, else publishes, records the key and answers
 * `{offset or 0, receivers}`.
 * KEYS: channel, history, key. ARGV: epoch, tokenHash, pub/sub channel, message, size, ttlMs,
 * stored ('1'/'0'), header JSON, entry marker, now, expiresAt, key ttlMs, receipt ('1'/'0').
 */
export const PUBLISH_ONCE = new Script(
  3,
  `${CHECK}local earlier = redis.call('HMGET', KEYS[3], 'e', 'x', 'o', 'w', 'r')
if earlier[1] == ARGV[1] and tonumber(earlier[2]) > tonumber(ARGV[10]) then
  return {'again', earlier[3] or '', earlier[4] or '', earlier[5] or ''}
end
${STORE_AND_PUBLISH_EX}redis.call('DEL', KEYS[3])
local offset = ''
if ARGV[7] == '1' then offset = top end
redis.call('HSET', KEYS[3], 'e', ARGV[1], 'x', ARGV[11], 'o', offset, 'w', ARGV[13])
redis.call('PEXPIRE', KEYS[3], ARGV[12])
return {top, receivers}
`,
);

/** What {@link publishOnce} needs from the broker's node. */
export interface PublishOnceDeps {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly now: () => number;
  readonly onPublished: () => void;
  readonly receipts?: ReceiptSide;
  /** Runs a Redis call, mapping a failure to 503. */
  readonly call: <T>(run: () => Promise<T>) => Promise<T>;
  /** Throws 404/403 when the script answered that the channel record changed (0 or -1). */
  readonly applied: (answer: unknown) => void;
}

/** The receipt as the key keeps it. */
interface StoredReceipt {
  readonly d: number;
  readonly u?: readonly string[];
  readonly p?: 1;
}

/**
 * Publishes a push with `options.once` (see the module comment): resolves with its offset, or
 * with the first push's after setting `once.earlier`.
 */
export async function publishOnce(
  deps: PublishOnceDeps,
  channel: Channel,
  message: string,
  recipients: readonly string[],
  options: PublishOptions & { readonly once: PushOnce },
): Promise<number | undefined> {
  const { once } = options;
  const { keys } = deps;
  const push = new ExtendedPush(keys, channel, message, recipients, options, deps.receipts);
  const key = onceKey(deps.keys, channel.name, once.key);
  const now = deps.now();
  const answer = await push.run(deps.call, () => {
    deps.onPublished();
    return PUBLISH_ONCE.run(
      deps.redis,
      [keys.channel(channel.name), keys.history(channel.name), key],
      [
        ...push.args,
        now,
        now + ONCE_TTL_MS,
        ONCE_TTL_MS + EXPIRY_SLACK_MS,
        options.receipt === undefined ? "0" : "1",
      ],
    );
  }, deps.applied);
  const reply = answer as unknown[];
  if (reply[0] === "again") {
    push.cancel();
    once.earlier = await earlierPush(deps, key, reply.slice(1) as string[]);
    return once.earlier.offset;
  }
  const [offset, nodes] = reply as [number, number];
  if (push.hasReceipt) {
    await push.receipt(Number(nodes));
    await saveReceipt(deps, key, options.receipt!);
  }
  return push.stored ? Number(offset) : undefined;
}

/** The key's hash name: the key (length-prefixed, any printable ASCII) before the channel. */
function onceKey(keys: Keys, channel: string, key: string): string {
  return `${keys.prefix}once:${key.length}:${key}:${channel}`;
}

/** Records the first push's receipt counts for its repeats. */
async function saveReceipt(deps: PublishOnceDeps, key: string, receipt: Receipt): Promise<void> {
  const value: StoredReceipt = {
    d: receipt.delivered,
    ...(receipt.reached === undefined ? {} : { u: [...receipt.reached] }),
    ...(receipt.partial ? { p: 1 } : {}),
  };
  try {
    await deps.redis.hset(key, "r", JSON.stringify(value));
  } catch {
    // The push was made and is answered; a repeat then answers its receipt as partial.
  }
}

/**
 * The first push's answer from the key's fields `o`, `w`, `r`. When the first asked for a receipt
 * whose counts are not in yet (it is still waiting for the nodes), waits for them a little longer
 * than a receipt waits; if they never come (its node died), the repeat's receipt is partial.
 */
async function earlierPush(
  deps: PublishOnceDeps,
  key: string,
  [offset, wanted, counts]: string[],
): Promise<EarlierPush> {
  const position = offset === "" || offset === undefined ? {} : { offset: Number(offset) };
  if (wanted !== "1") return position;
  let text = counts ?? "";
  const deadline = performance.now() + RECEIPT_WAIT_MS + 500;
  while (text === "" && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, RECEIPT_POLL_MS));
    text = (await deps.call(() => deps.redis.hget(key, "r"))) ?? "";
  }
  if (text === "") return { ...position, receipt: { delivered: 0, partial: true } };
  const stored = JSON.parse(text) as StoredReceipt;
  return {
    ...position,
    receipt: {
      delivered: stored.d,
      ...(stored.u === undefined ? {} : { reached: stored.u }),
      partial: stored.p === 1,
    },
  };
}
