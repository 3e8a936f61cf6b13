/**
 * The AsyncAPI 3.0 document of the WebSocket port: the client actions from `inbound.ts`, the
 * server frames from `envelopes.ts`, and the refusals and closes from `ws_errors.ts`.
 */
import { z } from "zod";
import { ERRORS } from "../errors.ts";
import {
  clientActionSchema,
  type Json,
  JSON_TYPE,
  jsonSchema,
  pascal,
  PROTOCOL_VERSION,
  sortedStatuses,
} from "./document.ts";
import {
  catalogMessages,
  type ClientAckMessage,
  clientAckSchema,
  clientPresence,
  clientPush,
  errorSchema,
  presenceAckSchema,
} from "./envelopes.ts";
import { errorExample } from "./http_errors.ts";
import { CLOSE_CODES, SSE_ANSWERS, WS_FRAME_ERRORS, WS_REFUSALS } from "./ws_errors.ts";

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
      ["Subscription Expired", "The subscriber token (JWT) that allowed a subscription expired"],
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
  {
    name: "PresenceChange",
    title: "Joined / Left",
    summary: "Another connection joined or left a presence channel this one is subscribed to",
    schema: clientPresence,
    example: {
      messageType: "CLIENT_PRESENCE",
      code: 200,
      message: "Joined",
      data: {
        channel: "room",
        uuid: "5f1d2e3c-4b5a-4697-8877-665544332211",
        info: { user: "ann" },
      },
    },
  },
  {
    name: "Presence",
    title: "Presence",
    summary: "Answer to PRESENCE: who is on the channel, cluster-wide",
    schema: presenceAckSchema,
    example: {
      messageType: "CLIENT_ACK",
      code: 200,
      message: "Presence",
      data: {
        channel: "room",
        count: 1,
        members: [{ uuid: "5f1d2e3c-4b5a-4697-8877-665544332211", info: { user: "ann" } }],
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
  "**Presence** (v1.2). On a channel created with `presence: true`, `SUBSCRIBE` may carry " +
  "`info` (a JSON object of at most 1,024 bytes serialized); the `Subscribed` ack has " +
  "`presence.count`; the other members receive `CLIENT_PRESENCE` `Joined`/`Left` frames " +
  "(none above `PRESENCE_EVENTS_MAX` members, none for a delete); `PRESENCE` lists the members.",
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

  const summaries = {
    SUBSCRIBE: "Subscribe to a channel (`since` resumes a history channel, `info` describes " +
      "the subscriber on a presence channel)",
    UNSUBSCRIBE: "Unsubscribe from a channel",
    PRESENCE: "Who is on a channel this connection is subscribed to (else 403)",
  } as const;
  for (const action of ["SUBSCRIBE", "UNSUBSCRIBE", "PRESENCE"] as const) {
    const name = action === "PRESENCE" ? "PresenceRequest" : pascal(action);
    addMessage(name, {
      title: action,
      summary: summaries[action],
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
    // 400 covers `POST /sse/command` bodies too (Bad JSON, Invalid message).
    const messages = catalogMessages(status, { exclude: ["uuid_mismatch"] });
    const name = `UpgradeRefused${status}`;
    schemas[name] = jsonSchema(errorSchema(status, messages), target);
    httpResponses[status] = {
      description: WS_REFUSALS[status],
      contentType: JSON_TYPE,
      payload: { $ref: `#/components/schemas/${name}` },
    };
  }

  for (const [status, answer] of Object.entries(SSE_ANSWERS)) {
    httpResponses[status] = answer.contentType === undefined
      ? { description: answer.description }
      : {
        description: answer.description,
        contentType: answer.contentType,
        payload: { type: "string" },
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
      presence: {
        action: "receive",
        channel,
        title: "Presence",
        summary: "A client asks who is on a channel it is subscribed to",
        messages: [ref("PresenceRequest")],
        reply: { channel, messages: [ref("Presence"), ref("Error")] },
      },
      presenceChange: {
        action: "send",
        channel,
        summary: "Another member joined or left a subscribed presence channel",
        messages: [ref("PresenceChange")],
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
      subscriptionExpired: {
        action: "send",
        channel,
        summary: "The subscriber token (JWT) that allowed a subscription expired",
        messages: [ref("SubscriptionExpired")],
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
