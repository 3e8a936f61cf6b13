/**
 * The API descriptions: an OpenAPI 3.1 document of the HTTP port and an AsyncAPI 3.0 document of
 * the WebSocket port, generated with zod's JSON Schema output from the schemas that validate
 * requests (`api.ts`, `inbound.ts`) and from `envelopes.ts` for what the server sends.
 *
 * Adding a publisher route is one entry in {@link ACTION_ROUTES} (its request schema is looked up
 * in `ACTION_SCHEMAS` by action name); an operations route is one entry in
 * {@link OPERATION_ROUTES}. Error rows come from the catalog in `errors.ts`.
 */
import { z } from "zod";
import { CLOSE, type ErrorCode, ERRORS } from "../errors.ts";
import { ACTION_SCHEMAS, type ActionName, adminActionSchema } from "./api.ts";
import { inboundSchema } from "./inbound.ts";
import {
  catalogMessages,
  channelTokenValue,
  type ClientAckMessage,
  clientAckSchema,
  clientPush,
  connectionUuid,
  epoch,
  errorSchema,
  health,
  historySettings,
  readiness,
  serverAckSchema,
  streamOffset,
  sysadmin,
} from "./envelopes.ts";
import { channelName } from "./fields.ts";
import { messageValue } from "./payload.ts";

/** A JSON Schema (or any JSON object of a document). */
export type Json = Record<string, unknown>;

/** Version of the protocol the documents describe. */
export const PROTOCOL_VERSION = "1.1.0";

/** One publisher action route: `POST path` with a `SERVER_ACTION` body. */
export interface ActionRoute {
  readonly path: string;
  /** The action name: its request schema is `ACTION_SCHEMAS[action]`. */
  readonly action: ActionName;
  readonly tag: string;
  readonly summary: string;
  /** Markdown. */
  readonly description: string;
  /** `data` of an example request. */
  readonly example: Json;
  readonly success: {
    readonly message: string;
    /** Fields of the ack's `data`. */
    readonly data: z.ZodRawShape;
    readonly example: Json;
  };
  /**
   * The statuses this route answers besides 200 and the ones every action answers (400, 405,
   * 408, 413, 429, 500, 503), each with when it happens.
   */
  readonly errors: Readonly<Record<number, string>>;
  /** Example `errorDetails` by status, where the default one does not fit. */
  readonly errorExamples?: Readonly<Record<number, string>>;
  /** An optional bearer token (`CREATE_TOKEN`). */
  readonly bearer?: "createToken";
}

/** One answer of an operations route. */
export interface Reply {
  readonly description: string;
  /** Media type and body; absent for a body-less answer (304). */
  readonly content?: {
    readonly type: string;
    readonly schema: z.ZodType | Json;
    readonly example?: unknown;
  };
}

/** One route that is not a publisher action (operations, admin, browser files). */
export interface OperationRoute {
  readonly path: string;
  /** `get` when absent (`HEAD` then answers the same without a body). */
  readonly method?: "get" | "post" | "put" | "delete";
  /** The request body, for a method that takes one. */
  readonly request?: Reply["content"];
  readonly tag: string;
  readonly summary: string;
  readonly description: string;
  /** Every status besides the ones every route answers (405, 500, 503), which may be overridden. */
  readonly responses: Readonly<Record<number, Reply>>;
  /** A required bearer token (`ADMIN_TOKEN`). */
  readonly bearer?: "adminToken";
}

const JSON_TYPE = "application/json; charset=utf-8";
const JS_TYPE = "text/javascript; charset=utf-8";
const TS_TYPE = "application/typescript; charset=utf-8";
const HTML_TYPE = "text/html; charset=utf-8";
const CSS_TYPE = "text/css; charset=utf-8";
const anyText: Json = { type: "string" };

/** What each status means on every action route. */
const EVERY_ACTION_ERRORS: Readonly<Record<number, string>> = {
  400: "The body is not JSON, or has the wrong `messageType` or `action` for this route, or a " +
    "missing or mistyped field, a bad UUID or a bad channel name (`errorDetails` says which)",
  408: "The request's headers or body did not fully arrive within `REQUEST_TIMEOUT_S`",
  413: "The body is over `MAX_BODY_BYTES` (1 MiB), or `message` is over `MAX_MESSAGE_BYTES`",
  429: "Too many token checks at once (`MAX_TOKEN_CHECKS`), or this source is over its failure " +
    "budget; retry later",
};

/** What each status means on every route of the HTTP port. */
const EVERY_ROUTE_ERRORS: Readonly<Record<number, string>> = {
  405: "Any other method on this path; the `Allow` header names the right ones",
  500: "An unexpected failure (the details go to the server's log)",
  503: "The server is shutting down, the body budget (`MAX_BODY_BYTES_IN_FLIGHT`) is full, or " +
    "the store cannot answer",
};

/** Example `errorDetails` by status (PROTOCOL.md's examples). */
const ERROR_EXAMPLES: Readonly<Record<number, string | null>> = {
  400: "data.recipients[1]: invalid UUID",
  401: "No channel token provided",
  403: "Channel token is invalid",
  404: 'Could not find a channel called "news"',
  405: "GET is not allowed on this path; use POST",
  408: "The request did not arrive within 30 s",
  409: 'A channel called "news" already exists',
  413: "message is 70000 bytes; the limit is 65536",
  426: "This port only accepts WebSocket connections",
  429: "Too many token checks at once; retry later",
  500: null,
  503: "The server is shutting down",
  507: "The server holds its limit of 1000000 channels",
};

/**
 * Statuses PROTOCOL.md v1.1 gives a message that the catalog does not have yet; used only while
 * the catalog has no entry for the status (a test says when one can go).
 */
export const CONTRACT_ERROR_MESSAGES: Readonly<Record<number, string>> = {};

/** Catalog entries only the WebSocket port answers with. */
const WS_ONLY: readonly ErrorCode[] = [
  "frame_bad_json",
  "invalid_frame",
  "uuid_mismatch",
  "upgrade_required",
];

