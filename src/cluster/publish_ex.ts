/**
 * Cluster pushes that carry more than v1's string (v1.2): a JSON value, a receipt request. They
 * take their own script and pub/sub payload, so a plain string push keeps v1's exact path.
 *
 * Payload: `X<offset>:<epoch>:<header JSON>\n<message>` (offset and epoch empty when the push is
 * not stored); the header holds `r` (recipients), `j` (1: JSON text) and `q`/`n` (receipt id and
 * the node that waits for the counts).
 */
import type { Channel } from "../channels/store.ts";
import type { Publication, PublishOptions } from "../hub/broker.ts";
import type { Keys } from "./keys.ts";
import type { ReceiptWaiter } from "./receipts.ts";
import { CHECK, Script, storedPushArgs } from "./scripts.ts";

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
 * The part of PUBLISH_EX that PUBLISH_ONCE (publish_once.ts) runs too, after the record check:
 * stores the entry when asked (next offset, capped list, TTL), then PUBLISHes; leaves `top`
 * (the offset, or 0) and `receivers` (how many nodes got it).
 */
export const STORE_AND_PUBLISH_EX = `local top = 0
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
`;

/**
 * Checks the record (compare-and-set, as every push), stores the entry when asked (next offset,
 * capped list, TTL), then PUBLISHes; answers `{offset or 0, receivers}` (how many nodes got it).
 * KEYS: channel, history. ARGV: epoch, tokenHash, pub/sub channel, message, size, ttlMs,
 * stored ('1'/'0'), header JSON, entry marker ('j' for JSON text, else '').
 */
export const PUBLISH_EX = new Script(
  2,
  `${CHECK}${STORE_AND_PUBLISH_EX}return {top, receivers}
`,
);

/** Where a node waits for receipt counts: its waiter, and the node whose reply channel gets them. */
export interface ReceiptSide {
  readonly waiter: ReceiptWaiter;
  readonly nodeId: string;
}

/**
 * One extended push on its way to PUBLISH_EX or PUBLISH_ONCE: whether it is stored, the script's
 * ARGV (PUBLISH_ONCE's begin with PUBLISH_EX's), and its receipt request, registered with the
 * waiter when the push asks for a receipt.
 */
export class ExtendedPush {
  readonly stored: boolean;
  /** PUBLISH_EX's ARGV. */
  readonly args: (string | number)[];
  readonly #receipts: ReceiptSide | undefined;
  readonly #id: string | undefined;

  /** Builds the push's header and ARGV; `receipts` is used only when `options.receipt` is set. */
  constructor(
    keys: Keys,
    channel: Channel,
    message: string,
    recipients: readonly string[],
    options: PublishOptions,
    receipts: ReceiptSide | undefined,
  ) {
    this.stored = channel.history !== null && recipients.length === 0;
    const json = options.json === true;
    this.#receipts = options.receipt === undefined ? undefined : receipts;
    const id = this.#id = this.#receipts?.waiter.nextId();
    const header: ExtendedHeader = {
      r: recipients,
      ...(json ? { j: 1 } : {}),
      ...(id === undefined ? {} : { q: id, n: this.#receipts!.nodeId }),
    };
    if (id !== undefined) this.#receipts!.waiter.register(id, options.receipt!);
    this.args = [
      ...storedPushArgs(keys, channel, message),
      this.stored ? "1" : "0",
      JSON.stringify(header),
      json ? "j" : "",
    ];
  }

  /** Whether a receipt was asked for (and is registered). */
  get hasReceipt(): boolean {
    return this.#id !== undefined;
  }

  /**
   * Runs the script through `call`; when it fails, or answers that the record changed (0 or -1:
   * `applied` throws then), the receipt request goes.
   */
  async run(
    call: <T>(run: () => Promise<T>) => Promise<T>,
    script: () => Promise<unknown>,
    applied: (answer: unknown) => void,
  ): Promise<unknown> {
    const answer = await call(script).catch((error) => {
      this.cancel();
      throw error;
    });
    if (!Array.isArray(answer)) {
      this.cancel();
      applied(answer);
    }
    return answer;
  }

  /** The push was not made: its receipt request (if any) goes. */
  cancel(): void {
    if (this.#id !== undefined) this.#receipts!.waiter.cancel(this.#id);
  }

  /** Waits for the receipt counts of the `nodes` nodes that received the push (see receipts.ts). */
  async receipt(nodes: number): Promise<void> {
    if (this.#id !== undefined) await this.#receipts!.waiter.wait(this.#id, nodes);
  }
}

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
