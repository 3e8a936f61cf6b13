/**
 * Zod schemas of everything the server sends: `SERVER_ACK`s, `CLIENT_ACK`s, `CLIENT_PUSH`es,
 * `ERROR`s and the operations bodies, v1 and v1.1 (PROTOCOL.md). The builders in `outbound.ts`
 * write these shapes by hand for speed; these schemas describe them for the API documents
 * (`openapi.ts`, `asyncapi.ts`), and the end-to-end tests check every real answer against those documents.
 */
import { z } from "zod";
import { ERRORS } from "../errors.ts";
import { channelName } from "./fields.ts";
import { messageValue } from "./payload.ts";

/** A channel token: 32 random bytes, base64url without padding. */
export const channelTokenValue = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/)
  .meta({
    description: "32 random bytes, base64url without padding (43 characters)",
    examples: ["q3VvB1m9W6bXh5c2lJk0RrT8yZa4sQeDfGhUiOpLnMx"],
  });

/** A connection's UUID, as the server writes it (lower case). */
export const connectionUuid = z
  .uuid()
  .meta({ examples: ["0b7c6f6e-8d1a-4e43-9a55-3f0e2b8c9d10"] });

/** History settings of a channel (PROTOCOL.md v1.1, "History and recovery"). */
export const historySettings = z
  .strictObject({
    size: z.int().min(1).max(10_000).meta({ description: "How many pushes are kept" }),
    ttlSeconds: z.int().min(1).max(2_592_000).meta({
      description: "How long a push is kept, in seconds",
    }),
  })
  .meta({ examples: [{ size: 100, ttlSeconds: 3600 }] });

/** A channel's epoch: opaque, new for every created channel. */
export const epoch = z.string().min(1).meta({
  description: "Opaque; a deleted and re-created channel has a different one",
  examples: ["k9Jq2w"],
});

/** A position in a channel's stream (0 before the first push). */
export const streamOffset = z.int().min(0).meta({ examples: [42] });

/** `data.recovery` of a `Subscribed` ack on a history channel. */
export const recovery = z
  .strictObject({
    channel: channelName,
    epoch,
    offset: streamOffset.meta({
      description: "The last replayed push, or the channel's top offset when nothing is replayed",
    }),
    recovered: z.boolean().meta({
      description: "True when every push after `since` was replayed right after this ack",
    }),
  })
  .meta({ description: "Where the subscription starts in the channel's stream (history only)" });

/** A `SERVER_ACK` answering a publisher with `message` and `data`. */
export function serverAckSchema<M extends string, D extends z.ZodRawShape>(
  message: M,
  data: D,
): z.ZodObject {
  return z.strictObject({
    messageType: z.literal("SERVER_ACK"),
    code: z.literal(200),
    message: z.literal(message),
    data: z.strictObject(data),
  });
}

/** An `ERROR` envelope with `status` as its code and one of `messages` (from the catalog). */
export function errorSchema(status: number, messages: readonly string[]): z.ZodObject {
  const [first, ...rest] = messages;
  if (first === undefined) throw new Error(`no error message for status ${status}`);
  return z.strictObject({
    messageType: z.literal("ERROR"),
    code: z.literal(status),
    message: rest.length === 0 ? z.literal(first) : z.enum([first, ...rest]),
    data: z.strictObject({
      errorDetails: z.string().nullable().meta({
        description: "The problem in one sentence; null for an internal error",
      }),
    }),
  });
}

/** The catalog messages for `status` (e.g. 400 → `Bad Request`, `Bad JSON`, `Invalid message`). */
export function catalogMessages(
  status: number,
  options: { exclude?: readonly string[] } = {},
): string[] {
  const messages = new Set<string>();
  for (const [code, entry] of Object.entries(ERRORS)) {
    if (entry.status === status && !options.exclude?.includes(code)) messages.add(entry.message);
  }
  return [...messages];
}

const subscribedChannels = z.array(channelName).meta({
  description: "Every channel this connection is subscribed to, in subscription order",
});

/** `CLIENT_ACK` messages (full frames, and compact ones under `pushserver.compact`). */
export type ClientAckMessage =
  | "Connected"
  | "Subscribed"
  | "Unsubscribed"
  | "Channel Deleted"
  | "Subscription Revoked"
  | "Subscription Expired";