/** Catalog entries a subscriber can get as an `ERROR` frame. */
const WS_FRAME_ERRORS: readonly ErrorCode[] = [
  "frame_bad_json",
  "invalid_frame",
  "uuid_mismatch",
  "private_channel",
  "unknown_channel",
  "too_many_requests",
  "unavailable",
];

/** Statuses the subscriber port answers a request that it does not upgrade. */
const WS_REFUSALS: Readonly<Record<number, string>> = {
  400: "The upgrade request is malformed",
  403: "The `Origin` is not in `WS_ORIGINS`",
  426: "A plain HTTP request (not a WebSocket upgrade)",
  503: "The server is shutting down, or holds `MAX_CONNECTIONS` connections",
};

/** WebSocket close codes the server sends. */
const CLOSE_CODES: readonly { code: number; reason: string; when: string }[] = [
  {
    code: CLOSE.goingAway,
    reason: "Going Away",
    when: "The server shuts down, or the connection did not answer pings (`WS_IDLE_TIMEOUT_S`)",
  },
  {
    code: CLOSE.policyViolation,
    reason: "too many frames",
    when: "Persistent flooding past `WS_FRAME_RATE` / `WS_FRAME_BURST`",
  },
  { code: CLOSE.messageTooBig, reason: "frame too large", when: "A frame over `MAX_FRAME_BYTES`" },
  { code: CLOSE.internalError, reason: "internal error", when: "A bug in the server" },
  {
    code: CLOSE.slowConsumer,
    reason: "slow consumer",
    when: "More than `MAX_BUFFERED_BYTES` unsent to this connection",
  },
];

/** The catalog messages the HTTP port answers `status` with. */
function httpMessages(status: number): string[] {
  const messages = catalogMessages(status, { exclude: WS_ONLY });
  const contract = CONTRACT_ERROR_MESSAGES[status];
  if (messages.length === 0 && contract !== undefined) return [contract];
  return messages;
}

function error(status: number, details?: string): Reply["content"] & object {
  return {
    type: JSON_TYPE,
    schema: errorSchema(status, httpMessages(status)),
    example: errorExample(status, httpMessages(status)[0] ?? "", details),
  };
}

function errorExample(status: number, message: string, details?: string | null): Json {
  return {
    messageType: "ERROR",
    code: status,
    message,
    data: { errorDetails: details === undefined ? ERROR_EXAMPLES[status] ?? null : details },
  };
}

const nullToken = z.null().meta({ description: "Always null outside of create and rotate" });

/** The `Sent` ack's fields with `receipt: true` (v1.2). */
const RECEIPT_FIELDS = {
  delivered: z.int().min(0).optional().meta({
    description: "With `receipt`: connections the push was handed to, on every node",
  }),
  undelivered: z.array(z.uuid()).optional().meta({
    description: "With `receipt`, targeted pushes: listed UUIDs not reached (each once, in order)",
  }),
  partial: z.literal(true).optional().meta({
    description: "With `receipt`: a node did not answer within 1 s (cluster mode)",
  }),
} as const;

