/**
 * Sends the outbox's deliveries, one at a time and oldest first (so events arrive in the order
 * they happened), on its own timers: nothing here is awaited by a push or a subscriber.
 */
import type { Logger } from "../log.ts";
import { deliveryBody, MAX_EVENTS_PER_DELIVERY } from "./events.ts";
import type { StoredDelivery, WebhookOutbox } from "./outbox.ts";
import { SIGNATURE_HEADER, type WebhookSigner } from "./signature.ts";

/** How long events wait for company before a delivery is formed. */
export const BATCH_MS = 1000;
/** A 2xx within this long acknowledges a delivery. */
export const ATTEMPT_TIMEOUT_MS = 10_000;
/** The first retry's delay; each further one doubles, up to {@link MAX_RETRY_DELAY_MS}. */
export const FIRST_RETRY_DELAY_MS = 1000;
/** Longest gap between two attempts of a delivery. */
export const MAX_RETRY_DELAY_MS = 60_000;
/** How often an idle sender looks at the outbox (other nodes append, the lease may free up). */
export const POLL_MS = 1000;

/** The clock and timers the sender runs on (tests inject their own). */
export interface WebhookTimers {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** What the admin UI and /metrics show of the webhook queue. */
export interface WebhookStats {
  /** Events waiting (in a delivery being attempted, or not yet in one). */
  queued: number;
  /** Events acknowledged by the receiver. */
  delivered: number;
  /** Failed attempts that were scheduled for a retry. */
  retried: number;
  /** Events dropped after the retry window. */
  dropped: number;
  /** When the last delivery was acknowledged (ms since the epoch), or null. */
  lastDeliveryMs: number | null;
  /** Why the last failed attempt failed (status or error, never the URL or secret), or null. */
  lastError: string | null;
}

/** The delay before attempt number `attempts + 1` (after `attempts` failures). */
export function retryDelayMs(attempts: number): number {
  return Math.min(FIRST_RETRY_DELAY_MS * 2 ** Math.max(0, attempts - 1), MAX_RETRY_DELAY_MS);
}

/** Options of {@link WebhookSender}. */
export interface WebhookSenderOptions {
  readonly url: string;
  readonly signer: WebhookSigner;
  readonly outbox: WebhookOutbox;
  /** How long a delivery is retried before it is dropped, in ms. */
  readonly retryMs: number;
  readonly logger: Logger;
  readonly timers: WebhookTimers;
  readonly fetch?: typeof fetch;
  readonly newId?: () => string;
  /** Called with the seconds from a delivery's oldest event to its acknowledgement. */
  readonly onDelivered?: (seconds: number) => void;
}

/** The delivery loop. */
export class WebhookSender {
  readonly stats: WebhookStats = {
    queued: 0,
    delivered: 0,
    retried: 0,
    dropped: 0,
    lastDeliveryMs: null,
    lastError: null,
  };
  readonly #o: WebhookSenderOptions;
  readonly #fetch: typeof fetch;
  readonly #newId: () => string;
  readonly #href: string;
  #timer: unknown;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #inFlight: AbortController | undefined;

  /** A stopped sender; {@link start} begins the loop. */
  constructor(options: WebhookSenderOptions) {
    this.#o = options;
    this.#fetch = options.fetch ?? fetch;
    this.#newId = options.newId ?? (() => crypto.randomUUID());
    this.#href = new URL(options.url).href;
  }

  /** Starts the loop (it looks at the outbox at once). */
  start(): void {
    this.#schedule(0);
  }

