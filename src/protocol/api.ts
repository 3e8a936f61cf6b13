/** Publisher HTTP API: request schemas and the parser that applies the protocol's error order. */
import { z } from "zod";
import { PushError } from "../errors.ts";
import {
  boundedInteger,
  channelName,
  exactly,
  expecting,
  isChannelName,
  object,
  type ParseErrors,
  parseJson,
  type ParseResult,
  parseWith,
  uuid,
  uuidArray,
  validate,
} from "./fields.ts";
import { messageField, messageTooLarge } from "./payload.ts";

/** The publisher actions. */
export type ActionName = keyof typeof ACTION_SCHEMAS;

/** A token field: absent and `null` both mean "no token". */
const channelToken = z
  .string({ error: expecting("a string or null") })
  .nullish()
  .transform((token) => token ?? null);

/** Optional history retention at create (v1.1): absent or null = no history. */
const historyOption = object({
  size: boundedInteger(1, 10_000),
  ttlSeconds: boundedInteger(1, 2_592_000),
}).nullish().transform((history) => history ?? null);

/** An optional boolean: absent or null = false. */
const optionalFlag = z
  .boolean({ error: expecting("a boolean or null") })
  .nullish()
  .transform((flag) => flag ?? false);

/**
 * An optional push key (v1.2 idempotent pushes): 1–64 printable ASCII characters (U+0020–U+007E);
 * null = absent.
 */
const idempotencyKey = z
  .string({ error: expecting("a string of 1 to 64 printable ASCII characters, or null") })
  .regex(/^[\x20-\x7e]{1,64}$/, { error: "must be 1 to 64 printable ASCII characters" })
  .nullish()
  .transform((key) => key ?? undefined)
  .optional()
  .meta({
    description: "v1.2: 1–64 printable ASCII characters. A push whose key was already used on " +
      "the same channel within the last 300 s is not delivered or stored again and is " +
      "answered exactly like the first one (same `offset`, same receipt counts), on any node: " +
      "a publisher that got a 503 or no answer can retry safely",
  });

/** A stream position to read on from (`since`, as in SUBSCRIBE); null = absent. */
const sincePosition = object({
  offset: z.number({ error: expecting("a whole number ≥ 0") }).int({
    error: "must be a whole number ≥ 0",
  }).min(0, { error: "must be a whole number ≥ 0" }).max(Number.MAX_SAFE_INTEGER, {
    error: "must be a whole number ≥ 0",
  }),
  epoch: z.string({ error: expecting("a string") }),
}).nullish().transform((since) => since ?? undefined);

/** Most publications one history read answers, and the default. */
export const HISTORY_READ_LIMIT = { max: 1000, default: 100 } as const;

/** Most pushes in one batch. */
export const MAX_BATCH_PUSHES = 100;

/** One batch item: checked on its own later, as the `data` of a `PUSH_MESSAGE`. */
const batchItem = z
  .custom<Record<string, unknown>>(
    (value) => typeof value === "object" && value !== null && !Array.isArray(value),
    { error: expecting("an object") },
  )
  .meta({
    description: "The `data` of a `PUSH_MESSAGE` (`channel`, `channelToken`, `recipients`, " +
      "`message`, optional `receipt`, `idempotencyKey`); each item is checked and answered on " +
      "its own",
    type: "object",
  });

function envelope<A extends string, D extends z.ZodRawShape>(action: A, data: D) {
  return object({
    messageType: exactly("SERVER_ACTION"),
    action: exactly(action),
    data: object(data),
  });
}

/** Request schemas by action. */
export const ACTION_SCHEMAS = {
  CREATE_CHANNEL: envelope("CREATE_CHANNEL", {
    channel: channelName,
    history: historyOption,
    private: optionalFlag,
    // v1.2: a presence channel (members, Joined/Left frames, member lists).
    presence: optionalFlag,
  }),
  PING_CHANNEL: envelope("PING_CHANNEL", { channel: channelName, channelToken }),
  PUSH_MESSAGE: envelope("PUSH_MESSAGE", {
    channel: channelName,
    channelToken,
    recipients: uuidArray("an array of UUIDs"),
    message: messageField,
    // v1.2: answer what the push reached (`delivered`, `undelivered`, `partial`).
    receipt: optionalFlag,
    // v1.2: a push retried with the same key within 300 s is made once.
    idempotencyKey,
  }),
  DELETE_CHANNEL: envelope("DELETE_CHANNEL", { channel: channelName, channelToken }),
  AUTHORIZE_SUBSCRIBER: envelope("AUTHORIZE_SUBSCRIBER", {
    channel: channelName,
    channelToken,
    uuid,
  }),
  REVOKE_SUBSCRIBER: envelope("REVOKE_SUBSCRIBER", { channel: channelName, channelToken, uuid }),
  ROTATE_TOKEN: envelope("ROTATE_TOKEN", { channel: channelName, channelToken }),
  READ_HISTORY: envelope("READ_HISTORY", {
    channel: channelName,
    channelToken,
    since: sincePosition,
    limit: boundedInteger(1, HISTORY_READ_LIMIT.max)
      .nullish()
      .transform((limit) => limit ?? HISTORY_READ_LIMIT.default),
  }),
  READ_PRESENCE: envelope("READ_PRESENCE", { channel: channelName, channelToken }),
  PUSH_BATCH: envelope("PUSH_BATCH", {
    pushes: z
      .array(batchItem, { error: expecting(`an array of 1 to ${MAX_BATCH_PUSHES} objects`) })
      .min(1, { error: `must hold 1 to ${MAX_BATCH_PUSHES} pushes` })
      .max(MAX_BATCH_PUSHES, { error: `must hold 1 to ${MAX_BATCH_PUSHES} pushes` }),
  }),
} as const;

