/**
 * The webhook feature of one server: records events into the outbox (before the action that
 * caused them is answered), runs the sender, and reports the queue for /metrics and the admin UI.
 */
import type { WebhookConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { WebhookEvent, WebhookEvents } from "./events.ts";
import type { WebhookOutbox } from "./outbox.ts";
import { WebhookSender, type WebhookStats, type WebhookTimers } from "./sender.ts";
import { WebhookSigner } from "./signature.ts";

/** Delivery latency buckets, in seconds (batching alone takes up to 1 s). */
const LATENCY_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 300, 3600] as const;

/** Options of {@link Webhooks}. */
export interface WebhooksOptions {
  readonly config: WebhookConfig;
  readonly outbox: WebhookOutbox;
  readonly logger: Logger;
  /** Event times (default `Date.now`). */
  readonly now?: () => number;
  /** The sender's clock and timers (default: `now` and the global timers). */
  readonly timers?: WebhookTimers;
  readonly fetch?: typeof fetch;
  /** Delivery ids (default `crypto.randomUUID`). */
  readonly newId?: () => string;
}

/** Records channel events and delivers them to `WEBHOOK_URL`. */
export class Webhooks implements WebhookEvents {
  readonly #outbox: WebhookOutbox;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #sender: WebhookSender;
  readonly #writes = new Set<Promise<void>>();
  readonly #latency = LATENCY_BUCKETS.map(() => 0);
  #latencyCount = 0;
  #latencySum = 0;
  #lost = 0;

  /** A stopped feature; {@link start} begins sending. */
  constructor(options: WebhooksOptions) {
    this.#outbox = options.outbox;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    const now = this.#now;
    this.#sender = new WebhookSender({
      url: options.config.url,
      signer: new WebhookSigner(options.config.secret),
      outbox: options.outbox,
      retryMs: options.config.retryS * 1000,
      logger: options.logger,
      timers: options.timers ?? {
        now,
        setTimeout: (callback, ms) => setTimeout(callback, ms),
        clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
      },
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      ...(options.newId === undefined ? {} : { newId: options.newId }),
      onDelivered: (seconds) => this.#observe(seconds),
    });
  }

  /** Starts delivering what the outbox holds (also what an earlier process left there). */
  start(): void {
    this.#sender.start();
  }

  /** {@link WebhookEvents.record}: presence reports `subscriber_joined`/`subscriber_left` here. */
  record(event: WebhookEvent): Promise<void> {
    return this.#write(event.name, event.channel, () => this.#outbox.append(event));
  }

  /** A channel was created (call before answering the create). */
  created(channel: string): Promise<void> {
    const event = { name: "channel_created", channel, timeMs: this.#now() } as const;
    return this.record(event);
  }

  /**
   * A channel was deleted (call before answering the delete, after presence recorded its
   * members' `subscriber_left`): `channel_vacated` first if it was occupied.
   */
  deleted(channel: string): Promise<void> {
    const timeMs = this.#now();
    return this.#write("channel_deleted", channel, () => this.#outbox.deleted(channel, timeMs));
  }

  /** The hub's first local subscriber of `channel` (its `Subscribed` ack waits for this). */
  occupied(channel: string): Promise<void> {
    const timeMs = this.#now();
    return this.#write("channel_occupied", channel, () => this.#outbox.occupy(channel, timeMs));
  }

  /** The hub's last local subscriber of `channel` is gone. */
  vacated(channel: string): void {
    const timeMs = this.#now();
    void this.#write("channel_vacated", channel, () => this.#outbox.vacate(channel, timeMs));
  }

  /** The queue's state, for the admin UI. */
  stats(): WebhookStats {
    return { ...this.#sender.stats };
  }

  /** Prometheus lines: events queued, delivered, retried, dropped, lost; delivery latency. */
  metrics(): string {
    const s = this.#sender.stats;
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, value: number) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    metric(
      "pushserver_webhook_events_queued",
      "gauge",
      "Webhook events waiting in the outbox (as last read by this node).",
      s.queued,
    );
    metric(
      "pushserver_webhook_events_delivered_total",
      "counter",
      "Webhook events acknowledged by the receiver (sent by this node).",
      s.delivered,
    );
    metric(
      "pushserver_webhook_retries_total",
      "counter",
      "Failed webhook delivery attempts that were scheduled for a retry.",
      s.retried,
    );
    metric(
      "pushserver_webhook_events_dropped_total",
      "counter",
      "Webhook events dropped after WEBHOOK_RETRY_S of failed attempts.",
      s.dropped,
    );
    metric(
      "pushserver_webhook_events_unrecorded_total",
      "counter",
      "Webhook events that could not be written to the outbox (store unavailable).",
      this.#lost,
    );
    const name = "pushserver_webhook_delivery_seconds";
    lines.push(
      `# HELP ${name} From a delivery's oldest event to the receiver's acknowledgement.`,
      `# TYPE ${name} histogram`,
    );
    LATENCY_BUCKETS.forEach((le, i) =>
      lines.push(`${name}_bucket{le="${le}"} ${this.#latency[i]}`)
    );
    lines.push(
      `${name}_bucket{le="+Inf"} ${this.#latencyCount}`,
      `${name}_sum ${this.#latencySum}`,
      `${name}_count ${this.#latencyCount}`,
    );
    return lines.join("\n") + "\n";
  }

  /** Waits for writes in flight, stops the sender, releases the outbox. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#writes]);
    await this.#sender.close();
    await this.#outbox.close();
  }

  #write(name: string, channel: string, write: () => Promise<void>): Promise<void> {
    const done = (async () => {
      try {
        await write();
        this.#sender.wake();
      } catch (error) {
        this.#lost++;
        this.#logger.error("webhook event not recorded", { event: name, channel, error });
      }
    })();
    this.#writes.add(done);
    done.finally(() => this.#writes.delete(done));
    return done;
  }

  #observe(seconds: number): void {
    this.#latencyCount++;
    this.#latencySum += seconds;
    LATENCY_BUCKETS.forEach((le, i) => {
      if (seconds <= le) this.#latency[i]!++;
    });
  }
}