  /** Something was appended: look now instead of at the next poll. */
  wake(): void {
    if (this.#closed) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#o.timers.clearTimeout(this.#timer);
    this.#schedule(0);
  }

  /** Stops the loop; an attempt in flight is abandoned (it is retried after a restart). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#o.timers.clearTimeout(this.#timer);
    this.#inFlight?.abort();
    await this.#running;
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    this.#timer = this.#o.timers.setTimeout(() => {
      // The next run is scheduled only once this one is over: two never overlap.
      this.#running = this.#run().then((delay) => {
        this.#running = undefined;
        this.#schedule(delay);
      });
    }, ms);
  }

  /** One step; resolves (never rejects) with how long to wait before the next. */
  async #run(): Promise<number> {
    let delay: number;
    try {
      delay = await this.#step();
    } catch (error) {
      if (!this.#closed) this.#o.logger.warn("webhook outbox unavailable", { error });
      delay = POLL_MS;
    }
    if (this.#again) {
      this.#again = false;
      delay = 0;
    }
    return delay;
  }

  /** One look at the outbox; resolves with how long to wait before the next. */
  async #step(): Promise<number> {
    const { outbox, timers } = this.#o;
    const pending = await outbox.pending();
    let delivery = await outbox.current();
    this.stats.queued = pending.count + (delivery?.events ?? 0);
    if (!(await outbox.lead())) return POLL_MS;
    const now = timers.now();
    if (delivery === undefined) {
      if (pending.count === 0 || pending.oldestMs === undefined) return POLL_MS;
      const age = now - pending.oldestMs;
      if (pending.count < MAX_EVENTS_PER_DELIVERY && age < BATCH_MS) {
        return Math.min(BATCH_MS - age, POLL_MS);
      }
      delivery = await outbox.form(MAX_EVENTS_PER_DELIVERY, now, (events) => {
        const id = this.#newId();
        return { id, body: deliveryBody(id, now, events) };
      });
      if (delivery === undefined) return POLL_MS;
    }
    if (delivery.nextMs > now) return Math.min(delivery.nextMs - now, POLL_MS);
    return await this.#attempt(delivery);
  }

  async #attempt(delivery: StoredDelivery): Promise<number> {
    const { outbox, timers, logger } = this.#o;
    const failure = await this.#post(delivery);
    if (this.#closed) return POLL_MS;
    const now = timers.now();
    if (failure === undefined) {
      await outbox.finish(delivery.id);
      this.stats.delivered += delivery.events;
      this.stats.queued = Math.max(0, this.stats.queued - delivery.events);
      this.stats.lastDeliveryMs = now;
      this.#o.onDelivered?.(Math.max(0, now - delivery.oldestMs) / 1000);
      return 0;
    }
    this.stats.lastError = failure;
    const attempts = delivery.attempts + 1;
    if (now - delivery.createdMs >= this.#o.retryMs) {
      await outbox.finish(delivery.id);
      this.stats.dropped += delivery.events;
      logger.warn("webhook delivery dropped after the retry window", {
        id: delivery.id,
        events: delivery.events,
        attempts,
        error: failure,
      });
      return 0;
    }
    const delay = retryDelayMs(attempts);
    await outbox.attempted(delivery.id, attempts, now + delay);
    this.stats.retried++;
    logger.info("webhook delivery failed; will retry", {
      id: delivery.id,
      attempts,
      retryInMs: delay,
      error: failure,
    });
    return Math.min(delay, POLL_MS);
  }

  /** POSTs the delivery; undefined when a 2xx came within the timeout, else why not. */
  async #post(delivery: StoredDelivery): Promise<string | undefined> {
    const controller = new AbortController();
    this.#inFlight = controller;
    // A wall-clock bound on the receiver, whatever clock the retries run on.
    const timeout = setTimeout(() => controller.abort(), ATTEMPT_TIMEOUT_MS);
    try {
      const response = await this.#fetch(this.#o.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          [SIGNATURE_HEADER]: await this.#o.signer.sign(delivery.body),
        },
        body: delivery.body,
        signal: controller.signal,
        redirect: "manual",
      });
      await response.body?.cancel().catch(() => {});
      if (response.status >= 200 && response.status < 300) return undefined;
      return `HTTP ${response.status}`;
    } catch (error) {
      if (controller.signal.aborted) {
        return this.#closed ? "shutting down" : `no answer within ${ATTEMPT_TIMEOUT_MS} ms`;
      }
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      // The URL may carry credentials: it never reaches a log line or the admin UI.
      return text.replaceAll(this.#o.url, "WEBHOOK_URL").replaceAll(this.#href, "WEBHOOK_URL");
    } finally {
      clearTimeout(timeout);
      this.#inFlight = undefined;
    }
  }
}
