/** Field schemas and issue formatting shared by the publisher API and the subscriber frames. */
import { z } from "zod";
import { type ErrorCode, PushError } from "../errors.ts";

/** Outcome of parsing: the value, or the protocol error to answer with. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: PushError };

/** Which catalog errors a transport answers for text that is not JSON, and for a bad shape. */
export interface ParseErrors {
  readonly badJson: ErrorCode;
  readonly badJsonDetails: string;
  readonly badShape: ErrorCode;
}

/** JSON.parse without throwing: `undefined` when `text` is not JSON. */
export function parseJson(text: string): { json: unknown } | undefined {
  try {
    return { json: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/** Validates parsed JSON against `schema`, wording the first issue as the protocol's error. */
export function validate<S extends z.ZodType>(
  schema: S,
  json: unknown,
  errors: ParseErrors,
): ParseResult<z.output<S>> {
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    return { ok: false, error: new PushError(errors.badShape, describeIssue(parsed.error)) };
  }
  return { ok: true, value: parsed.data };
}

/** Parses `text` as JSON, then validates it against `schema` (see {@link validate}). */
export function parseWith<S extends z.ZodType>(
  schema: S,
  text: string,
  errors: ParseErrors,
): ParseResult<z.output<S>> {
  const parsed = parseJson(text);
  if (parsed === undefined) {
    return { ok: false, error: new PushError(errors.badJson, errors.badJsonDetails) };
  }
  return validate(schema, parsed.json, errors);
}

/** Longest channel name, in Unicode code points. */
export const MAX_CHANNEL_NAME_CHARS = 200;

// U+0000–U+001F and U+007F.
// deno-lint-ignore no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** Builds a zod error callback: "is required" when absent, `must be <expected>` otherwise. */
export function expecting(expected: string): (issue: { input?: unknown }) => string {
  return (issue) => (issue.input === undefined ? "is required" : `must be ${expected}`);
}

function hasValidLength(name: string): boolean {
  return name.length > 0 && countCodePoints(name) <= MAX_CHANNEL_NAME_CHARS;
}

function hasNoControlCharacter(name: string): boolean {
  return !CONTROL_CHARACTER.test(name);
}

// A lone surrogate cannot be stored as UTF-8: SQLite turned "sur\ud800" into "sur\ufffd", so the
// channel created under one name answered 404 after a restart.
function isWellFormedUnicode(name: string): boolean {
  return name.isWellFormed();
}

/** Whether `value` is a valid channel name (the same rules as {@link channelName}). */
export function isChannelName(value: unknown): value is string {
  return typeof value === "string" && hasValidLength(value) && hasNoControlCharacter(value) &&
    isWellFormedUnicode(value);
}

/** A channel name: 1–200 code points, no control characters, no lone surrogate, compared exactly. */
export const channelName = z
  .string({ error: expecting("a string") })
  .refine(hasValidLength, { error: `must be 1 to ${MAX_CHANNEL_NAME_CHARS} characters long` })
  .refine(hasNoControlCharacter, { error: "must not contain control characters" })
  .refine(isWellFormedUnicode, { error: "must be well-formed Unicode (no lone surrogate)" })
  .meta({
    description: `1 to ${MAX_CHANNEL_NAME_CHARS} characters (Unicode code points) of well-formed ` +
      "Unicode with no control characters (U+0000–U+001F, U+007F); compared exactly",
    minLength: 1,
    maxLength: MAX_CHANNEL_NAME_CHARS,
    pattern: "^[^\\u0000-\\u001f\\u007f]*$",
    examples: ["news"],
  });

/**
 * Whether `value` (a string, or any JSON value: object keys and nested strings included) holds a
 * lone surrogate. Such text cannot be stored as UTF-8: it was delivered live as U+D800 and
 * replayed as U+FFFD, so it is refused instead. Iterative, so a deeply nested value cannot
 * overflow the stack.
 */
export function hasLoneSurrogate(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === "string") {
      if (!item.isWellFormed()) return true;
    } else if (Array.isArray(item)) {
      for (const element of item) stack.push(element);
    } else if (typeof item === "object" && item !== null) {
      for (const [key, element] of Object.entries(item)) {
        if (!key.isWellFormed()) return true;
        stack.push(element);
      }
    }
  }
  return false;
}