/** A validated publisher request for action `A`. */
export type ActionRequest<A extends ActionName> = z.output<typeof ACTION_SCHEMAS[A]>;

export type { ParseResult };

/** The publisher API's parse errors: both are 400 `Bad Request`. */
const HTTP_ERRORS: ParseErrors = {
  badJson: "bad_json",
  badJsonDetails: "Body is not valid JSON",
  badShape: "invalid_request",
};

/**
 * Parses a publisher body (already read and size-capped) in the protocol's order:
 * 413 for an oversized `data.message`, then 400 for bad JSON, then 400 for a bad shape.
 */
export function parseAction<A extends ActionName>(
  action: A,
  body: string,
  options: { maxMessageBytes: number },
): ParseResult<ActionRequest<A>> {
  const parsed = parseJson(body);
  if (parsed === undefined) {
    return { ok: false, error: new PushError(HTTP_ERRORS.badJson, HTTP_ERRORS.badJsonDetails) };
  }
  const json = parsed.json;
  const tooLarge = messageTooLarge(messageOf(json), options.maxMessageBytes);
  if (tooLarge !== undefined) return { ok: false, error: tooLarge };
  if (action === "PUSH_MESSAGE") {
    const push = wellFormedPush(json);
    if (push !== undefined) return { ok: true, value: push as ActionRequest<A> };
  }
  return validate(ACTION_SCHEMAS[action], json, HTTP_ERRORS) as ParseResult<ActionRequest<A>>;
}

/**
 * Parses one batch item as the `data` of a `PUSH_MESSAGE`, with the same answers (and the same
 * `errorDetails`, e.g. `data.recipients[1]: invalid UUID`) that `/push` gives for that data.
 */
export function parsePushData(
  data: unknown,
  options: { maxMessageBytes: number },
): ParseResult<ActionRequest<"PUSH_MESSAGE">["data"]> {
  const json = { messageType: "SERVER_ACTION", action: "PUSH_MESSAGE", data };
  const tooLarge = messageTooLarge(messageOf(json), options.maxMessageBytes);
  if (tooLarge !== undefined) return { ok: false, error: tooLarge };
  const push = wellFormedPush(json) ??
    validate(ACTION_SCHEMAS.PUSH_MESSAGE, json, HTTP_ERRORS);
  if ("ok" in push) return push.ok ? { ok: true, value: push.value.data } : push;
  return { ok: true, value: push.data };
}

function messageOf(json: unknown): unknown {
  if (typeof json !== "object" || json === null) return undefined;
  const data = (json as { data?: unknown }).data;
  if (typeof data !== "object" || data === null) return undefined;
  return (data as { message?: unknown }).message;
}

/**
 * The common case of the hottest route, checked by hand: zod's safeParse allocates enough to cost
 * ~25 µs per push under load, a third of the request. It answers only when the body is certainly
 * valid (the same value zod would produce); anything else returns `undefined`, so zod still
 * decides and words every rejection. A property test holds the two to the same answers.
 */
export function wellFormedPush(json: unknown): ActionRequest<"PUSH_MESSAGE"> | undefined {
  if (!isPlainObject(json)) return undefined;
  if (json.messageType !== "SERVER_ACTION" || json.action !== "PUSH_MESSAGE") return undefined;
  const data = json.data;
  if (!isPlainObject(data)) return undefined;
  const { channel, channelToken, recipients, message, receipt, idempotencyKey } = data;
  if (receipt !== undefined && receipt !== null && typeof receipt !== "boolean") return undefined;
  // A key is checked (and worded) by the schema: keyed pushes take the zod path.
  if (idempotencyKey !== undefined && idempotencyKey !== null) return undefined;
  if (!isChannelName(channel) || typeof message !== "string" || !Array.isArray(recipients)) {
    return undefined;
  }
  // A lone surrogate is refused by the schema, which words it.
  if (!message.isWellFormed()) return undefined;
  if (channelToken !== undefined && channelToken !== null && typeof channelToken !== "string") {
    return undefined;
  }
  const ids: string[] = [];
  for (const recipient of recipients) {
    const id = uuid.safeParse(recipient);
    if (!id.success) return undefined;
    ids.push(id.data);
  }
  return {
    messageType: "SERVER_ACTION",
    action: "PUSH_MESSAGE",
    data: {
      channel,
      channelToken: channelToken ?? null,
      recipients: ids,
      message: { text: message, json: false },
      receipt: receipt === true,
    },
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The body of an admin route: the channel to act on. */
export const adminActionSchema = object({ channel: channelName });

/** Parses an operator's `{"channel": NAME}` body (admin routes). */
export function parseAdminAction(body: string): ParseResult<z.output<typeof adminActionSchema>> {
  return parseWith(adminActionSchema, body, HTTP_ERRORS);
}
