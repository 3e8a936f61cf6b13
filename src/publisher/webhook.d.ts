/**
 * Types for `webhook.js`: checking the signature of a pushserver webhook delivery.
 *
 * @module
 */

/** The header that carries the signature: `sha256=<64 lowercase hex digits>`. */
export declare const SIGNATURE_HEADER: "x-pushserver-signature";

/**
 * Resolves `true` when `signatureHeader` is `sha256=` + the HMAC-SHA256 of `rawBody` under
 * `secret` (the server's `WEBHOOK_SECRET`), compared in constant time; `false` otherwise (also
 * for a missing or malformed header). Pass the body exactly as received, before parsing it.
 */
export function verifyWebhook(
  secret: string,
  rawBody: string | Uint8Array | ArrayBuffer,
  signatureHeader: string | null | undefined,
): Promise<boolean>;

/** One event of a delivery. */
export interface WebhookEvent {
  name:
    | "channel_created"
    | "channel_deleted"
    | "channel_occupied"
    | "channel_vacated"
    | "subscriber_joined"
    | "subscriber_left";
  channel: string;
  /** When it happened, ms since the epoch. */
  timeMs: number;
  /** `subscriber_joined`/`subscriber_left`: the connection's UUID. */
  uuid?: string;
  /** `subscriber_joined`/`subscriber_left`: the `info` it subscribed with. */
  info?: Record<string, unknown>;
}

/** The JSON body of a delivery (the same on every retry: `id` tells duplicates apart). */
export interface WebhookDelivery {
  id: string;
  timeMs: number;
  events: WebhookEvent[];
}
