// @ts-check
// @ts-self-types="./pushserver.d.ts"
/**
 * pushserver subscriber client: one WebSocket, promise-based subscribe, auto-reconnect, and
 * (v1.1) recovery of missed pushes on history channels, grants for private channels and compact
 * frames when the server accepts them.
 *
 * Plain JavaScript with JSDoc types (checked by `deno check`) so the server can serve this exact
 * file to browsers at `GET /js/pushserver.js`; Deno imports it unchanged. Types for importers
 * live in `pushserver.d.ts`.
 */

/** Code of a {@link PushError} that never reached the server (closed client, lost connection). */
export const LOCAL_ERROR_CODE = 0;

/** The reconnect and timeout settings used when an option is not given. */
export const DEFAULT_OPTIONS = Object.freeze({
  reconnect: true,
  minDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.5,
  connectTimeoutMs: 10_000,
  frameRate: 90,
  frameBurst: 150,
  compact: true,
});

/** The WebSocket subprotocol that asks the server for compact frames (PROTOCOL.md). */
export const COMPACT_PROTOCOL = "pushserver.compact";

/** An `ERROR` envelope from the server, or a local failure with code 0. */
export class PushError extends Error {
  /**
   * @param {number} code protocol status code (0 when no server answered)
   * @param {string} message the envelope's short message, e.g. `Not found`
   * @param {string | null} errorDetails the envelope's one-sentence detail
   */
  constructor(code, message, errorDetails) {
    super(message);
    this.name = "PushError";
    /** @type {number} */
    this.code = code;
    /** @type {string | null} */
    this.errorDetails = errorDetails;
  }
}

/** Requests sent and not yet answered, at most (a bound on what one refusal wave can cost). */
const MAX_UNANSWERED = 50;
/** Times one request is sent again after the server's frame rate limit refused it. */
const MAX_RATE_RETRIES = 8;
/** First pause after a frame-rate 429; it doubles while refusals continue, up to the maximum. */
const RATE_PAUSE_MS = 1000;
const MAX_RATE_PAUSE_MS = 16_000;
/** The server's frame-rate refusal (PROTOCOL.md, Limits); other 429s are not retried. */
const FRAME_RATE_DETAILS = /^Too many frames; the limit is (\d+) per second \(burst (\d+)\)/;

/**
 * Delay before reconnect attempt number `attempt` (0-based): exponential growth from
 * `minDelayMs` capped at `maxDelayMs`, minus up to `jitter` of it at random so that many
 * clients dropped at once do not reconnect in lockstep.
 *
 * @param {number} attempt
 * @param {{ minDelayMs?: number, maxDelayMs?: number, factor?: number, jitter?: number }} [options]
 * @param {() => number} [random] a source in [0, 1)
 * @returns {number}
 */
export function backoffDelay(attempt, options = {}, random = Math.random) {
  const min = options.minDelayMs ?? DEFAULT_OPTIONS.minDelayMs;
  const max = options.maxDelayMs ?? DEFAULT_OPTIONS.maxDelayMs;
  const factor = options.factor ?? DEFAULT_OPTIONS.factor;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? DEFAULT_OPTIONS.jitter));
  const base = Math.min(max, min * Math.pow(factor, Math.max(0, attempt)));
  return Math.round(base * (1 - jitter * random()));
}

/**
 * @typedef {import("./pushserver.d.ts").PushMeta} PushMeta
 * @typedef {import("./pushserver.d.ts").StreamPosition} StreamPosition
 * @typedef {(message: unknown, meta: PushMeta) => void} PushHandler
 * @typedef {{ action: "SUBSCRIBE" | "UNSUBSCRIBE", channel: string, internal: boolean,
 *   seq: number, retries: number,
 *   resolve: (channels: string[]) => void, reject: (error: Error) => void,
 *   first?: boolean, since?: StreamPosition | null }} Pending
 * @typedef {{ handler: PushHandler }} Entry
 * @typedef {"connecting" | "open" | "reconnecting" | "closed"} ClientState
 * @typedef {{ channel?: unknown, epoch?: unknown, offset?: unknown, recovered?: unknown }} Recovery
 * @typedef {{ messageType?: unknown, message?: unknown, code?: unknown, data?: {
 *   uuid?: unknown, subscribedChannels?: unknown, errorDetails?: unknown, channel?: unknown,
 *   recovery?: Recovery,
 *   pushMessage?: { channel?: unknown, message?: unknown, offset?: unknown,
 *   epoch?: unknown } } }} Frame
 * @typedef {{ new (url: string, protocols?: string | string[]): WebSocket }} WebSocketConstructor
 */

