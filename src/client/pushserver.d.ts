/**
 * Types for `pushserver.js`, the subscriber client served at `GET /js/pushserver.js` (its private
 * modules, `_*.js`, are served beside it). A {@link PushClient} manages the connection, each
 * channel is a {@link Subscription}, and a {@link PushTransport} carries the frames.
 *
 * @module
 */

/** Code of a {@link PushError} that never reached the server (closed client, lost connection). */
export declare const LOCAL_ERROR_CODE: 0;

/** The WebSocket subprotocol that asks the server for compact frames. */
export declare const COMPACT_PROTOCOL: "pushserver.compact";

/** Options for {@link PushClient.connect}; every field is optional. */
export interface PushClientOptions {
  /** Reconnect after an unexpected close (default true). */
  reconnect?: boolean;
  /** First reconnect delay in ms (default 500). */
  minDelayMs?: number;
  /** Largest reconnect delay in ms (default 30000). */
  maxDelayMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
  /** Fraction of each delay removed at random, 0–1 (default 0.5). */
  jitter?: number;
  /**
   * Give up on a connection attempt without a `Connected` ack after this many ms (default 10000);
   * `connect()` rejects by then at the latest, whatever the WebSocket implementation does.
   */
  connectTimeoutMs?: number;
  /**
   * Frames per second this client sends at most (default 90, under the server's default
   * `WS_FRAME_RATE` of 100). Lowered automatically when the server refuses a frame with 429.
   */
  frameRate?: number;
  /**
   * Frames this client sends at once before pacing sets in (default 150, under the server's
   * default `WS_FRAME_BURST` of 200).
   */
  frameBurst?: number;
  /**
   * Offer the `pushserver.compact` subprotocol (default true): acks then name one channel instead
   * of repeating the whole list, and the client keeps the list itself. A server that does not
   * accept it is spoken to in v1 frames.
   */
  compact?: boolean;
  /** A WebSocket constructor for runtimes without a global one (e.g. Node < 22: `ws`). */
  WebSocket?: { new (url: string, protocols?: string | string[]): WebSocket };
  /**
   * How to reach the server, tried in this order on every connect and reconnect, each within
   * `connectTimeoutMs`; the first that opens is used (`client.transport` names it). Default
   * `["websocket", "sse"]`: Server-Sent Events when the WebSocket cannot be created or does not
   * open in time. An entry is `"websocket"`, `"sse"` or an object implementing
   * {@link PushTransport}.
   */
  transports?: readonly ("websocket" | "sse" | PushTransport)[];
  /**
   * Gets this connection a grant for a private channel: typically sends `uuid` and `channel`
   * to the app's backend, which calls the publisher API's `/channel/authorize` and answers once
   * it has. Called when a `subscribe()` is refused with 403 (then the subscribe is tried once
   * more), and after every reconnect for the channels that needed it (the UUID changes).
   */
  authorize?: (uuid: string, channel: string) => unknown;
  /**
   * Gets a subscriber token (a JWT the app's backend signs, v1.2) for `channel`: called before
   * the channel is subscribed, and again before the token's `exp` (read from the token without
   * verifying it), as centrifuge-js does. A string is sent as `data.token` with the channel's
   * SUBSCRIBEs, so a private channel is subscribed without a grant and renewed before it
   * expires; `null` or `undefined` (e.g. for a public channel) sends none.
   */
  getToken?: (channel: string) => string | null | undefined | Promise<string | null | undefined>;
}

/** A position in a history channel's stream. */
export interface StreamPosition {
  /** The offset of the last push received (or where the subscription started). */
  offset: number;
  /** The channel's epoch: a deleted and re-created channel has a new one. */
  epoch: string;
}