/** Every publisher action route (PROTOCOL.md "Publisher HTTP API" and v1.1). */
export const ACTION_ROUTES: readonly ActionRoute[] = [
  {
    path: "/channel/create",
    action: "CREATE_CHANNEL",
    tag: "Channels",
    summary: "Create a channel",
    description: [
      "Creates a channel and answers its token: shown only here, only once (the server keeps " +
      "only a bcrypt hash). Durable: the 200 is sent after the store committed.",
      "With `history`, the channel keeps its recent broadcast pushes so that subscribers can " +
      "recover what they missed; the ack then also carries `history` and the channel's `epoch`. " +
      "With `private: true`, only connections a publisher authorized may subscribe; the ack then " +
      "carries `private: true`. Without these options the channel and its ack are v1's.",
      "When the server has `CREATE_TOKEN` set, the request needs " +
      "`Authorization: Bearer <CREATE_TOKEN>`.",
    ].join("\n\n"),
    example: { channel: "news" },
    success: {
      message: "Created",
      data: {
        channel: channelName,
        channelToken: channelTokenValue,
        history: historySettings.optional().meta({ description: "History channels only" }),
        epoch: epoch.optional().meta({ description: "History channels only" }),
        private: z.literal(true).optional().meta({ description: "Private channels only" }),
      },
      example: { channel: "news", channelToken: "q3VvB1m9W6bXh5c2lJk0RrT8yZa4sQeDfGhUiOpLnMx" },
    },
    errors: {
      401: "`CREATE_TOKEN` is set and the request has no valid `Authorization: Bearer` token",
      409: "A channel of that name exists",
      507: "The server holds `MAX_CHANNELS` channels already",
    },
    errorExamples: { 401: "A valid create token is required" },
    bearer: "createToken",
  },
  {
    path: "/channel/ping",
    action: "PING_CHANNEL",
    tag: "Channels",
    summary: "Check that a channel exists, or that a token is right",
    description: [
      "With `channelToken` null or absent: 200 when the channel exists. With a string token: " +
      "200 only when the token is right.",
      "With the right token on a channel that is private or has history, `data` also carries " +
      "`private` and `history`; otherwise it is v1's.",
    ].join("\n\n"),
    example: { channel: "news", channelToken: null },
    success: {
      message: "OK",
      data: {
        channel: channelName,
        channelToken: nullToken,
        private: z.boolean().optional(),
        history: historySettings.nullable().optional(),
      },
      example: { channel: "news", channelToken: null },
    },
    errors: { 403: "The token is wrong", 404: "No channel of that name" },
  },
  {
    path: "/push",
    action: "PUSH_MESSAGE",
    tag: "Push",
    summary: "Push a message to a channel's subscribers",
    description: [
      "`recipients: []` delivers to every subscriber of the channel. A non-empty list delivers " +
      "only to the listed connection UUIDs that are subscribed at that moment; unknown or " +
      "unsubscribed UUIDs are skipped, and a UUID listed twice gets the message once. The 200 " +
      "is sent once the message is handed to every target connection's send path.",
      "On a history channel a broadcast push is stored first (durably) and gets the next " +
      "offset: the ack and the `CLIENT_PUSH` frames carry its `offset` and the channel's " +
      "`epoch`. Targeted pushes are not stored.",
    ].join("\n\n"),
    example: {
      channel: "news",
      channelToken: "q3VvB1m9W6bXh5c2lJk0RrT8yZa4sQeDfGhUiOpLnMx",
      recipients: [],
      message: "Hello, world",
    },
    success: {
      message: "Sent",
      data: {
        channel: channelName,
        channelToken: nullToken,
        offset: streamOffset.optional().meta({ description: "History channels, broadcast only" }),
        epoch: epoch.optional().meta({ description: "History channels, broadcast only" }),
        ...RECEIPT_FIELDS,
      },
      example: { channel: "news", channelToken: null },
    },
    errors: {
      401: "No token (null or absent)",
      403: "The token is wrong",
      404: "No channel of that name",
    },
  },
  {
    path: "/channel/delete",
    action: "DELETE_CHANNEL",
    tag: "Channels",
    summary: "Delete a channel",
    description: "Removes the channel: each of its subscribers receives `Channel Deleted`, the " +
      "name is free again, and from this answer on no node accepts the old token. Durable.",
    example: { channel: "news", channelToken: "q3VvB1m9W6bXh5c2lJk0RrT8yZa4sQeDfGhUiOpLnMx" },
    success: {
      message: "Deleted",
      data: { channel: channelName, channelToken: nullToken },
      example: { channel: "news", channelToken: null },
    },
    errors: {
      401: "No token (null or absent)",
      403: "The token is wrong",
      404: "No channel of that name",
    },
  },
  {
    path: "/channel/authorize",
    action: "AUTHORIZE_SUBSCRIBER",
    tag: "Grants",
    summary: "Let a connection subscribe to a private channel",
    description: "Grants the connection with `uuid` the right to subscribe. The grant lasts as " +
      "long as that connection, and ends when the channel is deleted; the connection is sent " +
      "nothing. Granting on a public channel is allowed and changes nothing.",
    example: {
      channel: "news",
      channelToken: "q3VvB1m9W6bXh5c2lJk0RrT8yZa4sQeDfGhUiOpLnMx",
      uuid: "0b7c6f6e-8d1a-4e43-9a55-3f0e2b8c9d10",
    },
    success: {
      message: "Authorized",
      data: { channel: channelName, channelToken: nullToken, uuid: connectionUuid },
      example: {
        channel: "news",
        channelToken: null,
        uuid: "0b7c6f6e-8d1a-4e43-9a55-3f0e2b8c9d10",
      },
    },
    errors: {
      401: "No token (null or absent)",
      403: "The token is wrong",
      404: "No channel of that name, or (checked last) no live connection has that UUID",
    },
  },
  {
    path: "/channel/revoke",
    action: "REVOKE_SUBSCRIBER",
    tag: "Grants",
    summary: "Withdraw a connection's grant and subscription",
    description: "Removes the grant, if any. If the connection is subscribed to the channel " +
      "(public or private), it is unsubscribed and receives `Subscription Revoked`; otherwise " +
      "it is sent nothing. Revoking a UUID that is not connected is a 200 too.",
    example: {
      channel: "news",
      channelToken: "q3VvB1m9W6bXh5c2lJk0RrT8yZa4sQeDfGhUiOpLnMx",
      uuid: "0b7c6f6e-8d1a-4e43-9a55-3f0e2b8c9d10",
    },
    success: {
      message: "Revoked",
      data: { channel: channelName, channelToken: nullToken, uuid: connectionUuid },
      example: {
        channel: "news",
        channelToken: null,
        uuid: "0b7c6f6e-8d1a-4e43-9a55-3f0e2b8c9d10",
      },
    },
    errors: {
      401: "No token (null or absent)",
      403: "The token is wrong",
      404: "No channel of that name",
    },
  },
  {
    path: "/channel/rotate",
    action: "ROTATE_TOKEN",
    tag: "Channels",
    summary: "Replace a channel's token",
    description: "Answers a new token. From this answer on the old token gets 403 everywhere " +
      "(every node) and the new one works. Subscribers and history are unaffected. Durable.",
    example: { channel: "news", channelToken: "q3VvB1m9W6bXh5c2lJk0RrT8yZa4sQeDfGhUiOpLnMx" },
    success: {
      message: "Rotated",
      data: { channel: channelName, channelToken: channelTokenValue },
      example: { channel: "news", channelToken: "Zx8pL0qR5tY7uI9oP1aS3dF6gH2jK4lM0nB5vC7xZ1q" },
    },
    errors: {
      401: "No token (null or absent)",
      403: "The token is wrong",
      404: "No channel of that name",
    },
  },
  {
    path: "/push/batch",
    action: "PUSH_BATCH",
    tag: "Push",
    summary: "Push up to 100 messages in one request (v1.2)",
    description: [
      "Each item of `pushes` is the `data` of a `PUSH_MESSAGE`. The request as a whole is " +
      "refused only for what concerns it as a whole (413 body, 408, 400 when `pushes` is " +
      "missing, empty, longer than 100 or not an array of objects). Otherwise the answer is " +
      "200 `Batch` with one result per item, in order: exactly the `code`, `message` and " +
      "`data` that `/push` would have answered for that item (`errorDetails` included). One " +
      "item's failure never affects another.",
      "Items on the same channel are delivered in list order, and each is a push in every " +
      "sense (history offset, metrics). Token checks of the items run concurrently; identical " +
      "tokens are verified once.",
    ].join("\n\n"),
    example: {
      pushes: [
        {
          channel: "news",
          channelToken: "q3VvB1m9W6bXh5c2lJk0RrT8yZa4sQeDfGhUiOpLnMx",
          recipients: [],
          message: "Hello, world",
        },
        {
          channel: "scores",
          channelToken: "Zx8pL0qR5tY7uI9oP1aS3dF6gH2jK4lM0nB5vC7xZ1q",
          recipients: [],
          message: { home: 2, away: 1 },
        },
      ],
    },
    success: {
      message: "Batch",
      data: {
        results: z.array(z.union([
          z.strictObject({
            code: z.literal(200),
            message: z.literal("Sent"),
            data: z.strictObject({
              channel: channelName,
              channelToken: nullToken,
              offset: streamOffset.optional(),
              epoch: epoch.optional(),
              ...RECEIPT_FIELDS,
            }),
          }),
          z.strictObject({
            code: z.int().min(400).max(599),
            message: z.string(),
            data: z.strictObject({ errorDetails: z.string().nullable() }),
          }),
        ])).meta({ description: "One per item, in order: what `/push` answers for it" }),
      },
      example: {
        results: [
          { code: 200, message: "Sent", data: { channel: "news", channelToken: null } },
          {
            code: 403,
            message: "Forbidden",
            data: { errorDetails: "Channel token is invalid" },
          },
        ],
      },
    },
    errors: {},
  },
  {
    path: "/channel/history",
    action: "READ_HISTORY",
    tag: "Channels",
    summary: "Read a history channel's retained pushes (v1.2)",
    description: [
      "Answers the retained pushes after `since.offset` (every retained push without `since`), " +
      "oldest first, at most `limit` (1–1000, default 100): the oldest `limit` of them. Read " +
      "on by passing the last `offset` as the next `since`.",
      "With `since`, `recovered` says whether every push after it is still retained. When " +
      "`since` names another epoch, is above the top offset, or pushes after it were trimmed, " +
      "`publications` is empty and `recovered` is false. `time` is when the push was accepted.",
    ].join("\n\n"),
    example: {
      channel: "news",
      channelToken: "q3VvB1m9W6bXh5c2lJk0RrT8yZa4sQeDfGhUiOpLnMx",
      since: { offset: 40, epoch: "k9Jq2w" },
      limit: 100,
    },
    success: {
      message: "History",
      data: {
        channel: channelName,
        channelToken: nullToken,
        epoch,
        offset: streamOffset.meta({ description: "The stream's top offset" }),
        publications: z.array(z.strictObject({
          offset: streamOffset,
          message: messageValue,
          time: z.iso.datetime().meta({ description: "Acceptance time, ISO 8601 UTC (ms)" }),
        })),
        recovered: z.boolean().optional().meta({ description: "Only with `since`" }),
      },
      example: {
        channel: "news",
        channelToken: null,
        epoch: "k9Jq2w",
        offset: 42,
        publications: [
          { offset: 41, message: "Hello", time: "2025-01-01T12:00:00.000Z" },
          { offset: 42, message: { score: 3 }, time: "2025-01-01T12:00:01.250Z" },
        ],
        recovered: true,
      },
    },
    errors: {
      401: "No token (null or absent)",
      403: "The token is wrong",
      404: "No channel of that name",
      409: "The channel has no history",
    },
    errorExamples: { 409: 'The channel "news" has no history' },
  },
];

