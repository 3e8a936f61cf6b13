// @ts-check
/**
 * One channel's subscription: its handlers, its state, its position in the channel's stream and
 * its events (as centrifuge-js's `Subscription`). The client creates it on the first
 * `subscribe()` of a channel, keeps it across reconnects (so the position survives them and
 * the next connection resumes from it), and ends it when the last handler goes or the server
 * drops the channel. Part of the subscriber client served under `/js/`.
 *
 * Methods starting with `_` are the client's (not in `pushserver.d.ts`).
 */
import { Emitter } from "./_emitter.js";

/**
 * @typedef {import("./pushserver.d.ts").PushMeta} PushMeta
 * @typedef {import("./pushserver.d.ts").StreamPosition} StreamPosition
 * @typedef {import("./pushserver.d.ts").SubscriptionState} SubscriptionState
 * @typedef {import("./pushserver.d.ts").UnsubscribedReason} UnsubscribedReason
 * @typedef {(message: unknown, meta: PushMeta) => void} PushHandler
 * @typedef {{ handler: PushHandler }} Entry
 * @typedef {{ channel?: unknown, epoch?: unknown, offset?: unknown, recovered?: unknown }} Recovery
 * @typedef {{ channel: string, since: StreamPosition, position: StreamPosition,
 *   epochChanged: boolean }} NotRecovered
 */

/** The client's side of a subscription (what it lends the subscription). */
/**
 * @typedef {{ unsubscribe: (subscription: Subscription) => Promise<void>,
 *   reportError: (error: unknown, channel: string | null) => void }} SubscriptionOwner
 */

/** A channel this client wants: handlers, state, stream position and events. */
export class Subscription {
  /** @type {string} */
  #channel;
  /** @type {SubscriptionOwner} */
  #owner;
  /** @type {SubscriptionState} */
  #state = "subscribing";
  /** @type {Set<Entry>} */
  #entries = new Set();
  /** The offset of the last push received (or where the subscription started), and the epoch. */
  /** @type {StreamPosition | null} */
  #position = null;
  /** UUID of the connection the first SUBSCRIBE (the one that carries `since`) went to. */
  /** @type {string | null} */
  #sentOn = null;
  /** Whether the last resubscribe with `since` recovered, and on which connection. */
  /** @type {{ uuid: string, recovered: boolean } | null} */
  #recovered = null;
  /** Private channel this client got a grant for: granted again after every reconnect. */
  #granted = false;
  /** The subscriber token (JWT) from `options.getToken`, sent with every SUBSCRIBE. */
  /** @type {string | null} */
  #token = null;
  /** @type {Emitter} */
  #events;

  /** @type {Record<string, unknown> | null} */
  #info = null;

  /**
   * @param {string} channel
   * @param {SubscriptionOwner} owner
   * @param {StreamPosition | null} since where to resume a history channel, if anywhere
   * @param {Record<string, unknown> | null} [info] how it describes itself on a presence channel
   */
  constructor(channel, owner, since, info = null) {
    this.#channel = channel;
    this.#info = info;
    this.#owner = owner;
    this.#position = since ? { ...since } : null;
    this.#events = new Emitter((error) => owner.reportError(error, channel));
  }

  /** The channel's name. */
  get channel() {
    return this.#channel;
  }

  /** `subscribing` (waiting for the server's ack), `subscribed` or `unsubscribed` (for good). */
  get state() {
    return this.#state;
  }

  /**
   * Where the channel's stream stands for this subscription: the offset of the last push
   * received (or where it started) and the epoch; undefined for a channel without history.
   * @returns {StreamPosition | undefined}
   */
  get position() {
    return this.#position ? { ...this.#position } : undefined;
  }

  /**
   * Listens for `subscribed`, `subscribing`, `unsubscribed` or `notRecovered`; returns a
   * function that removes the listener.
   * @param {string} name
   * @param {(event: never) => void} listener
   * @returns {() => void}
   */
  on(name, listener) {
    return this.#events.on(name, listener);
  }

  /**
   * Removes a listener added with {@link Subscription.on}.
   * @param {string} name
   * @param {(event: never) => void} listener
   */
  off(name, listener) {
    this.#events.off(name, listener);
  }

