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

/** History retention of a channel (v1.1): the newest `size` pushes younger than `ttlSeconds`. */
export interface HistoryOptions {
  /** Pushes kept, 1–10000. */
  size: number;
  /** Longest a push is kept, in seconds, 1–2592000 (30 days). */
  ttlSeconds: number;
}

/** Options of {@link PushPublisher.createChannel}. */
export interface CreateChannelOptions extends RequestOptions {
  /** Keep the newest pushes so subscribers can recover what they missed (`null`: no history). */
  history?: HistoryOptions | null;
  /** Only connections a publisher has {@link PushPublisher.authorize authorized} may subscribe. */
  private?: boolean;
  /** A presence channel (v1.2): members, `Joined`/`Left` frames, {@link PushPublisher.presence}. */
  presence?: boolean;
}

/** What {@link PushPublisher.createChannel} resolves with. */
export interface CreatedChannel {
  channel: string;
  /** The channel token: shown only this once. */
  channelToken: string;
  /** The retention, on a history channel. */
  history?: HistoryOptions;
  /** The channel's stream epoch, on a history channel (new for every created channel). */
  epoch?: string;
  /** `true` on a private channel. */
  private?: true;
  /** `true` on a presence channel. */
  presence?: true;
}

/** Who is on a channel, as {@link PushPublisher.presence} answers (v1.2). */
export interface PresenceResult {
  channel: string;
  /** Members of a presence channel, or live subscribers of any other channel (every node). */
  count: number;
  /** Presence channels only (else empty); at most 1,000. */
  members: { uuid: string; info: Record<string, unknown> }[];
  /** More members than listed. */
  truncated?: true;
}

/** What {@link PushPublisher.ping} resolves with. */
export interface ChannelInfo {
  channel: string;
  /** Present when pinged with the right token on a private or history channel. */
  private?: boolean;
  /** Present when pinged with the right token on a private or history channel. */
  history?: HistoryOptions | null;
  /** `true` when pinged with the right token on a presence channel. */
  presence?: true;
}

/** What {@link PushPublisher.push} resolves with. */
export interface PushResult {
  channel: string;
  /** The push's offset in the channel's history (broadcasts on history channels only). */
  offset?: number;
  /** The channel's epoch (together with `offset`). */
  epoch?: string;
  /** With `receipt: true`: connections the push was handed to, on every node (v1.2). */
  delivered?: number;
  /** With `receipt: true`, targeted pushes: the listed UUIDs it did not reach (v1.2). */
  undelivered?: string[];
  /** With `receipt: true`: a node did not answer within 1 s (cluster mode; v1.2). */
  partial?: true;
}

/** The `data` of a `SERVER_ACK`. */
export interface ServerAck {
  channel: string;
  channelToken: string | null;
  epoch?: string;
  offset?: number;
  private?: boolean;
  history?: HistoryOptions | null;
  uuid?: string;
  /** Presence channels (v1.2). */
  presence?: boolean;
  /** READ_PRESENCE (v1.2). */
  count?: number;
  members?: PresenceResult["members"];
  truncated?: boolean;
}

