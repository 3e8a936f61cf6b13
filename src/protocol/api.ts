/** Publisher HTTP API: request schemas and the parser that applies the protocol's error order. */
import { z } from "zod";
import { PushError } from "../errors.ts";
import {
  channelName,
  describeIssue,
  exactly,
  exceedsUtf8Bytes,
  expecting,
  object,
  utf8ByteLength,
  uuidArray,
} from "./fields.ts";

/** The four publisher actions. */
export type ActionName = "CREATE_CHANNEL" | "PING_CHANNEL" | "PUSH_MESSAGE" | "DELETE_CHANNEL";

/** A token field: absent and `null` both mean "no token". */
const channelToken = z
  .string({ error: expecting("a string or null") })
  .nullish()
  .transform((token) => token ?? null);

function envelope<A extends ActionName, D extends z.ZodRawShape>(action: A, data: D) {
  return object({
    messageType: exactly("SERVER_ACTION"),
    action: exactly(action),
    data: object(data),
  });
}

/** Request schemas by action. */
export const ACTION_SCHEMAS = {
  CREATE_CHANNEL: envelope("CREATE_CHANNEL", { channel: channelName }),
  PING_CHANNEL: envelope("PING_CHANNEL", { channel: channelName, channelToken }),
  PUSH_MESSAGE: envelope("PUSH_MESSAGE", {
    channel: channelName,
    channelToken,
    recipients: uuidArray("an array of UUIDs"),
    message: z.string({ error: expecting("a string") }),
  }),
  DELETE_CHANNEL: envelope("DELETE_CHANNEL", { channel: channelName, channelToken }),
} as const;

/** A validated publisher request for action `A`. */
export type ActionRequest<A extends ActionName> = z.output<typeof ACTION_SCHEMAS[A]>;

/** Outcome of parsing: the request, or the protocol error to answer with. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: PushError };

/**
 * Parses a publisher body (already read and size-capped) in the protocol's order:
 * 413 for an oversized `data.message`, then 400 for bad JSON, then 400 for a bad shape.
 */
export function parseAction<A extends ActionName>(
  action: A,
  body: string,
  options: { maxMessageBytes: number },
): ParseResult<ActionRequest<A>> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, error: new PushError("bad_json", "Body is not valid JSON") };
  }
  const message = messageField(json);
  if (typeof message === "string" && exceedsUtf8Bytes(message, options.maxMessageBytes)) {
    const size = utf8ByteLength(message);
    return {
      ok: false,
      error: new PushError(
        "payload_too_large",
        `message is ${size} bytes; the limit is ${options.maxMessageBytes}`,
      ),
    };
  }
  const parsed = ACTION_SCHEMAS[action].safeParse(json);
  if (!parsed.success) {
    return { ok: false, error: new PushError("invalid_request", describeIssue(parsed.error)) };
  }
  return { ok: true, value: parsed.data as ActionRequest<A> };
}

function messageField(json: unknown): unknown {
  if (typeof json !== "object" || json === null) return undefined;
  const data = (json as { data?: unknown }).data;
  if (typeof data !== "object" || data === null) return undefined;
  return (data as { message?: unknown }).message;
}