function file(description: string, type: string): Readonly<Record<number, Reply>> {
  return {
    200: { description, content: { type, schema: anyText } },
    304: NOT_MODIFIED,
    500: {
      description: "The file is not in this build (see the server's log)",
      content: error(500),
    },
  };
}

function page(description: string): Readonly<Record<number, Reply>> {
  return {
    200: { description, content: { type: HTML_TYPE, schema: anyText } },
    500: {
      description: "The page is not in this build (see the server's log)",
      content: error(500),
    },
  };
}

const NOT_MODIFIED: Reply = {
  description: "The copy named by `If-None-Match` is current (no body)",
};

function apiDocument(description: string): Readonly<Record<number, Reply>> {
  return {
    200: { description, content: { type: JSON_TYPE, schema: { type: "object" } } },
    304: NOT_MODIFIED,
  };
}

/** Every other route of the HTTP port (`GET`; `HEAD` answers the same without a body). */
export const OPERATION_ROUTES: readonly OperationRoute[] = [
  {
    path: "/healthz",
    tag: "Operations",
    summary: "Liveness",
    description: "200 while the process runs.",
    responses: {
      200: {
        description: "The process runs",
        content: { type: JSON_TYPE, schema: health, example: { status: "ok" } },
      },
    },
  },
  {
    path: "/readyz",
    tag: "Operations",
    summary: "Readiness",
    description: "200 when the store is open and both ports listen, else 503.",
    responses: {
      200: {
        description: "Ready",
        content: { type: JSON_TYPE, schema: readiness.ready, example: { status: "ready" } },
      },
      503: {
        description: "Not ready: starting, shutting down, or the store cannot answer",
        content: {
          type: JSON_TYPE,
          schema: z.union([readiness.unavailable, errorSchema(503, httpMessages(503))]),
          example: { status: "unavailable" },
        },
      },
    },
  },
  {
    path: "/metrics",
    tag: "Operations",
    summary: "Prometheus metrics",
    description: "Connections, subscriptions, channels, pushes, deliveries, errors by code, " +
      "dropped messages, in the Prometheus text format.",
    responses: {
      200: {
        description: "The metrics",
        content: { type: "text/plain; version=0.0.4; charset=utf-8", schema: anyText },
      },
    },
  },
  {
    path: "/sysadmin",
    tag: "Operations",
    summary: "Channels and clients (admin)",
    description: "Exists only when the server has `ADMIN_TOKEN` set; needs " +
      "`Authorization: Bearer <ADMIN_TOKEN>`.",
    responses: {
      200: {
        description: "Every channel name and the number of connected clients",
        content: {
          type: JSON_TYPE,
          schema: sysadmin,
          example: {
            messageType: "SERVER_SYSADMIN",
            code: 200,
            message: "OK",
            data: { channels: ["news"], channelsAmount: 1, clientsAmount: 3 },
          },
        },
      },
      401: {
        description: "No valid admin bearer token",
        content: error(401, "A valid admin bearer token is required"),
      },
      404: {
        description: "`ADMIN_TOKEN` is not set, so the route does not exist",
        content: error(404, "No route for GET /sysadmin"),
      },
    },
    bearer: "adminToken",
  },
  ...(
    [
      ["delete", "Deleted", "Delete a channel whose token is lost", "like `/channel/delete`"],
      [
        "rotate",
        "Rotated",
        "Give a channel whose token is lost a new one",
        "like `/channel/rotate`",
      ],
    ] as const
  ).map(([verb, message, summary, like]): OperationRoute => ({
    path: `/admin/channel/${verb}`,
    method: "post",
    tag: "Operations",
    summary: `${summary} (admin)`,
    description: `The operator's way out of a lost channel token, ${like}. Exists only when ` +
      "the server has `ADMIN_TOKEN` set; needs `Authorization: Bearer <ADMIN_TOKEN>`.",
    request: { type: JSON_TYPE, schema: adminActionSchema, example: { channel: "news" } },
    responses: {
      200: {
        description: `\`${message}\``,
        content: {
          type: JSON_TYPE,
          schema: serverAckSchema(message, {
            channel: channelName,
            channelToken: verb === "rotate" ? channelTokenValue : nullToken,
          }),
          example: {
            messageType: "SERVER_ACK",
            code: 200,
            message,
            data: {
              channel: "news",
              channelToken: verb === "rotate"
                ? "Zx8pL0qR5tY7uI9oP1aS3dF6gH2jK4lM0nB5vC7xZ1q"
                : null,
            },
          },
        },
      },
      400: { description: 'The body is not `{"channel": NAME}`', content: error(400) },
      401: {
        description: "No valid admin bearer token",
        content: error(401, "A valid admin bearer token is required"),
      },
      404: {
        description: "No channel of that name; or `ADMIN_TOKEN` is not set, so the route " +
          "does not exist (for any method)",
        content: error(404),
      },
      408: { description: EVERY_ACTION_ERRORS[408] ?? "", content: error(408) },
      413: { description: "The body is over `MAX_BODY_BYTES`", content: error(413) },
      429: { description: EVERY_ACTION_ERRORS[429] ?? "", content: error(429) },
    },
    bearer: "adminToken",
  })),
  {
    path: "/js/pushserver.js",
    tag: "Browser files",
    summary: "The subscriber client (ES module)",
    description: "Served with `Access-Control-Allow-Origin: *`, so pages on any origin can " +
      "import it.",
    responses: file("The module", JS_TYPE),
  },
  {
    path: "/js/publisher.js",
    tag: "Browser files",
    summary: "The publisher client (ES module)",
    description: "Served with `Access-Control-Allow-Origin: *`.",
    responses: file("The module", JS_TYPE),
  },
  {
    path: "/js/pushserver.d.ts",
    tag: "Browser files",
    summary: "Type declarations of the subscriber client",
    description: "Named by `/js/pushserver.js` (`@ts-self-types`), so Deno type-checks an import.",
    responses: file("The declarations", TS_TYPE),
  },
  {
    path: "/js/publisher.d.ts",
    tag: "Browser files",
    summary: "Type declarations of the publisher client",
    description: "Named by `/js/publisher.js` (`@ts-self-types`).",
    responses: file("The declarations", TS_TYPE),
  },
  {
    path: "/js/demo.js",
    tag: "Browser files",
    summary: "The demo page's script",
    description: "Loaded by `/demo`.",
    responses: file("The script", JS_TYPE),
  },
  {
    path: "/demo",
    tag: "Browser files",
    summary: "Demo page",
    description: "Subscribes, shows pushes as they arrive, creates channels and pushes.",
    responses: page("The page"),
  },
  {
    path: "/docs",
    tag: "API descriptions",
    summary: "Interactive API reference",
    description: "Swagger UI for this document, served by the server itself (no CDN).",
    responses: { ...page("The page"), 304: NOT_MODIFIED },
  },
  {
    path: "/openapi.json",
    tag: "API descriptions",
    summary: "This document (OpenAPI 3.1)",
    description: "The publisher HTTP API and the operations endpoints.",
    responses: apiDocument("The document"),
  },
  {
    path: "/asyncapi.json",
    tag: "API descriptions",
    summary: "The WebSocket protocol (AsyncAPI 3.0)",
    description: "Each client action and each server message of the subscriber port.",
    responses: apiDocument("The document"),
  },
  {
    path: "/docs/swagger-ui-bundle.js",
    tag: "API descriptions",
    summary: "Swagger UI's script",
    description: "From the `swagger-ui-dist` package.",
    responses: file("The script", JS_TYPE),
  },
  {
    path: "/docs/swagger-ui.css",
    tag: "API descriptions",
    summary: "Swagger UI's styles",
    description: "From the `swagger-ui-dist` package.",
    responses: file("The style sheet", CSS_TYPE),
  },
  {
    path: "/docs/init.js",
    tag: "API descriptions",
    summary: "Starts Swagger UI on `/docs`",
    description: "A separate file, so the page needs no inline script.",
    responses: file("The script", JS_TYPE),
  },
];