  /**
   * Removes every handler and unsubscribes; resolves on the server's ack (at once when ended).
   * @returns {Promise<void>}
   */
  async unsubscribe() {
    if (this.#state === "unsubscribed") return;
    await this.#owner.unsubscribe(this);
  }

  /**
   * @internal Adds a handler.
   * @param {PushHandler} handler
   * @returns {Entry}
   */
  _add(handler) {
    const entry = { handler };
    this.#entries.add(entry);
    return entry;
  }

  /**
   * @internal Removes a handler; true when it was the last one.
   * @param {Entry} entry
   */
  _remove(entry) {
    return this.#entries.delete(entry) && this.#entries.size === 0;
  }

  /** @internal Whether this client got a grant for the channel (private channels). */
  get _granted() {
    return this.#granted;
  }

  set _granted(granted) {
    this.#granted = granted;
  }

  /** @internal The subscriber token sent with SUBSCRIBE (`options.getToken`), or null. */
  get _token() {
    return this.#token;
  }

  set _token(token) {
    this.#token = token;
  }

  /**
   * @internal The `data` of a SUBSCRIBE on connection `uuid`, and whether it is the first there.
   * The first SUBSCRIBE of a channel on a connection carries the position as `since`, so a
   * history channel resumes where this client left off; later ones (more handlers) must not, as
   * the server would answer them `recovered: false`.
   * @param {string} uuid
   * @returns {{ data: { channel: string, since?: StreamPosition, info?: Record<string, unknown>,
   *   token?: string }, since: StreamPosition | null, first: boolean }}
   */
  _subscribeFrame(uuid) {
    const channel = this.#channel;
    const token = this.#token === null ? {} : { token: this.#token };
    if (this.#state === "unsubscribed" || this.#sentOn === uuid) {
      return {
        data: this.#info ? { channel, info: this.#info, ...token } : { channel, ...token },
        since: null,
        first: false,
      };
    }
    this.#sentOn = uuid;
    const since = this.#position ? { ...this.#position } : null;
    /** @type {{ channel: string, since?: StreamPosition, info?: Record<string, unknown>, token?: string }} */
    const data = since ? { channel, since: { ...since }, ...token } : { channel, ...token };
    if (this.#info) data.info = this.#info;
    return { data, since, first: true };
  }

  /**
   * @internal Another member joined or left this presence channel.
   * @param {"joined" | "left"} change
   * @param {{ channel: string, uuid: string, info: Record<string, unknown> }} event
   */
  _presence(change, event) {
    if (this.#state !== "unsubscribed") this.#events.emit(change, event);
  }

  /**
   * @internal The server refused a SUBSCRIBE: the next one on this connection is a first again.
   * @param {boolean} first whether the refused one was the first
   */
  _refused(first) {
    if (first) this.#sentOn = null;
  }

  /**
   * @internal The server acked a SUBSCRIBE on connection `uuid`. For the first one: record
   * where the stream starts (with `recovered: true` the missed pushes follow and advance it one
   * by one). Returns what to report when `since` could not be recovered.
   * @param {{ uuid: string, first: boolean, since: StreamPosition | null,
   *   recovery: Recovery | undefined }} ack
   * @returns {NotRecovered | null}
   */
  _acked({ uuid, first, since, recovery }) {
    if (this.#state === "unsubscribed") return null;
    const wasSubscribed = this.#state === "subscribed";
    this.#state = "subscribed";
    if (!first) {
      if (!wasSubscribed) this.#emitSubscribed(uuid, null);
      return null;
    }
    if (typeof recovery?.epoch !== "string" || typeof recovery.offset !== "number") {
      this.#position = null; // a channel without history
      this.#emitSubscribed(uuid, null);
      return null;
    }
    const recovered = recovery.recovered === true;
    if (since) this.#recovered = { uuid, recovered };
    /** @type {NotRecovered | null} */
    let notRecovered = null;
    if (!recovered) {
      const position = { offset: recovery.offset, epoch: recovery.epoch };
      this.#position = position;
      if (since) {
        notRecovered = {
          channel: this.#channel,
          since: { ...since },
          position: { ...position },
          epochChanged: since.epoch !== position.epoch,
        };
      }
    }
    this.#emitSubscribed(uuid, since ? recovered : null);
    if (notRecovered) this.#events.emit("notRecovered", notRecovered);
    return notRecovered;
  }

  /**
   * @internal Whether the last resubscribe on connection `uuid` resumed from a position, and
   * recovered everything missed; undefined when none did.
   * @param {string} uuid
   * @returns {boolean | undefined}
   */
  _recoveredOn(uuid) {
    return this.#recovered?.uuid === uuid ? this.#recovered.recovered : undefined;
  }

  /**
   * @internal A push on this channel: advance the position and call every handler.
   * @param {unknown} message
   * @param {PushMeta} meta
   * @param {{ offset?: unknown, epoch?: unknown }} push
   */
  _deliver(message, meta, push) {
    const { offset, epoch } = push;
    if (typeof offset === "number" && typeof epoch === "string") {
      meta.offset = offset;
      meta.epoch = epoch;
      const position = this.#position;
      if (!position || position.epoch !== epoch || position.offset < offset) {
        this.#position = { offset, epoch };
      }
    }
    for (const entry of [...this.#entries]) {
      try {
        entry.handler(message, meta);
      } catch (error) {
        this.#owner.reportError(error, this.#channel);
      }
    }
  }

  /** @internal The connection dropped: the subscription waits for the next one. */
  _disconnected() {
    if (this.#state !== "subscribed") return;
    this.#state = "subscribing";
    this.#events.emit("subscribing", { channel: this.#channel });
  }

  /**
   * @internal Ends the subscription for good: no more handlers or events. The position goes
   * too, except when the client closed: the app may still read it then, to resume later.
   * @param {UnsubscribedReason} reason
   * @param {unknown} [error] the refusal, for reason `refused`
   */
  _end(reason, error) {
    if (this.#state === "unsubscribed") return;
    this.#state = "unsubscribed";
    this.#entries.clear();
    if (reason !== "closed") this.#position = null;
    this.#recovered = null;
    this.#granted = false;
    this.#events.emit(
      "unsubscribed",
      error === undefined ? { channel: this.#channel, reason } : {
        channel: this.#channel,
        reason,
        error,
      },
    );
  }

  /**
   * @param {string} uuid
   * @param {boolean | null} recovered
   */
  #emitSubscribed(uuid, recovered) {
    this.#events.emit("subscribed", {
      channel: this.#channel,
      uuid,
      recovered,
      position: this.position,
    });
  }
}