/**
 * A subscriber connection. Create it with {@link PushClient.connect}.
 */
export class PushClient {
  /** @type {string} */
  #url;
  /**
   * @type {Required<Omit<import("./pushserver.d.ts").PushClientOptions,
   *   "WebSocket" | "authorize">>}
   */
  #options;
  /** @type {WebSocketConstructor} */
  #WebSocket;
  /** @type {WebSocket | null} */
  #socket = null;
  /** @type {ClientState} */
  #state = "connecting";
  #uuid = "";
  /** Whether the current connection speaks compact frames. */
  #compact = false;
  /**
   * The server's view of this connection's subscriptions: taken from each v1 frame, or kept
   * from the compact acks (Subscribed adds; Unsubscribed, Channel Deleted and Subscription
   * Revoked remove).
   */
  /** @type {string[]} */
  #serverChannels = [];
  /** @type {Map<string, Set<Entry>>} */
  #channels = new Map();
  /** Requests sent on the current socket, answered in order. */
  /** @type {Pending[]} */
  #inflight = [];
  /** Requests for the current socket waiting for a send token, in `seq` order. */
  /** @type {Pending[]} */
  #sendQueue = [];
  /** Requests waiting for a connection. */
  /** @type {Pending[]} */
  #outbox = [];
  #seq = 0;
  /**
   * Outbound frame pacing (a token bucket kept below the server's `WS_FRAME_RATE` and
   * `WS_FRAME_BURST`). Lowered when the server says its limits are lower; kept across reconnects.
   */
  #rate = 0;
  #burst = 0;
  #tokens = 0;
  #refilledAt = 0;
  /** No frame is sent before this time (after a frame-rate 429). */
  #pausedUntil = 0;
  #ratePauseMs = RATE_PAUSE_MS;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #pumpTimer;
  /** @type {Map<string, Set<(event: never) => void>>} */
  #listeners = new Map();
  #attempt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #retryTimer;
  /** @type {Promise<void> | null} */
  #closing = null;
  /** The app's grant callback for private channels (`options.authorize`). */
  /** @type {((uuid: string, channel: string) => unknown) | null} */
  #authorize = null;
  /** Per history channel: the last offset received (or the start) and the channel's epoch. */
  /** @type {Map<string, StreamPosition>} */
  #positions = new Map();
  /** Channel → UUID of the connection its first SUBSCRIBE (the one that carries `since`) went to. */
  /** @type {Map<string, string>} */
  #firstSent = new Map();
  /** Channel → whether its last resubscribe with `since` recovered, and on which connection. */
  /** @type {Map<string, { uuid: string, recovered: boolean }>} */
  #recovered = new Map();
  /** Private channels this client got a grant for: granted again after every reconnect. */
  /** @type {Set<string>} */
  #granted = new Set();

  /**
   * Use {@link PushClient.connect}; the constructor does not open a connection.
   * @param {string} url
   * @param {import("./pushserver.d.ts").PushClientOptions} options
   */
  constructor(url, options) {
    this.#url = String(url);
    const { WebSocket: ctor, authorize, ...rest } = options;
    if (authorize !== undefined && typeof authorize !== "function") {
      throw new TypeError("options.authorize must be a function (uuid, channel) => Promise");
    }
    this.#authorize = authorize ?? null;
    /** @type {Record<string, unknown>} */
    const defined = {};
    for (const [key, value] of Object.entries(rest)) if (value !== undefined) defined[key] = value;
    this.#options = { ...DEFAULT_OPTIONS, ...defined };
    this.#rate = Math.max(0.1, this.#options.frameRate);
    this.#burst = Math.max(1, Math.floor(this.#options.frameBurst));
    const fallback = /** @type {WebSocketConstructor | undefined} */ (globalThis.WebSocket);
    if (!ctor && !fallback) {
      throw new TypeError("No WebSocket implementation: pass options.WebSocket (e.g. from 'ws')");
    }
    this.#WebSocket = ctor ?? /** @type {WebSocketConstructor} */ (fallback);
  }

  /**
   * Opens a connection and resolves once the server has assigned a UUID (`client.uuid`).
   * Rejects with a {@link PushError} (code 0) if the first connection fails or sends no
   * `Connected` within `connectTimeoutMs`; later drops are handled by reconnecting.
   *
   * @param {string | URL} url the WebSocket URL, e.g. `ws://localhost:5222`
   * @param {import("./pushserver.d.ts").PushClientOptions} [options]
   * @returns {Promise<PushClient>}
   */
  static async connect(url, options = {}) {
    const client = new PushClient(String(url), options);
    try {
      await client.#open();
    } catch (error) {
      client.#state = "closed";
      throw error;
    }
    client.#state = "open";
    client.#emit("connected", { uuid: client.#uuid });
    return client;
  }