/** JSON Schema of a zod schema, for embedding in a document (no `$schema`). */
function jsonSchema(
  schema: z.ZodType | Json,
  target: "draft-2020-12" | "draft-7",
  io: "input" | "output" = "output",
): Json {
  if (!(schema instanceof z.ZodType)) return schema;
  const { $schema: _, ...json } = z.toJSONSchema(schema, {
    target,
    io,
    unrepresentable: "any",
  }) as Json;
  return json;
}

/** The request schema of an action, from `ACTION_SCHEMAS`. */
export function requestSchema(action: ActionName, target: "draft-2020-12" | "draft-7"): Json {
  return jsonSchema(ACTION_SCHEMAS[action], target, "input");
}

/** The `CLIENT_ACTION` frame for one action (`SUBSCRIBE`, `UNSUBSCRIBE`), from `inbound.ts`. */
export function clientActionSchema(action: string, target: "draft-2020-12" | "draft-7"): Json {
  return narrowAction(jsonSchema(inboundSchema, target, "input"), action);
}

/** The branch (or the copy) of a frame schema that accepts exactly `action`. */
function narrowAction(json: Json, action: string): Json {
  for (const key of ["anyOf", "oneOf"]) {
    const branches = json[key];
    if (!Array.isArray(branches)) continue;
    for (const branch of branches as Json[]) {
      const found = narrowAction(branch, action);
      if (acceptsAction(found, action)) return found;
    }
  }
  const properties = json.properties as Record<string, Json> | undefined;
  if (properties?.action === undefined || !acceptsAction(json, action)) return json;
  return { ...json, properties: { ...properties, action: { type: "string", const: action } } };
}

