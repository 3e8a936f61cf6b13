/**
 * Idempotent pushes on a single node (PROTOCOL.md v1.2 "Idempotent pushes"): a push whose
 * `idempotencyKey` was used on the same channel (same epoch) within 300 s is not made again and
 * is answered like the first. The answers live in SQLite (`push_keys`, migration 4), so a
 * publisher that retries after a restart still gets the first answer; a push with the key still
 * in flight is waited for, in this process.
 *
 * What a crash can still do: the key's row is written right after the push resolved (for a
 * history push: after its commit and delivery, in the same event-loop turn's continuation), not
 * in the history commit itself. A `kill -9` exactly between the two leaves a delivered push
 * without its key, and a retry after the restart makes it again.
 */
import type { Channel } from "../channels/store.ts";
import type { EarlierPush, PushOnce, Receipt } from "../hub/broker.ts";
import { ONCE_TTL_MS } from "../hub/broker.ts";
import type { SqliteChannelStore } from "./sqlite_store.ts";

/** How often expired keys are deleted (finding one filters by expiry exactly). */
const SWEEP_INTERVAL_MS = 60_000;

/** Where the answers are kept: the SQLite store, or (foreign stores in tests) memory. */
type KeyTable = Pick<SqliteChannelStore, "findPushKey" | "savePushKey" | "sweepPushKeys">;

/** The keys of every channel of one single-node server. */
export class LocalPushKeys {
  readonly #table: KeyTable;
  /** Answers whose row could not be written (a locked or full disk): kept here instead. */
  readonly #unsaved = memoryTable();
  readonly #now: () => number;
  /** Pushes being made, by channel and key: a second push with the key waits for the first. */
  readonly #inFlight = new Map<string, Promise<unknown>>();
  #sweptAt = Number.NEGATIVE_INFINITY;

  /** Keeps the answers in `store` (in memory without one); expiry by the injected `now`. */
  constructor(options: { store?: SqliteChannelStore | undefined; now: () => number }) {
    this.#table = options.store ?? memoryTable();
    this.#now = options.now;
  }

  /**
   * Makes the push with `publish` unless `once.key` was used on the channel: then sets
   * `once.earlier` and resolves with the first push's offset. A first push that failed leaves
   * the key unused.
   */
  async run(
    channel: Channel,
    once: PushOnce,
    receipt: Receipt | undefined,
    publish: () => Promise<number | undefined>,
  ): Promise<number | undefined> {
    const id = `${channel.name}\n${once.key}`;
    for (;;) {
      const now = this.#now();
      const stored = this.#unsaved.findPushKey(channel.name, once.key, channel.epoch, now) ??
        this.#table.findPushKey(channel.name, once.key, channel.epoch, now);
      if (stored !== undefined) {
        once.earlier = JSON.parse(stored) as EarlierPush;
        return once.earlier.offset;
      }
      const pending = this.#inFlight.get(id);
      if (pending === undefined) break;
      await pending.catch(() => {});
    }
    const made = (async () => {
      const offset = await publish();
      const answer: EarlierPush = {
        ...(offset === undefined ? {} : { offset }),
        ...(receipt === undefined ? {} : {
          receipt: {
            delivered: receipt.delivered,
            ...(receipt.reached === undefined ? {} : { reached: [...receipt.reached] }),
            partial: receipt.partial,
          },
        }),
      };
      const now = this.#now();
      const row = [channel.name, once.key, channel.epoch, JSON.stringify(answer)] as const;
      try {
        this.#table.savePushKey(...row, now + ONCE_TTL_MS);
        if (now - this.#sweptAt >= SWEEP_INTERVAL_MS) {
          this.#sweptAt = now;
          this.#table.sweepPushKeys(now);
          this.#unsaved.sweepPushKeys(now);
        }
      } catch {
        // The push was made: it is answered 200, and its key holds in this process at least.
        this.#unsaved.savePushKey(...row, now + ONCE_TTL_MS);
      }
      return offset;
    })();
    this.#inFlight.set(id, made);
    try {
      return await made;
    } finally {
      if (this.#inFlight.get(id) === made) this.#inFlight.delete(id);
    }
  }
}

/** The same table in memory. */
function memoryTable(): KeyTable {
  const rows = new Map<string, { epoch: string; answer: string; expiresAt: number }>();
  return {
    findPushKey(channel, key, epoch, now) {
      const row = rows.get(`${channel}\n${key}`);
      return row !== undefined && row.epoch === epoch && row.expiresAt > now
        ? row.answer
        : undefined;
    },
    savePushKey(channel, key, epoch, answer, expiresAt) {
      rows.set(`${channel}\n${key}`, { epoch, answer, expiresAt });
    },
    sweepPushKeys(now) {
      for (const [id, row] of rows) if (row.expiresAt <= now) rows.delete(id);
    },
  };
}
