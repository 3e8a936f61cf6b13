// @ts-check
/**
 * {@link PushClient}: the subscriber client's public face and its connection manager's
 * partner. It keeps the channels the app wants as {@link Subscription}s, sends their requests
 * through the paced queue (`_requests.js`), hands each frame to the subscription it concerns,
 * and after a reconnect grants and subscribes every channel again. Part of the subscriber client
 * served under `/js/`; import `pushserver.js`, which re-exports it with its types.
 */
import { ConnectionManager } from "./_connection.js";
import { Emitter } from "./_emitter.js";
import { localError } from "./_errors.js";
import { FrameReader } from "./_frames.js";
import { Grants } from "./_grants.js";
import {
  checkAuthorize,
  checkGetToken,
  checkSince,
  DEFAULT_OPTIONS,
  settingsOf,
} from "./_options.js";
import { RequestQueue } from "./_requests.js";
import { renewToken, resubscribeAll } from "./_resubscribe.js";
import { Subscription } from "./_subscription.js";
import { checkTransports } from "./_transport.js";
import { SubscriberTokens } from "./_tokens.js";

/**
 * @typedef {import("./pushserver.d.ts").PushClientOptions} PushClientOptions
 * @typedef {import("./pushserver.d.ts").PushMeta} PushMeta
 * @typedef {import("./pushserver.d.ts").TransportConnection} TransportConnection
 * @typedef {import("./pushserver.d.ts").StreamPosition} StreamPosition
 * @typedef {import("./pushserver.d.ts").UnsubscribedReason} UnsubscribedReason
 * @typedef {import("./_requests.js").Request} Request
 * @typedef {(message: unknown, meta: PushMeta) => void} PushHandler
 */