function acceptsAction(json: Json, action: string): boolean {
  const schema = (json.properties as Record<string, Json> | undefined)?.action;
  if (schema === undefined) return false;
  if (schema.const !== undefined) return schema.const === action;
  return Array.isArray(schema.enum) && schema.enum.includes(action);
}

function pascal(action: string): string {
  return action.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}

function camel(action: string): string {
  const name = pascal(action);
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function sortedStatuses(...tables: Readonly<Record<number, unknown>>[]): number[] {
  const statuses = new Set<number>();
  for (const table of tables) for (const key of Object.keys(table)) statuses.add(Number(key));
  return [...statuses].sort((a, b) => a - b);
}

const INFO_DESCRIPTION = [
  "The publisher API of pushserver (the HTTP port, `PORT_HTTP`, default 5223) and its " +
  "operations endpoints. The subscriber side (the WebSocket port) is described in AsyncAPI " +
  "at [/asyncapi.json](/asyncapi.json).",
  "Every action is a `POST` with a JSON body " +
  '`{"messageType":"SERVER_ACTION","action":…,"data":{…}}`; unknown extra fields are ignored. ' +
  "Answers are `application/json; charset=utf-8`, and the HTTP status always equals the " +
  "body's `code`. One trailing slash on an action route (`/push/`) is answered like the route " +
  "without it.",
  "Errors are checked in this order: 413 > 408 > 400 > 401 (`CREATE_TOKEN`, create only) > " +
  "404 channel > 401 token > 403 > 409 > 507 > 404 connection (authorize). 429 and 503 answer " +
  "where the server cannot go on; they never replace a 400 for a body that was fully read.",
  "Any path not listed here answers 404 (`x-any-other-path`).",
].join("\n\n");

/** Builds the OpenAPI 3.1 document of the HTTP port (from the route tables above by default). */
export function openApiDocument(
  tables: {
    readonly actions?: readonly ActionRoute[];
    readonly operations?: readonly OperationRoute[];
  } = {},
): Json {
  const { actions = ACTION_ROUTES, operations = OPERATION_ROUTES } = tables;
  const target = "draft-2020-12";
  const schemas: Record<string, Json> = {};
  const paths: Record<string, Json> = {};

  const errorRef = (status: number): Json => {
    const name = `Error${status}`;
    schemas[name] ??= {
      ...jsonSchema(errorSchema(status, httpMessages(status)), target),
      title: `${status} ${httpMessages(status).join(" / ")}`,
    };
    return { $ref: `#/components/schemas/${name}` };
  };

  const errorResponse = (status: number, description: string, details?: string): Json => {
    const response: Json = {
      description,
      content: {
        "application/json": {
          schema: errorRef(status),
          example: errorExample(status, httpMessages(status)[0] ?? "", details),
        },
      },
    };
    if (status === 405) {
      response.headers = {
        Allow: { description: "The methods this path takes", schema: { type: "string" } },
      };
    }
    return response;
  };

  for (const route of actions) {
    const name = pascal(route.action);
    schemas[`${name}Request`] = requestSchema(route.action, target);
    schemas[`${name}Ack`] = jsonSchema(
      serverAckSchema(route.success.message, route.success.data),
      target,
    );
    const responses: Record<string, Json> = {
      200: {
        description: `\`${route.success.message}\``,
        content: {
          "application/json": {
            schema: { $ref: `#/components/schemas/${name}Ack` },
            example: {
              messageType: "SERVER_ACK",
              code: 200,
              message: route.success.message,
              data: route.success.example,
            },
          },
        },
      },
    };
    const whens = { ...EVERY_ACTION_ERRORS, ...EVERY_ROUTE_ERRORS, ...route.errors };
    for (const status of sortedStatuses(whens)) {
      responses[status] = errorResponse(
        status,
        whens[status] ?? "",
        route.errorExamples?.[status],
      );
    }
    const post: Json = {
      operationId: camel(route.action),
      tags: [route.tag],
      summary: route.summary,
      description: route.description,
      requestBody: {
        required: true,
        content: {
          "application/json": {
            schema: { $ref: `#/components/schemas/${name}Request` },
            example: { messageType: "SERVER_ACTION", action: route.action, data: route.example },
          },
        },
      },
      responses,
    };
    if (route.bearer !== undefined) post.security = [{}, { [route.bearer]: [] }];
    paths[route.path] = {
      post,
      options: {
        operationId: `${camel(route.action)}Preflight`,
        tags: ["CORS"],
        summary: `CORS preflight for ${route.path}`,
        description: "Answered 204 with the CORS headers when the server has `CORS_ORIGINS` " +
          "set; otherwise this method gets 405 like any other.",
        responses: {
          204: { description: "The preflight answer (no body)" },
          405: errorResponse(405, "`CORS_ORIGINS` is not set"),
          500: errorResponse(500, EVERY_ROUTE_ERRORS[500] ?? ""),
          503: errorResponse(503, EVERY_ROUTE_ERRORS[503] ?? ""),
        },
      },
    };
  }

  for (const route of operations) {
    const responses: Record<string, Json> = {};
    for (const status of sortedStatuses(EVERY_ROUTE_ERRORS, route.responses)) {
      const reply = route.responses[status];
      if (reply === undefined) {
        responses[status] = errorResponse(status, EVERY_ROUTE_ERRORS[status] ?? "");
        continue;
      }
      const response: Json = { description: reply.description };
      if (reply.content !== undefined) {
        const media: Json = { schema: jsonSchema(reply.content.schema, target) };
        if (reply.content.example !== undefined) media.example = reply.content.example;
        response.content = { [reply.content.type.split(";")[0]!]: media };
      }
      responses[status] = response;
    }
    const method = route.method ?? "get";
    const name = route.path.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_|_$/g, "");
    const operation: Json = {
      operationId: camel(method === "get" ? name : `${method}_${name}`),
      tags: [route.tag],
      summary: route.summary,
      description: method === "get"
        ? `${route.description}\n\n\`HEAD\` answers the same without a body.`
        : route.description,
      responses,
    };
    if (route.request !== undefined) {
      const media: Json = { schema: jsonSchema(route.request.schema, target, "input") };
      if (route.request.example !== undefined) media.example = route.request.example;
      operation.requestBody = {
        required: true,
        content: { [route.request.type.split(";")[0]!]: media },
      };
    }
    if (route.bearer !== undefined) operation.security = [{ [route.bearer]: [] }];
    paths[route.path] = { ...paths[route.path], [method]: operation };
  }

  return {
    openapi: "3.1.0",
    info: {
      title: "pushserver publisher API",
      version: PROTOCOL_VERSION,
      description: INFO_DESCRIPTION,
    },
    servers: [{ url: "/", description: "This server's HTTP port" }],
    tags: [
      { name: "Channels", description: "Create, check, rotate and delete channels" },
      { name: "Push", description: "Send messages to subscribers" },
      { name: "Grants", description: "Who may subscribe to a private channel" },
      { name: "Operations", description: "Health, readiness, metrics, admin" },
      { name: "Browser files", description: "Client modules and the demo page" },
      { name: "API descriptions", description: "This document, AsyncAPI, and this page" },
      { name: "CORS", description: "Preflights for browser publishers (`CORS_ORIGINS`)" },
    ],
    paths,
    components: {
      schemas,
      securitySchemes: {
        createToken: {
          type: "http",
          scheme: "bearer",
          description: "`CREATE_TOKEN`, when the server has one set",
        },
        adminToken: { type: "http", scheme: "bearer", description: "`ADMIN_TOKEN`" },
      },
    },
    "x-any-other-path": {
      description: "Any other path, with any method",
      responses: {
        404: errorResponse(404, "No such route", "No route for GET /nope"),
        500: errorResponse(500, EVERY_ROUTE_ERRORS[500] ?? ""),
        503: errorResponse(503, EVERY_ROUTE_ERRORS[503] ?? ""),
      },
    },
  };
}