  /** The UUID the server gave the current connection (it changes after a reconnect). */
  get uuid() {
    return this.#uuid;
  }

  /** `connecting`, `open`, `reconnecting` or `closed`. */
  get state() {
    return this.#state;
  }

  /** Whether the current connection uses compact frames (the server accepted the subprotocol). */
  get compact() {
    return this.#compact;
  }

  /** Channels this client wants, in subscription order (resubscribed after every reconnect). */
  get channels() {
    return [...this.#channels.keys()];
  }

  /**
   * Subscribes to `channel` and calls `handler(message, meta)` for each push on it. Resolves
   * on the server's ack with a function that removes this handler (and unsubscribes when it
   * was the channel's last one). Rejects with the server's error, e.g. 404 for a missing
   * channel, 403 for a private channel this connection has no grant for (after asking
   * `options.authorize` for one, when given). While reconnecting, the request waits for the
   * next connection. `options.since` resumes a history channel from a stored position (it is
   * used when the channel is not subscribed yet; a `notRecovered` event says when it could not).
   *
   * @param {string} channel
   * @param {PushHandler} handler
   * @param {import("./pushserver.d.ts").SubscribeOptions} [options]
   * @returns {Promise<() => Promise<void>>}
   */
  async subscribe(channel, handler, options = {}) {
    if (typeof channel !== "string") throw new TypeError("channel must be a string");
    if (typeof handler !== "function") throw new TypeError("handler must be a function");
    const since = checkSince(options?.since);
    /** @type {Entry} */
    const entry = { handler };
    let entries = this.#channels.get(channel);
    if (!entries) {
      entries = new Set();
      this.#channels.set(channel, entries);
      this.#forget(channel); // anything left from an earlier subscription is stale
      if (since) this.#positions.set(channel, since);
    }
    entries.add(entry);
    try {
      await this.#request("SUBSCRIBE", channel, false).catch((error) =>
        this.#authorizeAndRetry(channel, error)
      );
    } catch (error) {
      if (this.#removeEntry(channel, entry)) this.#forget(channel);
      throw error;
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      if (this.#removeEntry(channel, entry) && this.#state !== "closed") {
        this.#forget(channel);
        await this.#request("UNSUBSCRIBE", channel, false);
      }
    };
  }

  /**
   * Removes every handler of `channel` and unsubscribes; resolves on the server's ack.
   * @param {string} channel
   * @returns {Promise<void>}
   */
  async unsubscribe(channel) {
    this.#channels.delete(channel);
    this.#forget(channel);
    await this.#request("UNSUBSCRIBE", channel, false);
  }

  /**
   * Where `channel`'s stream stands for this client: the offset of the last push received (or
   * where the subscription started) and the channel's epoch; `undefined` for a channel without
   * history or not subscribed. Store it to resume later with `subscribe(…, { since })`.
   *
   * @param {string} channel
   * @returns {StreamPosition | undefined}
   */
  position(channel) {
    const position = this.#positions.get(channel);
    return position ? { ...position } : undefined;
  }

  /**
   * Listens for `connected`, `disconnected`, `reconnected`, `channelDeleted`,
   * `subscriptionRevoked`, `notRecovered` or `error`.
   * Returns a function that removes the listener.
   *
   * @param {string} name
   * @param {(event: never) => void} listener
   * @returns {() => void}
   */
  on(name, listener) {
    let set = this.#listeners.get(name);
    if (!set) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    set.add(listener);
    return () => this.off(name, listener);
  }

  /**
   * Removes a listener added with {@link PushClient.on}.
   * @param {string} name
   * @param {(event: never) => void} listener
   */
  off(name, listener) {
    this.#listeners.get(name)?.delete(listener);
  }

  /**
   * Closes the connection for good: no reconnect, pending requests reject with code 0.
   * Resolves once the socket has closed.
   * @returns {Promise<void>}
   */
  close() {
    if (this.#closing) return this.#closing;
    this.#state = "closed";
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    this.#failAll(this.#inflight.splice(0), "The client was closed");
    this.#failAll(this.#sendQueue.splice(0), "The client was closed");
    this.#failAll(this.#outbox.splice(0), "The client was closed");
    const socket = this.#socket;
    this.#socket = null;
    this.#closing = new Promise((resolve) => {
      if (!socket || socket.readyState === 3) return resolve();
      socket.addEventListener("close", () => resolve());
      socket.close(1000, "client closed");
    });
    return this.#closing;
  }