/** A subscriber connection. Create it with {@link PushClient.connect}. */
export class PushClient {
  /** @type {ConnectionManager} */
  #connections;
  #uuid = "";
  /** Whether the current connection speaks compact frames. */
  #compact = false;
  /** Reads the current connection's frames; keeps the server's list of its subscriptions. */
  #frames = new FrameReader();
  /** The channels this client wants, in subscription order. */
  /** @type {Map<string, Subscription>} */
  #subscriptions = new Map();
  /** @type {RequestQueue} */
  #requests;
  /** @type {Emitter} */
  #events;
  /** Grants for private channels (`options.authorize`). */
  /** @type {Grants} */
  #grants;
  /** Subscriber tokens for private channels (`options.getToken`), renewed before they expire. */
  /** @type {SubscriberTokens} */
  #tokens;
  /** @type {import("./_subscription.js").SubscriptionOwner} */
  #owner = {
    unsubscribe: async (subscription) => {
      if (this.#subscriptions.get(subscription.channel) === subscription) {
        await this.unsubscribe(subscription.channel);
      }
    },
    reportError: (error, channel) => this.#reportError(error, channel),
  };
  /** What a resubscribe (after a reconnect, or to renew a token) reads and calls. */
  /** @type {import("./_resubscribe.js").ResubscribeHost} */
  #host;

  /**
   * Use {@link PushClient.connect}; the constructor does not open a connection.
   * @param {string} url
   * @param {PushClientOptions} options
   */
  constructor(url, options) {
    this.#grants = new Grants(checkAuthorize(options.authorize));
    this.#tokens = new SubscriberTokens(
      checkGetToken(options.getToken),
      (subscription) => renewToken(this.#host, subscription),
    );
    const settings = settingsOf(options);
    const transports = checkTransports(
      options.transports ?? DEFAULT_OPTIONS.transports,
      options.WebSocket,
    );
    this.#requests = new RequestQueue(settings);
    this.#events = new Emitter((error, name) => {
      if (name === "error") {
        // deno-lint-ignore no-console -- an error listener threw; nowhere else to report it
        console.error("pushserver client:", error);
      } else this.#reportError(error, null);
    });
    this.#connections = new ConnectionManager(String(url), {
      settings,
      transports,
      hooks: {
        onOpen: (connection, reconnected) => this.#onOpen(connection, reconnected),
        onFrame: (frame) => this.#onFrame(frame),
        onLost: (event) => this.#onLost(event),
      },
    });
    this.#host = {
      uuid: () => this.#uuid,
      state: () => this.state,
      subscriptions: this.#subscriptions,
      requests: this.#requests,
      grants: this.#grants,
      tokens: this.#tokens,
      events: this.#events,
      subscribedChannels: () => this.#frames.channels,
      subscribe: (s) => this.#request("SUBSCRIBE", s.channel, true, s),
      reportError: (error, channel) => this.#reportError(error, channel),
    };
  }

  /**
   * Opens a connection and resolves once the server has assigned a UUID (`client.uuid`); rejects
   * with a {@link PushError} (code 0) when no transport got a `Connected` in time.
   * @param {string | URL} url the WebSocket URL, e.g. `ws://localhost:5222`
   * @param {PushClientOptions} [options]
   * @returns {Promise<PushClient>}
   */
  static async connect(url, options = {}) {
    const client = new PushClient(String(url), options);
    await client.#connections.connect();
    return client;
  }

  /** The UUID the server gave the current connection (it changes after a reconnect). */
  get uuid() {
    return this.#uuid;
  }

  /** `connecting`, `open`, `reconnecting` or `closed`. */
  get state() {
    return this.#connections.state;
  }

  /** Whether the current connection uses compact frames (the server accepted the subprotocol). */
  get compact() {
    return this.#compact;
  }

  /** The name of the transport of the current (or last) connection, e.g. `websocket`. */
  get transport() {
    return this.#connections.transport;
  }

  /** Channels this client wants, in subscription order (resubscribed after every reconnect). */
  get channels() {
    return [...this.#subscriptions.keys()];
  }

  /**
   * Calls `handler(message, meta)` for each push on `channel`; resolves on the server's ack
   * with a function that removes the handler (see `pushserver.d.ts`). A 403 asks
   * `options.authorize` for a grant and tries once more; while reconnecting, the request waits
   * for the next connection; `options.since` is used when the channel is not subscribed yet.
   * @param {string} channel
   * @param {PushHandler} handler
   * @param {import("./pushserver.d.ts").SubscribeOptions} [options]
   * @returns {Promise<() => Promise<void>>}
   */
  async subscribe(channel, handler, options = {}) {
    if (typeof channel !== "string") throw new TypeError("channel must be a string");
    if (typeof handler !== "function") throw new TypeError("handler must be a function");
    const since = checkSince(options?.since);
    const info = options?.info ?? null;
    if (info !== null && (typeof info !== "object" || Array.isArray(info))) {
      throw new TypeError("options.info must be an object");
    }
    let subscription = this.#subscriptions.get(channel);
    if (!subscription || subscription.state === "unsubscribed") {
      subscription = new Subscription(channel, this.#owner, since, info);
      this.#subscriptions.set(channel, subscription);
    }
    const sub = subscription;
    const entry = sub._add(handler);
    try {
      if (sub._token === null) await this.#tokens.fetch(sub);
      await this.#request("SUBSCRIBE", channel, false, sub).catch((error) =>
        this.#grants.afterRefusal(
          sub,
          error,
          this.#uuid,
          () => this.#request("SUBSCRIBE", channel, false, sub),
        )
      );
    } catch (error) {
      this.#removeHandler(sub, entry, "refused", error);
      throw error;
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      if (this.#removeHandler(sub, entry, "unsubscribed") && this.state !== "closed") {
        await this.#request("UNSUBSCRIBE", channel, false);
      }
    };
  }

  /**
   * Who is on `channel` (subscribed by this client; otherwise the server answers 403).
   * @param {string} channel
   * @returns {Promise<import("./pushserver.d.ts").PresenceResult>}
   */
  async presence(channel) {
    if (typeof channel !== "string") throw new TypeError("channel must be a string");
    const answer = await this.#request("PRESENCE", channel, false);
    return /** @type {import("./pushserver.d.ts").PresenceResult} */ (/** @type {unknown} */ (
      answer
    ));
  }

  /**
   * The {@link Subscription} of `channel`, or undefined when this client does not want it.
   * @param {string} channel
   * @returns {Subscription | undefined}
   */
  getSubscription(channel) {
    return this.#subscriptions.get(channel);
  }

  /**
   * Removes every handler of `channel` and unsubscribes; resolves on the server's ack.
   * @param {string} channel
   * @returns {Promise<void>}
   */
  async unsubscribe(channel) {
    const subscription = this.#subscriptions.get(channel);
    this.#subscriptions.delete(channel);
    subscription?._end("unsubscribed");
    await this.#request("UNSUBSCRIBE", channel, false);
  }

  /**
   * Where `channel`'s stream stands for this client (resume later with `subscribe(…, { since })`).
   * @param {string} channel
   * @returns {StreamPosition | undefined}
   */
  position(channel) {
    return this.#subscriptions.get(channel)?.position;
  }

  /**
   * Listens for an event of `PushClientEvents`; returns a function that removes the listener.
   * @param {string} name
   * @param {(event: never) => void} listener
   * @returns {() => void}
   */
  on(name, listener) {
    return this.#events.on(name, listener);
  }

  /**
   * Removes a listener added with {@link PushClient.on}.
   * @param {string} name
   * @param {(event: never) => void} listener
   */
  off(name, listener) {
    this.#events.off(name, listener);
  }

  /**
   * Closes for good: no reconnect, pending requests reject with code 0, every subscription ends
   * (`channels` still lists them). Resolves once the connection has closed.
   * @returns {Promise<void>}
   */
  close() {
    this.#tokens.close();
    if (this.state !== "closed") {
      this.#requests.failAll("The client was closed");
      for (const subscription of this.#subscriptions.values()) subscription._end("closed");
    }
    return this.#connections.close();
  }

  /**
   * A connection is up: requests go out on it. After a reconnect, the channels are granted and
   * subscribed again.
   * @param {TransportConnection} connection
   * @param {boolean} reconnected
   */
  #onOpen(connection, reconnected) {
    const previousUuid = this.#uuid;
    this.#uuid = connection.uuid;
    this.#compact = connection.compact;
    this.#frames = new FrameReader();
    this.#requests.attach((request) => this.#send(connection, request));
    this.#events.emit("connected", { uuid: this.#uuid });
    if (reconnected) void resubscribeAll(this.#host, previousUuid);
  }

  /**
   * Sends one request: a SUBSCRIBE gets its data (and `since`) from its subscription.
   * @param {TransportConnection} connection
   * @param {Request} request
   */
  #send(connection, request) {
    const { channel, subscription } = request;
    let data =
      /** @type {{ channel: string, since?: StreamPosition, info?: Record<string, unknown> }} */ ({
        channel,
      });
    if (request.action === "SUBSCRIBE" && subscription) {
      const frame = subscription._subscribeFrame(this.#uuid);
      ({ data } = frame);
      request.first = frame.first;
      request.since = frame.since;
    }
    connection.send({ messageType: "CLIENT_ACTION", action: request.action, data });
  }

  /** @param {Record<string, unknown> | null} frame */
  #onFrame(frame) {
    const reading = this.#frames.read(frame);
    switch (reading.kind) {
      case "push": {
        const subscription = this.#subscriptions.get(reading.channel);
        if (!subscription || subscription.state === "unsubscribed") return;
        /** @type {PushMeta} */
        const meta = {
          channel: reading.channel,
          uuid: this.#uuid,
          subscribedChannels: this.#frames.channels,
        };
        subscription._deliver(reading.message, meta, reading.position);
        return;
      }
      case "ack": {
        const request = this.#requests.acked();
        if (request?.action === "SUBSCRIBE" && request.subscription) {
          const notRecovered = request.subscription._acked({
            uuid: this.#uuid,
            first: request.first,
            since: request.since,
            recovery: reading.recovery,
          });
          if (notRecovered) this.#events.emit("notRecovered", notRecovered);
        }
        request?.resolve(request.action === "PRESENCE" ? reading.data : this.#frames.channels);
        this.#requests.pump();
        return;
      }
      case "presence": {
        const subscription = this.#subscriptions.get(reading.channel);
        const { channel, uuid, info } = reading;
        subscription?._presence(reading.change, { channel, uuid, info });
        return;
      }
      case "error": {
        const request = this.#requests.refused();
        if (request?.action === "SUBSCRIBE") request.subscription?._refused(request.first);
        if (!request) this.#reportError(reading.error, null);
        else if (
          !this.#requests.retryIfRateLimited(request, reading.error, this.#wanted(request))
        ) {
          request.reject(reading.error);
        }
        this.#requests.pump();
        return;
      }
      case "dropped":
        for (const channel of reading.channels) {
          const subscription = this.#subscriptions.get(channel);
          if (!subscription) continue;
          this.#subscriptions.delete(channel);
          subscription._end(reading.event);
          this.#events.emit(reading.event, { channel });
        }
        return;
      case "unknown":
        this.#reportError(reading.error, null);
    }
  }

  /**
   * Whether sending `request` again still matches what the client wants.
   * @param {Request} request
   */
  #wanted(request) {
    const wanted = this.#subscriptions.has(request.channel);
    return request.action === "SUBSCRIBE" ? wanted : !wanted;
  }

  /**
   * The connection dropped: requests the app made wait for the next connection (the client's
   * own resubscribes fail), subscriptions wait to be resubscribed; when the client gives up,
   * every request fails and every subscription ends.
   * @param {{ code: number, reason: string, willReconnect: boolean, delayMs: number | null }} event
   */
  #onLost(event) {
    this.#requests.detach();
    for (const subscription of this.#subscriptions.values()) subscription._disconnected();
    this.#events.emit("disconnected", event);
    if (event.willReconnect || this.state === "closed") return;
    this.#requests.failAll("The connection was lost");
    for (const subscription of this.#subscriptions.values()) subscription._end("closed");
  }

  /**
   * @param {"SUBSCRIBE" | "UNSUBSCRIBE" | "PRESENCE"} action
   * @param {string} channel
   * @param {boolean} internal the client's own resubscribe (not held across a drop)
   * @param {Subscription | null} [subscription] what a SUBSCRIBE is for
   * @returns {Promise<unknown>}
   */
  #request(action, channel, internal, subscription = null) {
    if (this.state === "closed") {
      return Promise.reject(localError("Client closed", "The client was closed"));
    }
    return this.#requests.add(action, channel, { internal, subscription });
  }

  /**
   * Removes a handler; when it was the last, the subscription ends. True in that case.
   * @param {Subscription} subscription
   * @param {import("./_subscription.js").Entry} entry
   * @param {UnsubscribedReason} reason
   * @param {unknown} [error]
   */
  #removeHandler(subscription, entry, reason, error) {
    if (!subscription._remove(entry)) return false;
    if (this.#subscriptions.get(subscription.channel) !== subscription) return false;
    this.#subscriptions.delete(subscription.channel);
    subscription._end(reason, error);
    return true;
  }

  /**
   * @param {unknown} error
   * @param {string | null} channel
   */
  #reportError(error, channel) {
    if (this.#events.has("error")) {
      this.#events.emit("error", { error, channel });
    } else {
      // deno-lint-ignore no-console -- a library's last resort: never swallow an error silently
      console.error("pushserver client:", error);
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
