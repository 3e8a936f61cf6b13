// @ts-check
/**
 * The client's frame queue: SUBSCRIBE and UNSUBSCRIBE requests on their way to the server. Held
 * while there is no connection, paced by a token bucket kept below the server's `WS_FRAME_RATE`
 * and `WS_FRAME_BURST`, at most {@link MAX_UNANSWERED} unanswered, answered in the order sent
 * (the server answers one connection's frames in order), and sent again after a frame-rate 429.
 * Part of the subscriber client served under `/js/`.
 */
import { localError } from "./_errors.js";

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
 * @typedef {import("./pushserver.d.ts").PushError} PushError
 * @typedef {import("./pushserver.d.ts").StreamPosition} StreamPosition
 * @typedef {import("./_subscription.js").Subscription} Subscription
 * @typedef {{ action: "SUBSCRIBE" | "UNSUBSCRIBE" | "PRESENCE", channel: string,
 *   internal: boolean, subscription: Subscription | null, seq: number, retries: number,
 *   resolve: (answer: unknown) => void, reject: (error: Error) => void,
 *   first: boolean, since: StreamPosition | null }} Request
 */

/** Requests of one client, across its connections. */
export class RequestQueue {
  /** Sent on the current connection, answered in order. */
  /** @type {Request[]} */
  #inflight = [];
  /** For the current connection, waiting for a send token, in `seq` order. */
  /** @type {Request[]} */
  #sendQueue = [];
  /** Waiting for a connection. */
  /** @type {Request[]} */
  #held = [];
  #seq = 0;
  /** Sends one request on the current connection; null while there is none. */
  /** @type {((request: Request) => void) | null} */
  #send = null;
  /** Pacing: lowered when the server says its limits are lower; kept across reconnects. */
  #rate = 0;
  #burst = 0;
  #tokens = 0;
  #refilledAt = 0;
  /** No frame is sent before this time (after a frame-rate 429). */
  #pausedUntil = 0;
  #ratePauseMs = RATE_PAUSE_MS;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #pumpTimer;

  /** @param {{ frameRate: number, frameBurst: number }} pace */
  constructor(pace) {
    this.#rate = Math.max(0.1, pace.frameRate);
    this.#burst = Math.max(1, Math.floor(pace.frameBurst));
  }

  /**
   * Queues a request; resolves with the server's subscription list from its ack (PRESENCE:
   * the ack's data), rejects with its error. Sent at once (paced) while connected, else held
   * for the next connection.
   * @param {"SUBSCRIBE" | "UNSUBSCRIBE" | "PRESENCE"} action
   * @param {string} channel
   * @param {{ internal: boolean, subscription?: Subscription | null }} options `internal`:
   *   the client's own resubscribe, failed rather than held when the connection drops
   * @returns {Promise<unknown>}
   */
  add(action, channel, options) {
    return new Promise((resolve, reject) => {
      /** @type {Request} */
      const request = {
        action,
        channel,
        internal: options.internal,
        subscription: options.subscription ?? null,
        seq: this.#seq++,
        retries: 0,
        resolve,
        reject,
        first: false,
        since: null,
      };
      if (this.#send) {
        this.#sendQueue.push(request);
        this.#pump();
      } else this.#held.push(request);
    });
  }

  /**
   * A connection is up: requests added from now on go out through `send`.
   * @param {(request: Request) => void} send
   */
  attach(send) {
    this.#send = send;
  }

  /**
   * The connection is gone: its internal requests fail, the others are held for the next one.
   */
  detach() {
    this.#send = null;
    clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    const requests = [...this.#inflight.splice(0), ...this.#sendQueue.splice(0)];
    requests.sort((a, b) => a.seq - b.seq);
    failAll(requests.filter((r) => r.internal), "The connection was lost");
    this.hold(requests.filter((r) => !r.internal));
  }

  /** Takes the requests that waited for a connection, oldest first. */
  takeHeld() {
    return this.#held.splice(0);
  }

  /**
   * Puts requests back to wait for the next connection, ahead of any held since.
   * @param {Request[]} requests
   */
  hold(requests) {
    this.#held.unshift(...[...requests].sort((a, b) => a.seq - b.seq));
  }

  /**
   * The server acked the oldest request sent: returns it (undefined if none was waiting).
   * @returns {Request | undefined}
   */
  acked() {
    this.#ratePauseMs = RATE_PAUSE_MS;
    return this.#inflight.shift();
  }

  /**
   * The server refused the oldest request sent: returns it (undefined if none was waiting).
   * @returns {Request | undefined}
   */
  refused() {
    return this.#inflight.shift();
  }

  /** Sends what the bucket and the unanswered bound allow (call after an answer). */
  pump() {
    this.#pump();
  }

  /**
   * Fails every request, sent or not (the client was closed, or gave up reconnecting).
   * @param {string} details
   */
  failAll(details) {
    clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    this.#send = null;
    failAll(this.#inflight.splice(0), details);
    failAll(this.#sendQueue.splice(0), details);
    failAll(this.#held.splice(0), details);
  }

  /**
   * The server refused `request` because this connection sent frames too fast: slow down (to
   * the limits the server states, when it states them), pause, and queue it again when it still
   * matches what the client wants. Returns false when the caller should reject it instead.
   * @param {Request} request
   * @param {PushError} error
   * @param {boolean} wanted whether sending it again still makes sense
   * @returns {boolean}
   */
  retryIfRateLimited(request, error, wanted) {
    if (error.code !== 429) return false;
    const limits = FRAME_RATE_DETAILS.exec(error.errorDetails ?? "");
    if (!limits) return false;
    const now = Date.now();
    if (now >= this.#pausedUntil) {
      // One refusal wave (every frame already sent may be refused too) lowers the pace once.
      const target = Number(limits[1]) * 0.9;
      // Above the stated rate: drop below it. Already below it and still refused: halve.
      this.#rate = Math.max(0.1, this.#rate > target ? target : this.#rate / 2);
      this.#burst = Math.max(1, Math.min(this.#burst, Math.floor(Number(limits[2]) / 2)));
      this.#pausedUntil = now + this.#ratePauseMs;
      this.#ratePauseMs = Math.min(MAX_RATE_PAUSE_MS, this.#ratePauseMs * 2);
    }
    this.#tokens = 0;
    this.#refilledAt = this.#pausedUntil;
    if (!wanted || request.retries >= MAX_RATE_RETRIES) return false;
    request.retries++;
    let index = this.#sendQueue.findIndex((queued) => queued.seq > request.seq);
    if (index < 0) index = this.#sendQueue.length;
    this.#sendQueue.splice(index, 0, request);
    return true;
  }

  /**
   * Sends queued requests while the bucket has tokens and fewer than {@link MAX_UNANSWERED}
   * are unanswered; otherwise waits for the next token (or an answer).
   */
  #pump() {
    const send = this.#send;
    if (!send || this.#pumpTimer !== undefined) return;
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
      const request = /** @type {Request} */ (this.#sendQueue.shift());
      this.#inflight.push(request);
      send(request);
    }
  }
}

/**
 * @param {Request[]} requests
 * @param {string} details
 */
function failAll(requests, details) {
  for (const request of requests) request.reject(localError("Not connected", details));
}