/** Names of the AsyncAPI messages the server sends, with their schemas. */
const SERVER_MESSAGES: readonly {
  name: string;
  title: string;
  summary: string;
  schema: z.ZodType;
  example: Json;
}[] = [
  ...(
    [
      ["Connected", "The first frame of every connection: its UUID"],
      ["Subscribed", "Answer to SUBSCRIBE (`recovery` on history channels)"],
      ["Unsubscribed", "Answer to UNSUBSCRIBE (also when not subscribed)"],
      ["Channel Deleted", "A publisher deleted a channel this connection was subscribed to"],
      ["Subscription Revoked", "A publisher revoked this connection's subscription"],
    ] as const satisfies readonly (readonly [ClientAckMessage, string])[]
  ).map(([message, summary]) => ({
    name: message.replace(" ", ""),
    title: message,
    summary,
    schema: clientAckSchema(message),
    example: {
      messageType: "CLIENT_ACK",
      code: 200,
      message,
      data: {
        uuid: "0b7c6f6e-8d1a-4e43-9a55-3f0e2b8c9d10",
        subscribedChannels: message === "Subscribed" ? ["news"] : [],
      },
    },
  })),
  {
    name: "Push",
    title: "Push Message",
    summary: "A message pushed to a channel this connection is subscribed to",
    schema: clientPush,
    example: {
      messageType: "CLIENT_PUSH",
      code: 200,
      message: "Push Message",
      data: {
        uuid: "0b7c6f6e-8d1a-4e43-9a55-3f0e2b8c9d10",
        subscribedChannels: ["news"],
        pushMessage: { channel: "news", message: "Hello, world" },
      },
    },
  },
];

const WS_DESCRIPTION = [
  "The subscriber port of pushserver (`PORT_WS`, default 5222). Any path upgrades. On connect " +
  "the server sends `Connected` with the connection's UUID; the client then subscribes and " +
  "unsubscribes with `CLIENT_ACTION` frames and receives pushes. Each connection receives its " +
  "frames in the order they were produced; the connection stays open after an `ERROR` frame.",
  "**Compact frames.** A client that offers the subprotocol `pushserver.compact` " +
  "(`Sec-WebSocket-Protocol`) gets it accepted and then receives acks and pushes without the " +
  "`subscribedChannels` list (each message's payload shows both forms).",
  "**Recovery.** On a channel with history, `SUBSCRIBE` may carry `since` (the last " +
  "`offset`/`epoch` seen): the `Subscribed` ack then has `recovery`, and when `recovered` is " +
  "true the missed pushes follow right after it, in offset order, before any live push.",
  "**Heartbeat.** The server pings idle connections and closes those that do not answer " +
  "(`WS_IDLE_TIMEOUT_S`, default 60 s). A frame over 64 KiB closes the connection with 1009.",
  "**Close codes** are listed in the channel's `x-close-codes`; the HTTP answers to a request " +
  "that is not upgraded in `x-http-responses`.",
].join("\n\n");