/** Options of {@link PushClient.subscribe}. */
export interface SubscribeOptions {
  /**
   * Resume a history channel from a stored position (from `meta` or `position()`): the pushes
   * after it are delivered first. Used when the channel is not subscribed yet; a
   * `notRecovered` event tells when the server could not replay everything.
   */
  since?: StreamPosition | null;
  /**
   * On a presence channel: how this subscriber describes itself to the other members (a JSON
   * object of at most 1,024 bytes serialized). Sent with every (re)subscribe; ignored on other
   * channels.
   */
  info?: Record<string, unknown> | null;
}

/** A member of a presence channel. */
export interface PresenceMember {
  uuid: string;
  info: Record<string, unknown>;
}

/** Who is on a channel (cluster-wide), as {@link PushClient.presence} answers. */
export interface PresenceResult {
  channel: string;
  /** Members of a presence channel, or live subscribers of any other channel. */
  count: number;
  /** Presence channels only (else empty); at most 1,000. */
  members: PresenceMember[];
  /** More members than listed. */
  truncated?: true;
}

/** The reconnect, timeout, pacing and transport settings used when an option is not given. */
export declare const DEFAULT_OPTIONS: Readonly<
  Required<Omit<PushClientOptions, "WebSocket" | "authorize" | "transports" | "getToken">> & {
    transports: readonly ["websocket", "sse"];
  }
>;

/** Where a push came from. */
export interface PushMeta {
  /** The channel the message was pushed to. */
  channel: string;
  /** This connection's UUID when the push arrived. */
  uuid: string;
  /** Every channel the server has this connection subscribed to. */
  subscribedChannels: string[];
  /** The push's offset, on a history channel (broadcasts only). */
  offset?: number;
  /** The channel's epoch, with `offset`. */
  epoch?: string;
}

/**
 * Called for each push on a subscribed channel. `message` is the JSON value the publisher pushed
 * (a string in v1; any JSON value but null since v1.2): name its type with `subscribe<T>()`.
 */
export type PushHandler<T = unknown> = (message: T, meta: PushMeta) => void;

/** Payload of each event, by name. */
export interface PushClientEvents {
  /** A connection was established (first connect and every reconnect). */
  connected: { uuid: string };
  /** The connection dropped; `delayMs` is the wait before the next attempt, null when giving up. */
  disconnected: { code: number; reason: string; willReconnect: boolean; delayMs: number | null };
  /**
   * Reconnected and resubscribed; `channels` is what the server now has subscribed.
   * `recovered` has one entry per history channel that was resumed: `true` when every push
   * missed while disconnected was delivered, `false` when some are lost (see `notRecovered`).
   */
  reconnected: {
    uuid: string;
    previousUuid: string;
    channels: string[];
    recovered: Record<string, boolean>;
  };
  /** A publisher deleted a subscribed channel; its handlers were removed. */
  channelDeleted: { channel: string };
  /** A publisher revoked this connection's subscription; its handlers were removed. */
  subscriptionRevoked: { channel: string };
  /**
   * A history channel was resumed from `since` but the server could not replay every push
   * after it (the channel was re-created: `epochChanged`, or they are no longer retained).
   * Pushes continue after `position`; reload the app's state for this channel.
   */
  notRecovered: {
    channel: string;
    since: StreamPosition;
    position: StreamPosition;
    epochChanged: boolean;
  };
  /** A failure no promise could report: a resubscribe refused, a handler threw, a stray error. */
  error: { error: unknown; channel: string | null };
}

/** State of a {@link PushClient}. */
export type PushClientState = "connecting" | "open" | "reconnecting" | "closed";

/** An `ERROR` envelope from the server, or a local failure with code 0. */
export declare class PushError extends Error {
  constructor(code: number, message: string, errorDetails: string | null);
  /** Protocol status code: 400, 403, 404, 429…; 0 when no server answered. */
  readonly code: number;
  /** The envelope's short message, e.g. `Not found`. */
  override readonly message: string;
  /** The envelope's one-sentence detail. */
  readonly errorDetails: string | null;
}

/** Delay before reconnect attempt number `attempt` (0-based), with exponential growth and jitter. */
export declare function backoffDelay(
  attempt: number,
  options?: Pick<PushClientOptions, "minDelayMs" | "maxDelayMs" | "factor" | "jitter">,
  random?: () => number,
): number;

