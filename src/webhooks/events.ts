/**
 * Webhook events and deliveries as data (PROTOCOL.md v1.2 "Webhooks"): pure, no I/O, no clock.
 */

import { MAX_EVENTS_PER_DELIVERY, WEBHOOK_EVENT_NAMES } from "../protocol/webhooks.ts";

// The contract's names and bounds live in protocol/ (the OpenAPI document describes them too).
export { MAX_EVENTS_PER_DELIVERY, WEBHOOK_EVENT_NAMES };

/** One event's name. */
export type WebhookEventName = typeof WEBHOOK_EVENT_NAMES[number];

/** A channel lifecycle event (no subscriber involved). */
export interface ChannelEvent {
  readonly name: "channel_created" | "channel_deleted" | "channel_occupied" | "channel_vacated";
  readonly channel: string;
  /** When it happened, ms since the epoch. */
  readonly timeMs: number;
}

/** A member joining or leaving a presence channel. */
export interface SubscriberEvent {
  readonly name: "subscriber_joined" | "subscriber_left";
  readonly channel: string;
  readonly timeMs: number;
  /** The connection's UUID. */
  readonly uuid: string;
  /** The `info` it subscribed with (`{}` when none). */
  readonly info: Readonly<Record<string, unknown>>;
}

/** Any event a delivery carries. */
export type WebhookEvent = ChannelEvent | SubscriberEvent;

/**
 * Where the server's features report what happened (presence calls it for
 * `subscriber_joined`/`subscriber_left`). Guarantees: when the promise resolves the event is
 * durable in the outbox (at-least-once from then on, even across `kill -9`); events recorded
 * one after another on a node keep that order per channel; it never throws (a failure to
 * write is logged and counted), and it never waits for the receiver.
 */
export interface WebhookEvents {
  record(event: WebhookEvent): Promise<void>;
}

/** The JSON body of one delivery: `{"id", "timeMs", "events": [...]}`. */
export function deliveryBody(id: string, timeMs: number, events: readonly WebhookEvent[]): string {
  return JSON.stringify({ id, timeMs, events });
}

/** Parses an event written by {@link encodeEvent}; undefined for anything else. */
export function decodeEvent(text: string): WebhookEvent | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null) return undefined;
    const { name, channel, timeMs } = value as Record<string, unknown>;
    if (
      typeof name !== "string" || !(WEBHOOK_EVENT_NAMES as readonly string[]).includes(name) ||
      typeof channel !== "string" || typeof timeMs !== "number"
    ) return undefined;
    return value as WebhookEvent;
  } catch {
    return undefined;
  }
}

/** The stored form of an event (its JSON, fields in delivery order). */
export function encodeEvent(event: WebhookEvent): string {
  return event.name === "subscriber_joined" || event.name === "subscriber_left"
    ? JSON.stringify({
      name: event.name,
      channel: event.channel,
      timeMs: event.timeMs,
      uuid: event.uuid,
      info: event.info,
    })
    : JSON.stringify({ name: event.name, channel: event.channel, timeMs: event.timeMs });
}