  /**
   * Opens a connection within `connectTimeoutMs`, offering compact frames. A server that does
   * not accept the subprotocol answers without one, and browsers, `ws` and Node's WebSocket then
   * fail the handshake ("Sent non-empty 'Sec-WebSocket-Protocol' header but no response was
   * received", "Server sent no subprotocol"): so a failed offer is followed at once by an
   * attempt without it, in the same time budget. Every reconnect offers again, so a server
   * upgraded meanwhile gets compact frames.
   * @returns {Promise<void>}
   */
  async #open() {
    const deadline = Date.now() + this.#options.connectTimeoutMs;
    if (!this.#options.compact) return await this.#openOnce(false, deadline);
    try {
      await this.#openOnce(true, deadline);
    } catch (error) {
      if (!(error instanceof HandshakeFailed) || this.#state === "closed") throw error;
      await this.#openOnce(false, deadline);
    }
  }

  /**
   * Opens a socket and resolves on the server's `Connected` ack. Rejects on an `error` event,
   * a close, or at `deadline`, whichever comes first: Node 20's built-in WebSocket fires only
   * `error` (never `close`) for a refused connection, and `ws` throws an unhandled `error`
   * event (ending the process) when nobody listens for it.
   * @param {boolean} offerCompact
   * @param {number} deadline ms since the epoch
   * @returns {Promise<void>}
   */
  #openOnce(offerCompact, deadline) {
    return new Promise((resolve, reject) => {
      /** @type {WebSocket} */
      let socket;
      try {
        socket = offerCompact
          ? new this.#WebSocket(this.#url, [COMPACT_PROTOCOL])
          : new this.#WebSocket(this.#url);
      } catch (error) {
        const detail = error instanceof Error ? error.message : String(error);
        reject(new PushError(LOCAL_ERROR_CODE, "Connection failed", detail));
        return;
      }
      this.#socket = socket;
      let welcomed = false;
      let failed = false;
      /**
       * @param {string} detail
       * @param {boolean} [handshake] the socket failed or closed (rather than timing out)
       */
      const fail = (detail, handshake = false) => {
        if (welcomed || failed) return;
        failed = true;
        clearTimeout(timer);
        if (socket === this.#socket) this.#socket = null;
        try {
          socket.close();
        } catch {
          // Some implementations throw when closing a socket that never opened.
        }
        const ErrorType = handshake ? HandshakeFailed : PushError;
        reject(new ErrorType(LOCAL_ERROR_CODE, "Connection failed", detail));
      };
      const timer = setTimeout(
        () => fail(`No answer from ${this.#url} within ${this.#options.connectTimeoutMs} ms`),
        Math.max(0, deadline - Date.now()),
      );
      // Arrow functions keep `this` bound to the client (the original script lost it).
      socket.onerror = () => fail(`Could not connect to ${this.#url}`, true);
      socket.onmessage = (event) => {
        if (socket !== this.#socket || failed) return;
        const frame = parseFrame(event.data);
        if (welcomed) return this.#onFrame(frame);
        if (frame?.messageType === "CLIENT_ACK" && typeof frame.data?.uuid === "string") {
          welcomed = true;
          clearTimeout(timer);
          this.#uuid = frame.data.uuid;
          this.#compact = socket.protocol === COMPACT_PROTOCOL;
          this.#serverChannels = [];
          resolve();
        } else {
          fail(`${this.#url} did not start with a Connected ack`);
        }
      };
      socket.onclose = (event) => {
        if (!welcomed) {
          return fail(`Could not connect to ${this.#url} (close code ${event.code})`, true);
        }
        if (socket !== this.#socket) return;
        this.#socket = null;
        this.#onLost(event.code, event.reason);
      };
    });
  }

  /** @param {Frame | null} frame */
  #onFrame(frame) {
    if (this.#onDropped(frame)) return;
    const data = frame?.data;
    if (Array.isArray(data?.subscribedChannels)) {
      this.#serverChannels = data.subscribedChannels.map(String);
    }
    switch (frame?.messageType) {
      case "CLIENT_PUSH": {
        const push = data?.pushMessage;
        if (typeof push?.channel !== "string" || typeof push.message !== "string") break;
        const entries = this.#channels.get(push.channel);
        if (!entries) return;
        /** @type {PushMeta} */
        const meta = {
          channel: push.channel,
          uuid: this.#uuid,
          subscribedChannels: [...this.#serverChannels],
        };
        this.#advance(push, meta);
        for (const entry of [...entries]) {
          try {
            entry.handler(push.message, meta);
          } catch (error) {
            this.#reportError(error, push.channel);
          }
        }
        return;
      }
      case "CLIENT_ACK": {
        // A compact ack names only the channel concerned (a v1 ack's list was taken above).
        if (!Array.isArray(data?.subscribedChannels) && typeof data?.channel === "string") {
          this.#applyCompactAck(String(frame.message), data.channel);
        }
        const pending = this.#inflight.shift();
        if (pending) this.#onAcked(pending, data?.recovery);
        this.#ratePauseMs = RATE_PAUSE_MS;
        if (pending) pending.resolve([...this.#serverChannels]);
        this.#pump();
        return;
      }
      case "ERROR": {
        const error = new PushError(
          Number(frame.code) || 0,
          String(frame.message ?? "Error"),
          typeof data?.errorDetails === "string" ? data.errorDetails : null,
        );
        const pending = this.#inflight.shift();
        if (pending?.first) this.#firstSent.delete(pending.channel);
        if (pending && !this.#retryIfRateLimited(pending, error)) pending.reject(error);
        else if (!pending) this.#reportError(error, null);
        this.#pump();
        return;
      }
    }
    this.#reportError(
      new PushError(LOCAL_ERROR_CODE, "Unexpected frame", "The server sent an unknown frame"),
      null,
    );
  }

  /**
   * Keeps the subscription list from a compact `Subscribed` or `Unsubscribed` ack.
   * @param {string} message
   * @param {string} channel
   */
  #applyCompactAck(message, channel) {
    if (message === "Subscribed" && !this.#serverChannels.includes(channel)) {
      this.#serverChannels = [...this.#serverChannels, channel];
    } else if (message === "Unsubscribed") {
      this.#serverChannels = this.#serverChannels.filter((c) => c !== channel);
    }
  }

  /**
   * The server refused `request` because this connection sent frames too fast: slow down (to
   * the limits the server states, when it states them), pause, and send it again if it still
   * matches what the client wants. Returns false when the caller should reject it instead.
   * @param {Pending} request
   * @param {PushError} error
   * @returns {boolean}
   */
  #retryIfRateLimited(request, error) {
    if (error.code !== 429) return false;
    const limits = FRAME_RATE_DETAILS.exec(error.errorDetails ?? "");
    if (!limits) return false;
    const now = Date.now();
    if (now >= this.#pausedUntil) {
      // One refusal wave (every frame already sent may be refused too) lowers the pace once.
      const serverRate = Number(limits[1]);
      const serverBurst = Number(limits[2]);
      const target = serverRate * 0.9;
      // Above the stated rate: drop below it. Already below it and still refused: halve.
      this.#rate = Math.max(0.1, this.#rate > target ? target : this.#rate / 2);
      this.#burst = Math.max(1, Math.min(this.#burst, Math.floor(serverBurst / 2)));
      this.#pausedUntil = now + this.#ratePauseMs;
      this.#ratePauseMs = Math.min(MAX_RATE_PAUSE_MS, this.#ratePauseMs * 2);
    }
    this.#tokens = 0;
    this.#refilledAt = this.#pausedUntil;
    const wanted = request.action === "SUBSCRIBE"
      ? this.#channels.has(request.channel)
      : !this.#channels.has(request.channel);
    if (!wanted || request.retries >= MAX_RATE_RETRIES) return false;
    request.retries++;
    let index = this.#sendQueue.findIndex((queued) => queued.seq > request.seq);
    if (index < 0) index = this.#sendQueue.length;
    this.#sendQueue.splice(index, 0, request);
    return true;
  }

  /**
   * Handles the acks the server sends unasked, `Channel Deleted` and `Subscription Revoked`
   * (v1 frames name the channel by leaving it out of `subscribedChannels`, compact frames by
   * `data.channel`): the channel's handlers are removed and the app is told. True when `frame`
   * was one of them.
   * @param {Frame | null} frame
   * @returns {boolean}
   */
  #onDropped(frame) {
    if (frame?.messageType !== "CLIENT_ACK") return false;
    const event = frame.message === "Channel Deleted"
      ? "channelDeleted"
      : frame.message === "Subscription Revoked"
      ? "subscriptionRevoked"
      : null;
    if (event === null) return false;
    const data = frame.data;
    const previous = this.#serverChannels;
    /** @type {string[]} */
    let dropped = [];
    if (Array.isArray(data?.subscribedChannels)) {
      this.#serverChannels = data.subscribedChannels.map(String);
      dropped = previous.filter((channel) => !this.#serverChannels.includes(channel));
    }
    if (typeof data?.channel === "string") {
      dropped = [data.channel];
      this.#serverChannels = previous.filter((channel) => channel !== data.channel);
    }
    for (const channel of dropped) {
      if (!this.#channels.has(channel)) continue;
      this.#channels.delete(channel);
      this.#forget(channel);
      this.#emit(event, { channel });
    }
    return true;
  }

  /**
   * A SUBSCRIBE was answered: record where the channel's stream starts for this client. With
   * `recovered: true` the missed pushes follow and advance the position one by one.
   * @param {Pending} request
   * @param {Recovery | undefined} recovery
   */
  #onAcked(request, recovery) {
    if (request.action !== "SUBSCRIBE" || !request.first) return;
    const { channel, since } = request;
    if (typeof recovery?.epoch !== "string" || typeof recovery.offset !== "number") {
      this.#positions.delete(channel); // a channel without history
      return;
    }
    const recovered = recovery.recovered === true;
    if (since) this.#recovered.set(channel, { uuid: this.#uuid, recovered });
    if (recovered) return;
    const position = { offset: recovery.offset, epoch: recovery.epoch };
    this.#positions.set(channel, position);
    if (since) {
      this.#emit("notRecovered", {
        channel,
        since: { ...since },
        position: { ...position },
        epochChanged: since.epoch !== position.epoch,
      });
    }
  }

  /**
   * A push with a stream position: pass it to the handlers and remember it.
   * @param {{ offset?: unknown, epoch?: unknown }} push
   * @param {PushMeta} meta
   */
  #advance(push, meta) {
    const { offset, epoch } = push;
    if (typeof offset !== "number" || typeof epoch !== "string") return;
    meta.offset = offset;
    meta.epoch = epoch;
    const position = this.#positions.get(meta.channel);
    if (!position || position.epoch !== epoch || position.offset < offset) {
      this.#positions.set(meta.channel, { offset, epoch });
    }
  }

  /**
   * `subscribe()` was refused with 403 (a private channel): ask the app's `authorize` callback
   * for a grant for this connection, then try once more. Any other error is passed on.
   * @param {string} channel
   * @param {unknown} error
   * @returns {Promise<string[]>}
   */
  async #authorizeAndRetry(channel, error) {
    if (!(error instanceof PushError) || error.code !== 403 || !this.#authorize) throw error;
    if (!this.#channels.has(channel)) throw error;
    // Marked first, so that a reconnect meanwhile asks for a grant for the new UUID too.
    this.#granted.add(channel);
    try {
      await this.#authorize(this.#uuid, channel);
      return await this.#request("SUBSCRIBE", channel, false);
    } catch (refused) {
      this.#granted.delete(channel);
      throw refused;
    }
  }

  /**
   * After a reconnect: ask for new grants for the private channels (the UUID changed), before
   * they are subscribed again. A failure is reported; that resubscribe will then be refused.
   * @param {string} uuid the new connection's UUID
   * @returns {Promise<boolean>} false when the connection changed or closed meanwhile
   */
  async #regrant(uuid) {
    const authorize = this.#authorize;
    const channels = [...this.#granted].filter((channel) => this.#channels.has(channel));
    if (!authorize || channels.length === 0) return true;
    const settled = await Promise.allSettled(
      channels.map(async (channel) => await authorize(uuid, channel)),
    );
    settled.forEach((result, i) => {
      if (result.status === "rejected") this.#reportError(result.reason, channels[i] ?? null);
    });
    return this.#uuid === uuid && this.#state === "open";
  }

  /**
   * Which resubscribed history channels got every missed push back on connection `uuid`.
   * @param {string} uuid
   * @returns {Record<string, boolean>}
   */
  #recoveredOn(uuid) {
    /** @type {Record<string, boolean>} */
    const result = {};
    for (const [channel, entry] of this.#recovered) {
      if (entry.uuid === uuid && this.#channels.has(channel)) result[channel] = entry.recovered;
    }
    return result;
  }

  /**
   * Drops what the client kept for a channel it no longer wants.
   * @param {string} channel
   */
  #forget(channel) {
    this.#positions.delete(channel);
    this.#recovered.delete(channel);
    this.#granted.delete(channel);
    this.#firstSent.delete(channel);
  }

  /**
   * The `data` of a SUBSCRIBE or UNSUBSCRIBE frame. The first SUBSCRIBE of a channel on a
   * connection carries the channel's position as `since`, so a history channel resumes where
   * this client left off; later ones (more handlers) must not, as the server would answer them
   * `recovered: false`.
   * @param {Pending} request
   * @returns {{ channel: string, since?: StreamPosition }}
   */
  #frameData(request) {
    const { channel } = request;
    if (request.action === "UNSUBSCRIBE") {
      this.#firstSent.delete(channel);
      return { channel };
    }
    request.first = false;
    request.since = null;
    if (this.#firstSent.get(channel) === this.#uuid) return { channel };
    this.#firstSent.set(channel, this.#uuid);
    request.first = true;
    request.since = this.#positions.get(channel) ?? null;
    return request.since ? { channel, since: { ...request.since } } : { channel };
  }

  /**
   * The established connection dropped: keep user requests for the next connection, then
   * reconnect (or close for good when reconnecting is off).
   * @param {number} code
   * @param {string} reason
   */
  #onLost(code, reason) {
    clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    const requests = [...this.#inflight.splice(0), ...this.#sendQueue.splice(0)];
    requests.sort((a, b) => a.seq - b.seq);
    this.#failAll(requests.filter((r) => r.internal), "The connection was lost");
    this.#outbox.unshift(...requests.filter((r) => !r.internal));
    if (this.#state === "closed") return;
    const willReconnect = this.#options.reconnect;
    const delayMs = willReconnect ? backoffDelay(this.#attempt, this.#options) : null;
    this.#emit("disconnected", { code, reason, willReconnect, delayMs });
    if (delayMs === null) {
      this.#state = "closed";
      this.#failAll(this.#outbox.splice(0), "The connection was lost");
      return;
    }
    this.#scheduleReconnect(delayMs);
  }

  /** @param {number} delayMs */
  #scheduleReconnect(delayMs) {
    this.#state = "reconnecting";
    this.#attempt++;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#reconnect();
    }, delayMs);
  }