/** Builds the AsyncAPI 3.0 document of the WebSocket port. */
export function asyncApiDocument(): Json {
  const target = "draft-7";
  const schemas: Record<string, Json> = {};
  const messages: Record<string, Json> = {};
  const channelMessages: Record<string, Json> = {};
  const ref = (name: string): Json => ({ $ref: `#/channels/subscriber/messages/${name}` });

  function addMessage(name: string, message: Json, schema: Json): void {
    schemas[`${name}Frame`] = schema;
    messages[name] = {
      name,
      ...message,
      payload: { $ref: `#/components/schemas/${name}Frame` },
    };
    channelMessages[name] = { $ref: `#/components/messages/${name}` };
  }

  for (const action of ["SUBSCRIBE", "UNSUBSCRIBE"] as const) {
    const name = pascal(action);
    addMessage(name, {
      title: action,
      summary: action === "SUBSCRIBE"
        ? "Subscribe to a channel (`since` resumes a history channel)"
        : "Unsubscribe from a channel",
      description: "An optional top-level `uuid` must equal this connection's UUID; otherwise " +
        "the answer is `ERROR` 403 and nothing happens.",
      examples: [{
        name: action.toLowerCase(),
        payload: { messageType: "CLIENT_ACTION", action, data: { channel: "news" } },
      }],
    }, clientActionSchema(action, target));
  }

  for (const message of SERVER_MESSAGES) {
    addMessage(message.name, {
      title: message.title,
      summary: message.summary,
      examples: [{ name: message.name, payload: message.example }],
    }, jsonSchema(message.schema, target));
  }

  const frameErrors = new Map<string, { status: number; message: string }>();
  for (const code of WS_FRAME_ERRORS) {
    const { status, message } = ERRORS[code];
    frameErrors.set(`${status} ${message}`, { status, message });
  }
  addMessage(
    "Error",
    {
      title: "ERROR",
      summary: "The frame was refused; nothing happened and the connection stays open",
      description: [...frameErrors.keys()].map((row) => `- ${row}`).join("\n"),
      examples: [{
        name: "unknownChannel",
        payload: errorExample(404, "Not found"),
      }],
    },
    jsonSchema(
      z.union(
        [...frameErrors.values()].map(({ status, message }) => errorSchema(status, [message])),
      ),
      target,
    ),
  );

  const httpResponses: Record<string, Json> = {};
  for (const status of sortedStatuses(WS_REFUSALS)) {
    const messages = catalogMessages(status, {
      exclude: ["frame_bad_json", "invalid_frame", "uuid_mismatch"],
    });
    const name = `UpgradeRefused${status}`;
    schemas[name] = jsonSchema(errorSchema(status, messages), target);
    httpResponses[status] = {
      description: WS_REFUSALS[status],
      contentType: JSON_TYPE,
      payload: { $ref: `#/components/schemas/${name}` },
    };
  }

  const channel = { $ref: "#/channels/subscriber" };
  return {
    asyncapi: "3.0.0",
    info: {
      title: "pushserver subscriber protocol",
      version: PROTOCOL_VERSION,
      description: WS_DESCRIPTION,
    },
    defaultContentType: "application/json",
    servers: {
      subscriber: {
        host: "{host}:{port}",
        protocol: "ws",
        description: "The subscriber port",
        variables: {
          host: { default: "localhost", description: "The server's host (`HOST`)" },
          port: { default: "5222", description: "`PORT_WS`" },
        },
      },
    },
    channels: {
      subscriber: {
        address: "/",
        title: "Subscriber connection",
        description: "Any path on the subscriber port; one connection carries every channel.",
        servers: [{ $ref: "#/servers/subscriber" }],
        messages: channelMessages,
        bindings: {
          ws: {
            method: "GET",
            headers: {
              type: "object",
              properties: {
                "Sec-WebSocket-Protocol": {
                  type: "string",
                  description: "`pushserver.compact` asks for compact frames",
                },
                Origin: {
                  type: "string",
                  description: "Checked against `WS_ORIGINS` when that is set",
                },
              },
            },
            bindingVersion: "0.1.0",
          },
        },
        "x-close-codes": CLOSE_CODES,
        "x-http-responses": httpResponses,
      },
    },
    operations: {
      subscribe: {
        action: "receive",
        channel,
        title: "Subscribe",
        summary: "A client subscribes to a channel",
        messages: [ref("Subscribe")],
        reply: { channel, messages: [ref("Subscribed"), ref("Error")] },
      },
      unsubscribe: {
        action: "receive",
        channel,
        title: "Unsubscribe",
        summary: "A client unsubscribes from a channel",
        messages: [ref("Unsubscribe")],
        reply: { channel, messages: [ref("Unsubscribed"), ref("Error")] },
      },
      connected: {
        action: "send",
        channel,
        summary: "Sent once, when the connection opens",
        messages: [ref("Connected")],
      },
      push: {
        action: "send",
        channel,
        summary: "A publisher pushed to a subscribed channel",
        messages: [ref("Push")],
      },
      channelDeleted: {
        action: "send",
        channel,
        summary: "A subscribed channel was deleted",
        messages: [ref("ChannelDeleted")],
      },
      subscriptionRevoked: {
        action: "send",
        channel,
        summary: "A publisher revoked this connection's subscription",
        messages: [ref("SubscriptionRevoked")],
      },
      error: {
        action: "send",
        channel,
        summary: "A frame was refused (bad JSON, bad shape, unknown channel, rate limit, …)",
        messages: [ref("Error")],
      },
    },
    components: { schemas, messages },
  };
}