/** A push `message`: a string of well-formed Unicode (what is stored is what is replayed). */
export const pushMessage = z
  .string({ error: expecting("a string") })
  .refine((text) => !hasLoneSurrogate(text), {
    error: "must be well-formed Unicode (no lone surrogate)",
  });

/** A UUID in the canonical 8-4-4-4-12 hex form, compared case-insensitively. */
export const uuid = z
  .uuid({ error: (issue) => (issue.input === undefined ? "is required" : "invalid UUID") })
  .transform((id) => id.toLowerCase())
  .meta({ description: "A UUID (8-4-4-4-12 hex digits), compared case-insensitively" });

/**
 * An array of {@link uuid}s, lower-cased. It stops at the first bad element: a 1 MiB body holds
 * 500,000 junk recipients, and one zod issue per element cost ~2 s of CPU on the event loop.
 */
export function uuidArray(
  expected: string,
): z.ZodPipe<z.ZodCustom<unknown[], unknown[]>, z.ZodTransform<string[], unknown[]>> {
  return z
    .custom<unknown[]>((value) => Array.isArray(value), { error: expecting(expected) })
    .transform((items, ctx) => {
      const ids: string[] = [];
      for (let i = 0; i < items.length; i++) {
        const parsed = uuid.safeParse(items[i]);
        if (!parsed.success) {
          ctx.issues.push({
            code: "custom",
            message: items[i] === undefined ? "is required" : "invalid UUID",
            path: [i],
            input: items[i],
          });
          return z.NEVER;
        }
        ids.push(parsed.data);
      }
      return ids;
    })
    // The check above is code, so the JSON Schema of the API description is written out here.
    .meta({ type: "array", items: { type: "string", format: "uuid" } });
}

/** A whole number from `min` to `max`. */
export function boundedInteger(min: number, max: number): z.ZodNumber {
  return z
    .number({ error: expecting(`a whole number from ${min} to ${max}`) })
    .int({ error: `must be a whole number from ${min} to ${max}` })
    .min(min, { error: `must be a whole number from ${min} to ${max}` })
    .max(max, { error: `must be a whole number from ${min} to ${max}` });
}

/** A JSON object of anything (used for `data`, whose fields are checked one by one). */
export function object<T extends z.ZodRawShape>(shape: T): z.ZodObject<T> {
  return z.object(shape, { error: expecting("an object") });
}

/** An exact string value, e.g. a `messageType` or an `action`. */
export function exactly<T extends string>(value: T): z.ZodLiteral<T> {
  return z.literal(value, {
    error: (issue) => (issue.input === undefined ? "is required" : `must be "${value}"`),
  });
}

/** Formats the first issue as `path: problem`, e.g. `data.recipients[1]: invalid UUID`. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return "Request is invalid";
  let path = "";
  for (const key of issue.path) {
    path += typeof key === "number" ? `[${key}]` : path === "" ? String(key) : `.${String(key)}`;
  }
  return path === "" ? `body ${issue.message}` : `${path}: ${issue.message}`;
}

function countCodePoints(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // A high surrogate followed by a low one is a single code point.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return count;
}

/** Size of a string in UTF-8 bytes, without allocating when the answer is obvious. */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** True when `text` is certainly over `limit` UTF-8 bytes (cheap checks first). */
export function exceedsUtf8Bytes(text: string, limit: number): boolean {
  if (text.length > limit) return true; // every UTF-16 unit is at least one byte
  if (text.length * 3 <= limit) return false; // every UTF-16 unit is at most three bytes
  return utf8ByteLength(text) > limit;
}