/** A subscriber connection with promise-based subscribe and automatic reconnect. */
export declare class PushClient implements AsyncDisposable {
  /** Use {@link PushClient.connect}; the constructor does not open a connection. */
  constructor(url: string, options: PushClientOptions);
  /**
   * Opens a connection and resolves once the server has assigned a UUID (`client.uuid`).
   * Rejects with a {@link PushError} (code 0) if the first connection fails.
   */
  static connect(url: string | URL, options?: PushClientOptions): Promise<PushClient>;
  /** The UUID of the current connection (it changes after a reconnect). */
  readonly uuid: string;
  /** `connecting`, `open`, `reconnecting` or `closed`. */
  readonly state: PushClientState;
  /** Whether the current connection uses compact frames (the server accepted the subprotocol). */
  readonly compact: boolean;
  /** The transport of the current (or last) connection, e.g. `websocket`. */
  readonly transport: string;
  /** Channels this client wants, in subscription order. */
  readonly channels: string[];
  /**
   * Subscribes and resolves on the server's ack with a function that removes this handler
   * (unsubscribing when it was the channel's last). Rejects with the server's {@link PushError}
   * (403 for a private channel without a grant, once `options.authorize` could not get one).
   * `T` names the type of the messages the app expects on the channel; nothing checks it.
   */
  subscribe<T = unknown>(
    channel: string,
    handler: PushHandler<T>,
    options?: SubscribeOptions,
  ): Promise<() => Promise<void>>;
  /**
   * Who is on `channel` (it must be subscribed: otherwise rejects with a 403
   * {@link PushError}).
   */
  presence(channel: string): Promise<PresenceResult>;
  /** The {@link Subscription} of a channel this client wants (state, position, events). */
  getSubscription(channel: string): Subscription | undefined;
  /** Where a history channel's stream stands for this client; undefined without history. */
  position(channel: string): StreamPosition | undefined;
  /** Removes every handler of `channel` and unsubscribes. */
  unsubscribe(channel: string): Promise<void>;
  /** Adds an event listener; returns a function that removes it. */
  on<K extends keyof PushClientEvents>(
    name: K,
    listener: (event: PushClientEvents[K]) => void,
  ): () => void;
  /** Removes an event listener. */
  off<K extends keyof PushClientEvents>(
    name: K,
    listener: (event: PushClientEvents[K]) => void,
  ): void;
  /**
   * Closes for good (no reconnect; every subscription ends with reason `closed`); resolves once
   * the connection has closed.
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * State of a {@link Subscription}: `subscribing` until the server acks it (again after every
 * reconnect), `subscribed`, and `unsubscribed` once it ended for good.
 */
export type SubscriptionState = "subscribing" | "subscribed" | "unsubscribed";

/**
 * Why a {@link Subscription} ended: the app unsubscribed, a publisher deleted the channel or
 * revoked this connection, the server refused it (the first subscribe, or a resubscribe after
 * a reconnect answered 404 or 400), or the client closed.
 */
export type UnsubscribedReason =
  | "unsubscribed"
  | "channelDeleted"
  | "subscriptionRevoked"
  | "refused"
  | "closed";

/** Payload of each {@link Subscription} event, by name. */
export interface SubscriptionEvents {
  /**
   * The server acked the subscription: first, and after every reconnect. `recovered` says, when
   * the subscribe resumed a history channel from a position, whether every push after it was
   * replayed; null when there was nothing to resume.
   */
  subscribed: {
    channel: string;
    uuid: string;
    recovered: boolean | null;
    position: StreamPosition | undefined;
  };
  /** The connection dropped; the subscription waits for the next one. */
  subscribing: { channel: string };
  /** The subscription ended for good; `error` is the refusal for reason `refused`. */
  unsubscribed: { channel: string; reason: UnsubscribedReason; error?: unknown };
  /** As the client's `notRecovered`, for this channel. */
  notRecovered: PushClientEvents["notRecovered"];
  /** Presence channels: another connection joined (none above `PRESENCE_EVENTS_MAX` members). */
  joined: { channel: string; uuid: string; info: Record<string, unknown> };
  /** Presence channels: another connection left (unsubscribe, revoke, disconnect, dead node). */
  left: { channel: string; uuid: string; info: Record<string, unknown> };
}

/**
 * One channel this client wants (as centrifuge-js's `Subscription`): created by the first
 * `subscribe()` of the channel, kept across reconnects with its position, ended when its last
 * handler goes, the server drops the channel, or the client closes.
 */
export declare class Subscription {
  private constructor();
  /** The channel's name. */
  readonly channel: string;
  /** `subscribing`, `subscribed` or `unsubscribed`. */
  readonly state: SubscriptionState;
  /**
   * Where the channel's stream stands: the offset of the last push received (or where the
   * subscription started) and the epoch; undefined for a channel without history, and once
   * the subscription ended (except by `close()`, after which the last position stays).
   */
  readonly position: StreamPosition | undefined;
  /** Adds an event listener; returns a function that removes it. */
  on<K extends keyof SubscriptionEvents>(
    name: K,
    listener: (event: SubscriptionEvents[K]) => void,
  ): () => void;
  /** Removes an event listener. */
  off<K extends keyof SubscriptionEvents>(
    name: K,
    listener: (event: SubscriptionEvents[K]) => void,
  ): void;
  /** Removes every handler and unsubscribes (as `client.unsubscribe(channel)`). */
  unsubscribe(): Promise<void>;
}

/** What a transport is given to open one connection. */
export interface TransportOpenOptions {
  /** Ask for compact frames (WebSocket: the `pushserver.compact` subprotocol). */
  readonly compact: boolean;
  /** Reject (a {@link PushError} with code 0) when no `Connected` came within this many ms. */
  readonly timeoutMs: number;
  /** Aborted when the client closes meanwhile: give up, reject once nothing is left open. */
  readonly signal: AbortSignal;
  /** Each server frame after `Connected`, in order: a JSON object, or null for anything else. */
  onFrame(frame: Record<string, unknown> | null): void;
  /** The connection ended by itself (never after `close()`). */
  onClose(code: number, reason: string): void;
}

/** One open connection of a transport. */
export interface TransportConnection {
  /** The UUID of the server's `Connected` frame. */
  readonly uuid: string;
  /** Whether the server speaks compact frames on this connection. */
  readonly compact: boolean;
  /** Sends one client frame (a `CLIENT_ACTION` object); answers come through `onFrame`. */
  send(frame: Record<string, unknown>): void;
  /** Closes the connection; resolves once it is closed. */
  close(code?: number, reason?: string): Promise<void>;
}

/**
 * A way to reach the server (WebSocket built in; SSE beside it). Everything above it —
 * requests, pacing, subscriptions, recovery — is the same whatever the transport.
 */
export interface PushTransport {
  /** The name `client.transport` reports, e.g. `websocket`. */
  readonly name: string;
  /**
   * Opens a connection to `url` and resolves once the server said `Connected`; rejects with a
   * {@link PushError} (code 0) when it cannot.
   */
  open(url: string, options: TransportOpenOptions): Promise<TransportConnection>;
}

/**
 * The Server-Sent Events transport (`GET /sse` + `POST /sse/command` on the subscriber port),
 * with `fetch` or the global one: for networks that block WebSocket.
 */
export declare function sseTransport(fetch?: typeof globalThis.fetch): PushTransport;

/**
 * The WebSocket transport, with `WebSocket` (e.g. from `ws`) or the global one; offers compact
 * frames when asked and falls back to v1 frames when the server does not accept them.
 */
export declare function webSocketTransport(
  WebSocket?: { new (url: string, protocols?: string | string[]): WebSocket },
): PushTransport;