/** A `CLIENT_ACK` frame with `message`, in the v1 form or the compact form. */
export function clientAckSchema(message: ClientAckMessage): z.ZodType {
  const head = {
    messageType: z.literal("CLIENT_ACK"),
    code: z.literal(200),
    message: z.literal(message),
  };
  const withRecovery = message === "Subscribed"
    ? {
      recovery: recovery.optional(),
      presence: z.strictObject({ count: z.int().min(1) }).optional().meta({
        description: "Presence channels: members, this one included (v1.2)",
      }),
    }
    : {};
  const full = z
    .strictObject({
      ...head,
      data: z.strictObject({ uuid: connectionUuid, subscribedChannels, ...withRecovery }),
    })
    .meta({ title: `${message} (v1 frame)` });
  const compact = z
    .strictObject({
      ...head,
      data: message === "Connected"
        ? z.strictObject({ uuid: connectionUuid })
        : z.strictObject({ uuid: connectionUuid, channel: channelName, ...withRecovery }),
    })
    .meta({ title: `${message} (compact frame)` });
  return z.union([full, compact]);
}

const pushMessage = z.strictObject({
  channel: channelName,
  message: messageValue,
  offset: streamOffset.optional().meta({ description: "History channels, broadcast pushes" }),
  epoch: epoch.optional().meta({ description: "History channels, broadcast pushes" }),
});

/** A `CLIENT_PUSH` frame, in the v1 form or the compact form. */
export const clientPush: z.ZodType = z.union([
  z
    .strictObject({
      messageType: z.literal("CLIENT_PUSH"),
      code: z.literal(200),
      message: z.literal("Push Message"),
      data: z.strictObject({ uuid: connectionUuid, subscribedChannels, pushMessage }),
    })
    .meta({ title: "Push (v1 frame)" }),
  z
    .strictObject({
      messageType: z.literal("CLIENT_PUSH"),
      code: z.literal(200),
      message: z.literal("Push Message"),
      data: z.strictObject({ pushMessage }),
    })
    .meta({ title: "Push (compact frame)" }),
]);

/** `GET /healthz`. */
export const health = z.strictObject({ status: z.literal("ok") });

/** `GET /readyz` answers. */
export const readiness = {
  ready: z.strictObject({ status: z.literal("ready") }),
  unavailable: z.strictObject({ status: z.literal("unavailable") }),
} as const;

/** `GET /sysadmin`. */
export const sysadmin = z.strictObject({
  messageType: z.literal("SERVER_SYSADMIN"),
  code: z.literal(200),
  message: z.literal("OK"),
  data: z.strictObject({
    channels: z.array(channelName),
    channelsAmount: z.int().min(0),
    clientsAmount: z.int().min(0),
  }),
});

/** A presence member as both presence answers list it (v1.2). */
const presenceMember = z.strictObject({
  uuid: connectionUuid,
  info: z.record(z.string(), z.unknown()).meta({
    description: "What the member sent as `info` at subscribe (`{}` when none)",
  }),
});

/** A `CLIENT_PRESENCE` frame: another connection joined or left a presence channel (v1.2). */
export const clientPresence: z.ZodType = z.strictObject({
  messageType: z.literal("CLIENT_PRESENCE"),
  code: z.literal(200),
  message: z.enum(["Joined", "Left"]),
  data: z.strictObject({
    channel: channelName,
    uuid: connectionUuid,
    info: presenceMember.shape.info,
  }),
}).meta({ title: "Joined / Left" });

/** The `CLIENT_ACK` `Presence` answering the client action `PRESENCE` (v1.2). */
export const presenceAckSchema: z.ZodType = z.strictObject({
  messageType: z.literal("CLIENT_ACK"),
  code: z.literal(200),
  message: z.literal("Presence"),
  data: z.strictObject({
    channel: channelName,
    count: z.int().min(0).meta({ description: "Members (presence channels) or live subscribers" }),
    members: z.array(presenceMember).meta({ description: "Presence channels only; at most 1,000" }),
    truncated: z.literal(true).optional().meta({ description: "More members than listed" }),
  }),
}).meta({ title: "Presence" });
