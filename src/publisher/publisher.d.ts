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
    message: string,
    options?: RequestOptions & { recipients?: readonly string[] },
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
}
