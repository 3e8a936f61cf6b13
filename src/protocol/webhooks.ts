/**
 * The webhook contract (PROTOCOL.md v1.2 "Webhooks") as data: the event names, the signature
 * header and the JSON Schemas of a delivery, shared by the sender (src/webhooks/) and the
 * OpenAPI document's `webhooks` section.
 */

/** The six event names, in the words of the contract. */
export const WEBHOOK_EVENT_NAMES = [
  "channel_created",
  "channel_deleted",
  "channel_occupied",
  "channel_vacated",
  "subscriber_joined",
  "subscriber_left",
] as const;

/** The header carrying `sha256=<lowercase hex HMAC-SHA256(WEBHOOK_SECRET, raw body)>`. */
export const WEBHOOK_SIGNATURE_HEADER = "X-Pushserver-Signature";

/** Most events in one delivery. */
export const MAX_EVENTS_PER_DELIVERY = 100;

type Json = Record<string, unknown>;

/** JSON Schemas (draft 2020-12) of a delivery and its events, by component name. */
export function webhookSchemas(ref: (name: string) => string): Record<string, Json> {
  const timeMs = { type: "integer", minimum: 0, description: "ms since the epoch" };
  const channel = { type: "string", minLength: 1, maxLength: 200 };
  return {
    WebhookChannelEvent: {
      type: "object",
      required: ["name", "channel", "timeMs"],
      properties: {
        name: { enum: WEBHOOK_EVENT_NAMES.filter((n) => n.startsWith("channel_")) },
        channel,
        timeMs: { ...timeMs, description: "When it happened, ms since the epoch" },
      },
    },
    WebhookSubscriberEvent: {
      type: "object",
      description: "A member joining or leaving a presence channel",
      required: ["name", "channel", "timeMs", "uuid", "info"],
      properties: {
        name: { enum: WEBHOOK_EVENT_NAMES.filter((n) => n.startsWith("subscriber_")) },
        channel,
        timeMs: { ...timeMs, description: "When it happened, ms since the epoch" },
        uuid: { type: "string", format: "uuid", description: "The connection's UUID" },
        info: { type: "object", description: "The `info` it subscribed with (`{}` when none)" },
      },
    },
    WebhookDelivery: {
      type: "object",
      required: ["id", "timeMs", "events"],
      properties: {
        id: {
          type: "string",
          description: "The same on every retry of this delivery, with the same bytes: " +
            "deduplicate by it",
        },
        timeMs: { ...timeMs, description: "When the delivery was formed, ms since the epoch" },
        events: {
          type: "array",
          minItems: 1,
          maxItems: MAX_EVENTS_PER_DELIVERY,
          description: "In the order they happened (per channel)",
          items: {
            oneOf: [{ $ref: ref("WebhookChannelEvent") }, { $ref: ref("WebhookSubscriberEvent") }],
          },
        },
      },
    },
  };
}
