/**
 * Push payloads (v1.2 "Payloads: any JSON value"): a `message` is any JSON value except `null`.
 * A string travels as itself, exactly as in v1; any other value travels as its JSON text, so
 * frames and history embed it without serializing it again.
 */
import { z } from "zod";
import { PushError } from "../errors.ts";
import { exceedsUtf8Bytes, utf8ByteLength } from "./fields.ts";

/** Deepest nesting of arrays and objects a message may have. */
export const MAX_MESSAGE_DEPTH = 64;

/** A message as the server carries it. */
export interface Payload {
  /** The string itself (`json: false`), or the JSON text of any other value (`json: true`). */
  readonly text: string;
  readonly json: boolean;
}

/** Why a message value is refused with 400 (the `errorDetails` after `data.message: `). */
type Refusal = string;

/**
 * Checks a non-string value: nesting, finite numbers, well-formed strings (keys too). Answers
 * the first problem found, or `undefined` when the value is a valid message.
 */
function refusalOf(value: unknown, depth: number): Refusal | undefined {
  switch (typeof value) {
    case "string":
      return value.isWellFormed() ? undefined : "must be well-formed Unicode (no lone surrogate)";
    case "number":
      // JSON.parse turns a literal such as 1e999 into Infinity: it names no finite number.
      return Number.isFinite(value) ? undefined : "must not hold a number that is not finite";
    case "boolean":
      return undefined;
    case "object": {
      if (value === null) return undefined;
      if (depth >= MAX_MESSAGE_DEPTH) {
        return `must not be nested more than ${MAX_MESSAGE_DEPTH} levels deep`;
      }
      if (Array.isArray(value)) {
        for (const item of value) {
          const refusal = refusalOf(item, depth + 1);
          if (refusal !== undefined) return refusal;
        }
        return undefined;
      }
      for (const [key, item] of Object.entries(value)) {
        if (!key.isWellFormed()) return "must be well-formed Unicode (no lone surrogate)";
        const refusal = refusalOf(item, depth + 1);
        if (refusal !== undefined) return refusal;
      }
      return undefined;
    }
    default:
      return "must be a JSON value other than null";
  }
}

/** The JSON text of a parsed value; `undefined` when it is too deep to serialize at all. */
function jsonText(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

/** The size the limit applies to: a string's own UTF-8 bytes, else its JSON text's. */
export function messageBytes(value: unknown): number | undefined {
  if (typeof value === "string") return utf8ByteLength(value);
  const text = jsonText(value);
  return text === undefined ? undefined : utf8ByteLength(text);
}

/** Whether `value` (a present, non-null message) is over `limit` bytes (see {@link messageBytes}). */
export function messageTooLarge(value: unknown, limit: number): PushError | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") {
    if (!exceedsUtf8Bytes(value, limit)) return undefined;
  } else if (typeof value !== "object" && typeof value !== "number") return undefined;
  const size = messageBytes(value);
  if (size === undefined || size <= limit) return undefined;
  return new PushError("payload_too_large", `message is ${size} bytes; the limit is ${limit}`);
}

/**
 * The payload of a message value, or the reason it is refused (400). `null` and `undefined`
 * are refused here too, though the request schema words those first.
 */
export function toPayload(value: unknown): { ok: true; payload: Payload } | {
  ok: false;
  details: string;
} {
  if (typeof value === "string") {
    return value.isWellFormed()
      ? { ok: true, payload: { text: value, json: false } }
      : { ok: false, details: "must be well-formed Unicode (no lone surrogate)" };
  }
  if (value === null || value === undefined) {
    return { ok: false, details: value === undefined ? "is required" : "must not be null" };
  }
  const refusal = refusalOf(value, 0);
  if (refusal !== undefined) return { ok: false, details: refusal };
  const text = jsonText(value);
  if (text === undefined) {
    return {
      ok: false,
      details: `must not be nested more than ${MAX_MESSAGE_DEPTH} levels deep`,
    };
  }
  return { ok: true, payload: { text, json: true } };
}

/** The message value a payload carries (for answers that hold it as a value, e.g. history reads). */
export function payloadValue(payload: Payload): unknown {
  return payload.json ? JSON.parse(payload.text) : payload.text;
}

/**
 * `data.message` of a push: any JSON value except null, turned into its {@link Payload}.
 * The JSON Schema of the API description says the same in words and types.
 */
export const messageField = z
  .custom<unknown>((value) => value !== undefined, {
    error: () => "is required",
  })
  .transform((value, ctx): Payload => {
    const result = toPayload(value);
    if (result.ok) return result.payload;
    ctx.issues.push({ code: "custom", message: result.details, input: value });
    return z.NEVER;
  })
  .meta({
    description: "Any JSON value except null: a string (v1), number, boolean, array or object " +
      `(nested at most ${MAX_MESSAGE_DEPTH} levels; finite numbers; no lone surrogate). The ` +
      "size limit (`MAX_MESSAGE_BYTES`) applies to a string's UTF-8 bytes, or to the UTF-8 " +
      "bytes of any other value's JSON text",
    type: ["string", "number", "boolean", "array", "object"],
    examples: ["Hello, world", { "score": 3, "tags": ["a", "b"] }],
  });

/** A message value as the server sends it back (frames, history reads): never null. */
export const messageValue = z
  .custom<unknown>((value) => value !== undefined && value !== null)
  .meta({
    description: "The pushed message, as it was pushed: a string (v1), number, boolean, array " +
      "or object",
    type: ["string", "number", "boolean", "array", "object"],
    examples: ["Hello, world"],
  });

/** The JSON text of `pushMessage.message` for a payload (what frames embed). */
export function messageJson(payload: Payload): string {
  return payload.json ? payload.text : JSON.stringify(payload.text);
}
