/**
 * The single-node webhook outbox: tables of the channel store's SQLite file (migration 6 in
 * sqlite_store.ts). Every write is one synchronous transaction, committed (fsync) before it
 * resolves, so an event survives `kill -9` once the action that caused it is answered.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { immediateTransaction } from "./sqlite_store.ts";
import { decodeEvent, encodeEvent, type WebhookEvent } from "../webhooks/events.ts";
import type { PendingEvents, StoredDelivery, WebhookOutbox } from "../webhooks/outbox.ts";

interface DeliveryRow {
  id: string;
  body: string;
  created_ms: number;
  attempts: number;
  next_ms: number;
  events: number;
  oldest_ms: number;
}

/** {@link WebhookOutbox} in SQLite; one process owns the file, so it always leads. */
export class SqliteOutbox implements WebhookOutbox {
  readonly #db: DatabaseSync;
  readonly #append: StatementSync;
  readonly #occupy: StatementSync;
  readonly #vacate: StatementSync;
  readonly #current: StatementSync;
  readonly #pending: StatementSync;
  readonly #oldest: StatementSync;
  readonly #take: StatementSync;
  readonly #deleteUpTo: StatementSync;
  readonly #insertDelivery: StatementSync;
  readonly #attempted: StatementSync;
  readonly #finish: StatementSync;

  /**
   * Uses the webhook tables of `db`. Channels still marked occupied were left by a process
   * that stopped with subscribers (they are all gone now): each gets its `channel_vacated`.
   */
  constructor(db: DatabaseSync, now: () => number = Date.now) {
    this.#db = db;
    this.#append = db.prepare("INSERT INTO webhook_events (time_ms, event) VALUES (?, ?)");
    this.#occupy = db.prepare("INSERT OR IGNORE INTO webhook_occupied (channel) VALUES (?)");
    this.#vacate = db.prepare("DELETE FROM webhook_occupied WHERE channel = ?");
    this.#current = db.prepare(
      "SELECT id, body, created_ms, attempts, next_ms, events, oldest_ms FROM webhook_deliveries",
    );
    this.#pending = db.prepare("SELECT count(*) AS n FROM webhook_events");
    this.#oldest = db.prepare("SELECT time_ms FROM webhook_events ORDER BY seq LIMIT 1");
    this.#take = db.prepare("SELECT seq, event FROM webhook_events ORDER BY seq LIMIT ?");
    this.#deleteUpTo = db.prepare("DELETE FROM webhook_events WHERE seq <= ?");
    this.#insertDelivery = db.prepare(
      `INSERT INTO webhook_deliveries (id, body, created_ms, attempts, next_ms, events, oldest_ms)
       VALUES (?, ?, ?, 0, 0, ?, ?)`,
    );
    this.#attempted = db.prepare(
      "UPDATE webhook_deliveries SET attempts = ?, next_ms = ? WHERE id = ?",
    );
    this.#finish = db.prepare("DELETE FROM webhook_deliveries WHERE id = ?");
    const left = db.prepare("SELECT channel FROM webhook_occupied ORDER BY channel").all() as {
      channel: string;
    }[];
    const timeMs = now();
    for (const { channel } of left) this.#transition(false, channel, timeMs);
  }

  append(event: WebhookEvent): Promise<void> {
    this.#append.run(event.timeMs, encodeEvent(event));
    return Promise.resolve();
  }

  occupy(channel: string, timeMs: number): Promise<void> {
    this.#transition(true, channel, timeMs);
    return Promise.resolve();
  }

  vacate(channel: string, timeMs: number): Promise<void> {
    this.#transition(false, channel, timeMs);
    return Promise.resolve();
  }

  deleted(channel: string, timeMs: number): Promise<void> {
    this.#transaction(() => {
      if (Number(this.#vacate.run(channel).changes) === 1) {
        this.#append.run(timeMs, encodeEvent({ name: "channel_vacated", channel, timeMs }));
      }
      this.#append.run(timeMs, encodeEvent({ name: "channel_deleted", channel, timeMs }));
    });
    return Promise.resolve();
  }

  lead(): Promise<boolean> {
    return Promise.resolve(this.#db.isOpen);
  }

  current(): Promise<StoredDelivery | undefined> {
    const row = this.#current.get() as DeliveryRow | undefined;
    return Promise.resolve(row === undefined ? undefined : toDelivery(row));
  }

  pending(): Promise<PendingEvents> {
    const { n } = this.#pending.get() as { n: number };
    const oldest = this.#oldest.get() as { time_ms: number } | undefined;
    return Promise.resolve({ count: Number(n), oldestMs: oldest?.time_ms });
  }

  form(
    max: number,
    timeMs: number,
    build: (events: readonly WebhookEvent[]) => { id: string; body: string },
  ): Promise<StoredDelivery | undefined> {
    return Promise.resolve(this.#transaction(() => {
      if (this.#current.get() !== undefined) return undefined;
      const rows = this.#take.all(max) as { seq: number; event: string }[];
      if (rows.length === 0) return undefined;
      // A row that does not parse (never written by this code) is skipped, not sent.
      const events = rows.map((r) => decodeEvent(r.event)).filter((e) => e !== undefined);
      this.#deleteUpTo.run(rows[rows.length - 1]!.seq);
      if (events.length === 0) return undefined;
      const { id, body } = build(events);
      const oldestMs = Math.min(...events.map((e) => e.timeMs));
      this.#insertDelivery.run(id, body, timeMs, events.length, oldestMs);
      return toDelivery({
        id,
        body,
        created_ms: timeMs,
        attempts: 0,
        next_ms: 0,
        events: events.length,
        oldest_ms: oldestMs,
      });
    }));
  }

  attempted(id: string, attempts: number, nextMs: number): Promise<void> {
    this.#attempted.run(attempts, nextMs, id);
    return Promise.resolve();
  }

  finish(id: string): Promise<void> {
    this.#finish.run(id);
    return Promise.resolve();
  }

  close(): Promise<void> {
    // The database belongs to the channel store, which closes it.
    return Promise.resolve();
  }

  /** Marks `channel` occupied or vacant; appends the event only when that changed something. */
  #transition(occupied: boolean, channel: string, timeMs: number): void {
    this.#transaction(() => {
      const changed = Number((occupied ? this.#occupy : this.#vacate).run(channel).changes) === 1;
      if (!changed) return;
      const name = occupied ? "channel_occupied" : "channel_vacated";
      this.#append.run(timeMs, encodeEvent({ name, channel, timeMs }));
    });
  }

  #transaction<T>(work: () => T): T {
    return immediateTransaction(this.#db, work);
  }
}

function toDelivery(row: DeliveryRow): StoredDelivery {
  return {
    id: row.id,
    body: row.body,
    createdMs: Number(row.created_ms),
    attempts: Number(row.attempts),
    nextMs: Number(row.next_ms),
    events: Number(row.events),
    oldestMs: Number(row.oldest_ms),
  };
}
