/**
 * The error rows of the AsyncAPI document: which catalog entries (`errors.ts`) the WebSocket port
 * answers with, how it refuses an upgrade, and when it sends each close of `CLOSE`.
 */
import { CLOSE, type CloseName, type ErrorCode } from "../errors.ts";

/** Catalog entries only the WebSocket port answers with. */
export const WS_ONLY: readonly ErrorCode[] = [
  "frame_bad_json",
  "invalid_frame",
  "uuid_mismatch",
  "upgrade_required",
];

/** Catalog entries a subscriber can get as an `ERROR` frame. */
export const WS_FRAME_ERRORS: readonly ErrorCode[] = [
  "frame_bad_json",
  "invalid_frame",
  "uuid_mismatch",
  "private_channel",
  "not_subscribed",
  "unknown_channel",
  "too_many_requests",
  "unavailable",
];

/** Statuses the subscriber port answers a request that it does not upgrade. */
export const WS_REFUSALS: Readonly<Record<number, string>> = {
  400: "The upgrade request is malformed; or (`POST /sse/command`) the body is not a client frame",
  403: "The `Origin` is not in `WS_ORIGINS` (WebSocket upgrades and `GET /sse`)",
  404: "`POST /sse/command`: no open event stream has this session",
  405: "Another method on `/sse` or `/sse/command`",
  413: "`POST /sse/command`: the body is larger than `MAX_FRAME_BYTES`",
  426: "A plain HTTP request (not a WebSocket upgrade, not `/sse`)",
  503: "The server is shutting down, or holds `MAX_CONNECTIONS` connections",
};

/** The Server-Sent Events answers of the subscriber port that are not errors. */
export const SSE_ANSWERS: Readonly<Record<number, { description: string; contentType?: string }>> =
  {
    200: {
      description: "`GET /sse`: the event stream; every frame a WebSocket would get is one " +
        "`data:` event, the first `Connected` with `data.session`",
      contentType: "text/event-stream",
    },
    202: { description: "`POST /sse/command`: accepted; its answer arrives on the stream" },
    204: { description: "A CORS preflight (`OPTIONS`) of `/sse` or `/sse/command`" },
  };

/** When the server sends each close of the catalog (the AsyncAPI text; code and reason come from `CLOSE`). */
export const CLOSE_WHEN: Readonly<Record<CloseName, string>> = {
  goingAway: "The server shuts down, or the connection did not answer pings (`WS_IDLE_TIMEOUT_S`)",
  policyViolation: "Persistent flooding past `WS_FRAME_RATE` / `WS_FRAME_BURST`",
  messageTooBig: "A frame over `MAX_FRAME_BYTES`",
  internalError: "A bug in the server",
  slowConsumer: "More than `MAX_BUFFERED_BYTES` unsent to this connection",
};

/** WebSocket close codes the server sends, in catalog order. */
export const CLOSE_CODES: readonly { code: number; reason: string; when: string }[] = (
  Object.keys(CLOSE) as CloseName[]
).map((name) => ({ ...CLOSE[name], when: CLOSE_WHEN[name] }));
