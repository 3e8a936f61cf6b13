/** A hand-driven clock and timer queue for the webhook sender (no FakeTime without JSR). */
import type { WebhookTimers } from "../../src/webhooks/sender.ts";

interface Scheduled {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/** Timers that fire only when the test calls {@link fire}; the clock jumps to each one's time. */
export class FakeTimers implements WebhookTimers {
  nowMs: number;
  #queue: Scheduled[] = [];
  #nextId = 1;
  #scheduled: (() => void) | undefined;

  constructor(startMs = 1_700_000_000_000) {
    this.nowMs = startMs;
  }

  now = (): number => this.nowMs;

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#queue.push({ id, at: this.nowMs + ms, callback });
    this.#scheduled?.();
    return id;
  }

  clearTimeout(id: unknown): void {
    this.#queue = this.#queue.filter((t) => t.id !== id);
  }

  /**
   * Waits (real time, bounded) until a timer is scheduled, then moves the clock to the earliest
   * one's time and runs it. Resolves with the clock's new time.
   */
  async fire(timeoutMs = 5000): Promise<number> {
    if (this.#queue.length === 0) {
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      const timer = setTimeout(() => reject(new Error("no timer was scheduled")), timeoutMs);
      this.#scheduled = resolve;
      try {
        await promise;
      } finally {
        clearTimeout(timer);
        this.#scheduled = undefined;
      }
    }
    this.#queue.sort((a, b) => a.at - b.at || a.id - b.id);
    const next = this.#queue.shift()!;
    this.nowMs = Math.max(this.nowMs, next.at);
    next.callback();
    return this.nowMs;
  }
}
