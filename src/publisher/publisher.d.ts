/**
 * Types for `publisher.js`, the publisher SDK (Deno, Node ≥ 18, browsers).
 *
 * @module
 */

/** Settings for a {@link PushPublisher}. */
export interface PushPublisherOptions {
  /** The server's HTTP port URL, e.g. `http://localhost:5223`. */
  baseUrl: string | URL;
  /** A fetch implementation (default: the global `fetch`). */
  fetch?: typeof fetch;
  /** Extra headers sent with every request (e.g. for a proxy in front of the server). */
  headers?: Record<string, string>;
}

/** Per-call options. */
export interface RequestOptions {
  /** Aborts the request, e.g. `AbortSignal.timeout(5000)`. */
  signal?: AbortSignal;
}

/** The `data` of a `SERVER_ACK`. */
export interface ServerAck {
  channel: string;
  channelToken: string | null;
}

/** A pushserver `ERROR` envelope (or a reply that is not a pushserver envelope at all). */
export declare class PushApiError extends Error {
  constructor(code: number, message: string, errorDetails: string | null);
  /** Protocol status code, equal to the HTTP status: 400, 401, 403, 404, 409, 413, 429, 500, 503. */
  readonly code: number;
  /** The envelope's short message, e.g. `Forbidden`. */
  override readonly message: string;
  /** The envelope's one-sentence detail (never a token). */
  readonly errorDetails: string | null;
}

/** A client for the publisher HTTP API of one pushserver. */
export declare class PushPublisher {
  constructor(options: PushPublisherOptions);
  /** The base URL requests go to, without a trailing slash. */
  readonly baseUrl: string;
  /** Creates a channel; resolves with its token, which the server shows only this once. */
  createChannel(
    channel: string,
    options?: RequestOptions,
  ): Promise<{ channel: string; channelToken: string }>;
  /** Checks that a channel exists (token `null`) or that the token is right; 404/403 reject. */
  ping(
    channel: string,
    channelToken?: string | null,
    options?: RequestOptions,
  ): Promise<{ channel: string }>;
  /** Pushes to every subscriber of `channel`, or only to `recipients` (UUIDs). */
  push(
    channel: string,
    channelToken: string,
    message: string,
    options?: RequestOptions & { recipients?: readonly string[] },
  ): Promise<{ channel: string }>;
  /** Deletes a channel; subscribers get a `Channel Deleted` ack. */
  deleteChannel(
    channel: string,
    channelToken: string,
    options?: RequestOptions,
  ): Promise<{ channel: string }>;
}
