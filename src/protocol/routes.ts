/**
 * The one publisher route table. Each entry is a `POST` action route: its path, its action
 * (whose request schema is `ACTION_SCHEMAS[action]`), its success message and the statuses it
 * answers. The HTTP app registers its routes from this table and `openapi.ts` describes them
 * from it, so a new publisher route is its request schema (`ACTION_SCHEMAS` in `api.ts`), one
 * entry here and its handler in `http/app.ts`; the compiler asks for the handler, and
 * `describe_test.ts` for the entry.
 */
import { z } from "zod";
import type { ActionName } from "./api.ts";
import type { Json } from "./document.ts";
import {
  channelTokenValue,
  connectionUuid,
  epoch,
  historySettings,
  streamOffset,
} from "./envelopes.ts";
import { channelName } from "./fields.ts";
import { messageValue } from "./payload.ts";

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

/** The `channelToken` of every ack but create's and rotate's. */
export const nullToken = z.null().meta({ description: "Always null outside of create and rotate" });

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
      "carries `private: true`. With `presence: true` (v1.2) subscribers may describe " +
      "themselves with `info`, members learn of each other's joins and leaves " +
      "(`CLIENT_PRESENCE`), and `READ_PRESENCE` lists them; the ack then carries " +
      "`presence: true`. Without these options the channel and its ack are v1's.",
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
        presence: z.literal(true).optional().meta({ description: "Presence channels only" }),
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
      "With the right token on a channel that is private, has history or presence, `data` " +
      "also carries `private` and `history` (and `presence: true` on presence channels); " +
      "otherwise it is v1's.",
    ].join("\n\n"),
    example: { channel: "news", channelToken: null },
    success: {
      message: "OK",
      data: {
        channel: channelName,
        channelToken: nullToken,
        private: z.boolean().optional(),
        history: historySettings.nullable().optional(),
        presence: z.literal(true).optional().meta({ description: "Presence channels only" }),
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
      "v1.2: `message` may be any JSON value but null; `receipt: true` answers what the push " +
      "reached; with `idempotencyKey`, a push retried within 300 s (on any node) is made once " +
      "and answered like the first one, so a publisher that got a 503 or no answer can retry.",
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
    path: "/channel/presence",
    action: "READ_PRESENCE",
    tag: "Channels",
    summary: "Who is on a channel (v1.2)",
    description: [
      "`count` is the channel's live subscribers on every node (on a presence channel: its " +
      "members). On a presence channel `members` lists them (`uuid` and the `info` each gave " +
      "at subscribe), at most 1,000, with `truncated: true` when there are more; on other " +
      "channels `members` is empty.",
    ].join("\n\n"),
    example: { channel: "room", channelToken: "q3VvB1m9W6bXh5c2lJk0RrT8yZa4sQeDfGhUiOpLnMx" },
    success: {
      message: "Presence",
      data: {
        channel: channelName,
        channelToken: nullToken,
        count: z.int().min(0).meta({ description: "Members, or live subscribers (every node)" }),
        members: z.array(z.strictObject({
          uuid: connectionUuid,
          info: z.record(z.string(), z.unknown()).meta({
            description: "What the member sent as `info` at subscribe (`{}` when none)",
          }),
        })).meta({ description: "Presence channels only (else empty); at most 1,000" }),
        truncated: z.literal(true).optional().meta({ description: "More members than listed" }),
      },
      example: {
        channel: "room",
        channelToken: null,
        count: 2,
        members: [
          { uuid: "0b7c6f6e-8d1a-4e43-9a55-3f0e2b8c9d10", info: { user: "ann" } },
          { uuid: "5f1d2e3c-4b5a-4697-8877-665544332211", info: {} },
        ],
      },
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
      "sense (history offset, metrics, receipts, `idempotencyKey`). Token checks of the items " +
      "run concurrently; identical tokens are verified once.",
    ].join("\n\n"),
    example: {
      pushes: [
        {
          channel: "news",
          channelToken: "q3VvB1m9W6bXh5c2lJk0RrT8yZa4sQeDfGhUiOpLnMx",
          recipients: [],
          message: "Hello, world",
          idempotencyKey: "news-2025-01-01-0001",
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
