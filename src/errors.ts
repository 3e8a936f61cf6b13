/**
 * The closed catalog of expected failures. HTTP and WebSocket both map a
 * {@link PushError} through {@link ERRORS}, so the two transports cannot drift apart.
 */

/** Every expected failure, by name. */
export type ErrorCode =
  | "payload_too_large"
  | "request_timeout"
  | "bad_json"
  | "invalid_request"
  | "frame_bad_json"
  | "invalid_frame"
  | "unknown_channel"
  | "token_missing"
  | "token_invalid"
  | "uuid_mismatch"
  | "origin_forbidden"
  | "channel_exists"
  | "no_history"
  | "private_channel"
  | "not_subscribed"
  | "unknown_connection"
  | "insufficient_storage"
  | "method_not_allowed"
  | "no_route"
  | "too_many_requests"
  | "unavailable"
  | "upgrade_required"
  | "internal";

/** Protocol status code and short message for each error. */
export const ERRORS: Readonly<Record<ErrorCode, { status: number; message: string }>> = {
  payload_too_large: { status: 413, message: "Payload Too Large" },
  request_timeout: { status: 408, message: "Request Timeout" },
  bad_json: { status: 400, message: "Bad Request" },
  invalid_request: { status: 400, message: "Bad Request" },
  frame_bad_json: { status: 400, message: "Bad JSON" },
  invalid_frame: { status: 400, message: "Invalid message" },
  unknown_channel: { status: 404, message: "Not found" },
  token_missing: { status: 401, message: "Unauthorized" },
  token_invalid: { status: 403, message: "Forbidden" },
  uuid_mismatch: { status: 403, message: "Forbidden" },
  origin_forbidden: { status: 403, message: "Forbidden" },
  channel_exists: { status: 409, message: "Conflict" },
  no_history: { status: 409, message: "Conflict" },
  private_channel: { status: 403, message: "Forbidden" },
  not_subscribed: { status: 403, message: "Forbidden" },
  unknown_connection: { status: 404, message: "Not found" },
  insufficient_storage: { status: 507, message: "Insufficient Storage" },
  method_not_allowed: { status: 405, message: "Method Not Allowed" },
  no_route: { status: 404, message: "Not found" },
  too_many_requests: { status: 429, message: "Too Many Requests" },
  unavailable: { status: 503, message: "Service Unavailable" },
  upgrade_required: { status: 426, message: "Upgrade Required" },
  internal: { status: 500, message: "Internal Server Error" },
};

/** An expected failure with a precise one-sentence detail (never a token, never a request body). */
export class PushError extends Error {
  /**
   * Creates an error of the given catalog code; `details` becomes `errorDetails`. `retryAfterS`
   * is the `Retry-After` of a 429 or 503 answer (default 1 s).
   */
  constructor(
    readonly code: ErrorCode,
    readonly details: string | null,
    readonly retryAfterS?: number,
  ) {
    super(details ?? code);
    this.name = "PushError";
  }

  /** The protocol status code (HTTP status, or the `code` of a WS `ERROR` frame). */
  get status(): number {
    return ERRORS[this.code].status;
  }
}

/**
 * The `Retry-After` header of an HTTP answer for `error`: on every 429 and 503, whole seconds,
 * at least 1 (PROTOCOL.md v1.2); no header for other errors.
 */
export function retryHeaders(error: PushError): Record<string, string> {
  if (error.status !== 429 && error.status !== 503) return {};
  return { "retry-after": String(Math.max(1, Math.ceil(error.retryAfterS ?? 1))) };
}

/** A WebSocket close the server sends: its code and the reason text that goes with it. */
export interface Close {
  readonly code: number;
  readonly reason: string;
}

/**
 * Every WebSocket close the server sends, by name: the code and its reason, used by the code
 * and by the AsyncAPI document alike (centrifuge's `disconnect.go`). A new close is one row.
 */
export const CLOSE = {
  goingAway: { code: 1001, reason: "Going Away" },
  policyViolation: { code: 1008, reason: "too many frames" },
  messageTooBig: { code: 1009, reason: "frame too large" },
  internalError: { code: 1011, reason: "internal error" },
  slowConsumer: { code: 4008, reason: "slow consumer" },
} as const satisfies Readonly<Record<string, Close>>;

/** The name of a close in {@link CLOSE}. */
export type CloseName = keyof typeof CLOSE;
