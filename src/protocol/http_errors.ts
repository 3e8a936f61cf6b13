/**
 * The error rows of the OpenAPI document: what each status means on the HTTP port, the example
 * `errorDetails`, and the catalog messages (`errors.ts`) the HTTP port answers with.
 */
import type { z } from "zod";
import { type Json, JSON_TYPE } from "./document.ts";
import { catalogMessages, errorSchema } from "./envelopes.ts";
import { WS_ONLY } from "./ws_errors.ts";

/** What each status means on every action route. */
export const EVERY_ACTION_ERRORS: Readonly<Record<number, string>> = {
  400: "The body is not JSON, or has the wrong `messageType` or `action` for this route, or a " +
    "missing or mistyped field, a bad UUID or a bad channel name (`errorDetails` says which)",
  408: "The request's headers or body did not fully arrive within `REQUEST_TIMEOUT_S`",
  413: "The body is over `MAX_BODY_BYTES` (1 MiB), or `message` is over `MAX_MESSAGE_BYTES`",
  429: "Too many token checks at once (`MAX_TOKEN_CHECKS`), or this source is over its failure " +
    "budget; retry later",
};

/** What each status means on every route of the HTTP port. */
export const EVERY_ROUTE_ERRORS: Readonly<Record<number, string>> = {
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

/** The catalog messages the HTTP port answers `status` with. */
export function httpMessages(status: number): string[] {
  const messages = catalogMessages(status, { exclude: WS_ONLY });
  const contract = CONTRACT_ERROR_MESSAGES[status];
  if (messages.length === 0 && contract !== undefined) return [contract];
  return messages;
}

/** The `ERROR` body of `status` as a route's answer: media type, schema and example. */
export function errorContent(
  status: number,
  details?: string,
): { readonly type: string; readonly schema: z.ZodType; readonly example: Json } {
  return {
    type: JSON_TYPE,
    schema: errorSchema(status, httpMessages(status)),
    example: errorExample(status, httpMessages(status)[0] ?? "", details),
  };
}

/** An example `ERROR` body; `details` defaults to PROTOCOL.md's example for the status. */
export function errorExample(status: number, message: string, details?: string | null): Json {
  return {
    messageType: "ERROR",
    code: status,
    message,
    data: { errorDetails: details === undefined ? ERROR_EXAMPLES[status] ?? null : details },
  };
}