  async #reconnect() {
    const previousUuid = this.#uuid;
    try {
      await this.#open();
    } catch {
      if (this.#state !== "closed") {
        this.#scheduleReconnect(backoffDelay(this.#attempt, this.#options));
      }
      return;
    }
    if (this.#state === "closed") return;
    this.#attempt = 0;
    this.#state = "open";
    this.#emit("connected", { uuid: this.#uuid });
    const uuid = this.#uuid;
    if (!(await this.#regrant(uuid))) return;
    // The new connection has no subscriptions: an unsubscribe made while disconnected is done
    // already, and a subscribe made meanwhile is answered by that channel's resubscribe.
    /** @type {Map<string, Pending[]>} */
    const waiting = new Map();
    for (const request of this.#outbox.splice(0)) {
      if (request.action === "UNSUBSCRIBE" || !this.#channels.has(request.channel)) {
        request.resolve([]);
        continue;
      }
      const list = waiting.get(request.channel) ?? [];
      list.push(request);
      waiting.set(request.channel, list);
    }
    // Every resubscribe is queued at once and paced by the send bucket, so a client with a
    // thousand channels stays under the server's frame rate instead of being closed with 1008.
    const channels = [...this.#channels.keys()];
    const settled = await Promise.allSettled(
      channels.map((channel) => this.#request("SUBSCRIBE", channel, true)),
    );
    // Read afresh: the awaits above let close() or a drop change the state.
    const state = /** @type {ClientState} */ (this.#state);
    if (this.#uuid !== uuid || state !== "open") {
      // Dropped again (or closed) meanwhile: the waiting subscribes go to the next connection.
      const requests = [...waiting.values()].flat().sort((a, b) => a.seq - b.seq);
      if (state === "closed") this.#failAll(requests, "The client was closed");
      else this.#outbox.unshift(...requests);
      return;
    }
    settled.forEach((result, i) => {
      const channel = /** @type {string} */ (channels[i]);
      const requests = waiting.get(channel) ?? [];
      if (result.status === "fulfilled") {
        for (const request of requests) request.resolve(result.value);
        return;
      }
      const error = result.reason;
      const code = error instanceof PushError ? error.code : 0;
      // Gone or invalid: forget it. Anything else stays wanted for the next reconnect.
      if (code === 404 || code === 400) this.#channels.delete(channel);
      for (const request of requests) request.reject(error);
      if (requests.length === 0) this.#reportError(error, channel);
    });
    this.#emit("reconnected", {
      uuid,
      previousUuid,
      channels: [...this.#serverChannels],
      recovered: this.#recoveredOn(uuid),
    });
  }

  /**
   * @param {"SUBSCRIBE" | "UNSUBSCRIBE"} action
   * @param {string} channel
   * @param {boolean} internal
   * @returns {Promise<string[]>}
   */
  #request(action, channel, internal) {
    if (this.#state === "closed") {
      return Promise.reject(
        new PushError(LOCAL_ERROR_CODE, "Client closed", "The client was closed"),
      );
    }
    return new Promise((resolve, reject) => {
      /** @type {Pending} */
      const request = {
        action,
        channel,
        internal,
        seq: this.#seq++,
        retries: 0,
        resolve,
        reject,
      };
      if (this.#state === "open") {
        this.#sendQueue.push(request);
        this.#pump();
      } else this.#outbox.push(request);
    });
  }

  /**
   * Sends queued requests while the bucket has tokens and fewer than {@link MAX_UNANSWERED}
   * are unanswered; otherwise waits for the next token (or an answer).
   */
  #pump() {
    const socket = this.#socket;
    if (!socket || this.#state !== "open" || this.#pumpTimer !== undefined) return;
    while (this.#sendQueue.length > 0 && this.#inflight.length < MAX_UNANSWERED) {
      const now = Date.now();
      if (now > this.#refilledAt) {
        this.#tokens = Math.min(
          this.#burst,
          this.#tokens + ((now - this.#refilledAt) * this.#rate) / 1000,
        );
        this.#refilledAt = now;
      }
      if (this.#tokens < 1) {
        const waitMs = Math.max(
          this.#pausedUntil - now,
          Math.ceil(((1 - this.#tokens) * 1000) / this.#rate),
          1,
        );
        this.#pumpTimer = setTimeout(() => {
          this.#pumpTimer = undefined;
          this.#pump();
        }, waitMs);
        return;
      }
      this.#tokens -= 1;
      const request = /** @type {Pending} */ (this.#sendQueue.shift());
      this.#inflight.push(request);
      socket.send(JSON.stringify({
        messageType: "CLIENT_ACTION",
        action: request.action,
        data: this.#frameData(request),
      }));
    }
  }

  /**
   * Removes a handler; true when it was the channel's last one.
   * @param {string} channel
   * @param {Entry} entry
   */
  #removeEntry(channel, entry) {
    const entries = this.#channels.get(channel);
    if (!entries || !entries.delete(entry)) return false;
    if (entries.size > 0) return false;
    this.#channels.delete(channel);
    return true;
  }

  /**
   * @param {Pending[]} requests
   * @param {string} details
   */
  #failAll(requests, details) {
    for (const request of requests) {
      request.reject(new PushError(LOCAL_ERROR_CODE, "Not connected", details));
    }
  }

  /**
   * @param {unknown} error
   * @param {string | null} channel
   */
  #reportError(error, channel) {
    if (this.#listeners.get("error")?.size) {
      this.#emit("error", { error, channel });
    } else {
      // deno-lint-ignore no-console -- a library's last resort: never swallow an error silently
      console.error("pushserver client:", error);
    }
  }

  /**
   * @param {string} name
   * @param {unknown} event
   */
  #emit(name, event) {
    for (const listener of [...(this.#listeners.get(name) ?? [])]) {
      try {
        /** @type {(event: unknown) => void} */ (listener)(event);
      } catch (error) {
        if (name === "error") {
          // deno-lint-ignore no-console -- an error listener threw; nowhere else to report it
          console.error("pushserver client:", error);
        } else {
          this.#reportError(error, null);
        }
      }
    }
  }
}

if (typeof Symbol.asyncDispose === "symbol") {
  Object.defineProperty(PushClient.prototype, Symbol.asyncDispose, {
    /** @this {PushClient} */
    value() {
      return this.close();
    },
  });
}

/** A connection attempt that failed or closed before `Connected` (not a timeout). */
class HandshakeFailed extends PushError {}

/**
 * @param {unknown} data
 * @returns {Frame | null}
 */
function parseFrame(data) {
  if (typeof data !== "string") return null;
  try {
    const frame = JSON.parse(data);
    return typeof frame === "object" && frame !== null ? frame : null;
  } catch {
    return null;
  }
}

/**
 * Validates a `since` option: `{ offset, epoch }` as a server or `position()` gave it, or none.
 * @param {unknown} since
 * @returns {StreamPosition | null}
 */
function checkSince(since) {
  if (since === undefined || since === null) return null;
  const { offset, epoch } = /** @type {{ offset?: unknown, epoch?: unknown }} */ (since);
  if (
    typeof since !== "object" || !Number.isSafeInteger(offset) || /** @type {number} */
    (offset) < 0 ||
    typeof epoch !== "string" || epoch === ""
  ) {
    throw new TypeError("options.since must be { offset: integer >= 0, epoch: non-empty string }");
  }
  return { offset: /** @type {number} */ (offset), epoch };
}