/** A pushserver `ERROR` envelope (or a reply that is not a pushserver envelope at all). */
export declare class PushApiError extends Error {
  constructor(code: number, message: string, errorDetails: string | null);
  /**
   * Protocol status code, equal to the HTTP status: 400, 401, 403, 404, 408, 409, 413, 429, 500,
   * 503, 507.
   */
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
  /**
   * Creates a channel; resolves with its token, which the server shows only this once (and,
   * with `history`, its `epoch`). 409 when the name is taken, 507 when the server is full.
   */
  createChannel(channel: string, options?: CreateChannelOptions): Promise<CreatedChannel>;
  /** Checks that a channel exists (token `null`) or that the token is right; 404/403 reject. */
  ping(
    channel: string,
    channelToken?: string | null,
    options?: RequestOptions,
  ): Promise<ChannelInfo>;
  /**
   * Pushes to every subscriber of `channel`, or only to `recipients` (UUIDs). A broadcast on a
   * history channel resolves with its `offset` and `epoch`.
   */
  push(
    channel: string,
    channelToken: string,
    message: unknown,
    options?: PushOptions,
  ): Promise<PushResult>;
  /** Deletes a channel; subscribers get a `Channel Deleted` ack. */
  deleteChannel(
    channel: string,
    channelToken: string,
    options?: RequestOptions,
  ): Promise<{ channel: string }>;
  /**
   * Lets connection `uuid` subscribe to `channel` for as long as that connection lives (or until
   * the channel is deleted). 404 when no live connection has that UUID.
   */
  authorize(
    channel: string,
    channelToken: string,
    uuid: string,
    options?: RequestOptions,
  ): Promise<{ channel: string; uuid: string }>;
  /**
   * Removes connection `uuid`'s grant and unsubscribes it (it receives `Subscription Revoked`);
   * resolves also when that UUID is not connected.
   */
  revoke(
    channel: string,
    channelToken: string,
    uuid: string,
    options?: RequestOptions,
  ): Promise<{ channel: string; uuid: string }>;
  /** Replaces the channel's token; the old one is refused from the answer on. */
  rotateToken(
    channel: string,
    channelToken: string,
    options?: RequestOptions,
  ): Promise<{ channel: string; channelToken: string }>;
  /** Who is on a channel (v1.2): count on any channel, members on presence channels. */
  presence(
    channel: string,
    channelToken: string,
    options?: RequestOptions,
  ): Promise<PresenceResult>;

  // --- v1.2 publishing (issue 20) ---
  /**
   * Pushes up to 100 messages in one request. One result per item, in order; an item's
   * failure is its result (`ok: false`), never a rejection.
   */
  pushBatch(pushes: readonly BatchPush[], options?: RequestOptions): Promise<BatchResult[]>;
  /** Reads one page of a history channel's retained pushes (409 without history). */
  history(
    channel: string,
    channelToken: string,
    options?: HistoryReadOptions,
  ): Promise<HistoryPage>;
  /** Pages through a history channel with `for await`, from `since` (or the oldest) on. */
  historyPages(
    channel: string,
    channelToken: string,
    options?: HistoryReadOptions,
  ): AsyncGenerator<HistoryPage, void, undefined>;
}

// --- v1.2 publishing types (issue 20) ---

/** Options of {@link PushPublisher.push}. */
export interface PushOptions extends RequestOptions {
  /** Only these connection UUIDs (default: every subscriber). */
  recipients?: readonly string[];
  /** Answer what the push reached: `delivered`, `undelivered`, `partial`. */
  receipt?: boolean;
  /**
   * 1–64 printable ASCII characters: a retry with the same key on the channel within 300 s is
   * pushed once and answered like the first push.
   */
  idempotencyKey?: string;
}

/** One item of {@link PushPublisher.pushBatch}: `push()`'s arguments as one object. */
export interface BatchPush {
  channel: string;
  channelToken: string;
  message: unknown;
  recipients?: readonly string[];
  receipt?: boolean;
  idempotencyKey?: string;
}

/** One item's result in a batch: what `push()` resolves with, or the error it would throw. */
export type BatchResult =
  | ({ ok: true } & PushResult)
  | { ok: false; code: number; message: string; errorDetails: string | null };

/** A position in a channel's stream, as a push or a history page reports it. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** Options of {@link PushPublisher.history}. */
export interface HistoryReadOptions extends RequestOptions {
  /** Read the pushes after this position (default: from the oldest retained one). */
  since?: StreamPosition | null;
  /** At most this many pushes per page, 1–1000 (default 100). */
  limit?: number;
}

/** One retained push. */
export interface Publication<T = unknown> {
  offset: number;
  message: T;
  /** When the push was accepted, ISO 8601 UTC with milliseconds. */
  time: string;
}

/** One page of a channel's history. */
export interface HistoryPage {
  channel: string;
  epoch: string;
  /** The stream's top offset. */
  offset: number;
  /** Oldest first. */
  publications: Publication[];
  /** With `since`: whether every push after it is still retained. */
  recovered?: boolean;
}
