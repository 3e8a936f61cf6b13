// @ts-check
/**
 * The client's connection lifecycle (pusher-js's ConnectionManager): open a connection with the
 * first transport that manages to, reconnect with backoff after a drop, close for good. It knows
 * nothing of channels or requests; the client hears of each step through {@link ConnectionHooks}.
 * Part of the subscriber client served under `/js/`.
 */
import { localError } from "./_errors.js";
import { backoffDelay } from "./_options.js";

/**
 * @typedef {import("./pushserver.d.ts").PushTransport} PushTransport
 * @typedef {import("./pushserver.d.ts").TransportConnection} TransportConnection
 * @typedef {import("./pushserver.d.ts").PushClientState} ConnectionState
 * @typedef {import("./_options.js").Settings} Settings
 * @typedef {{
 *   onOpen: (connection: TransportConnection, reconnected: boolean) => void,
 *   onFrame: (frame: Record<string, unknown> | null) => void,
 *   onLost: (event: { code: number, reason: string, willReconnect: boolean,
 *     delayMs: number | null }) => void,
 * }} ConnectionHooks what the client is told: a connection is open (state `open`), a frame
 *   arrived on it, it dropped (told before the state changes to `reconnecting` or `closed`)
 */

/** One client's connections, one at a time. */
export class ConnectionManager {
  /** @type {string} */
  #url;
  /** @type {Settings} */
  #settings;
  /** Tried in order on every (re)connect. */
  /** @type {PushTransport[]} */
  #transports;
  /** @type {ConnectionHooks} */
  #hooks;
  /** @type {ConnectionState} */
  #state = "connecting";
  /** @type {TransportConnection | null} */
  #connection = null;
  #transportName = "";
  /** Aborts the attempt under way (close()). */
  /** @type {AbortController | null} */
  #abort = null;
  /** The attempt under way, which close() waits for. */
  /** @type {Promise<unknown> | null} */
  #opening = null;
  #attempt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #retryTimer;
  /** @type {Promise<void> | null} */
  #closing = null;

  /**
   * @param {string} url
   * @param {{ settings: Settings, transports: PushTransport[], hooks: ConnectionHooks }} options
   */
  constructor(url, { settings, transports, hooks }) {
    this.#url = url;
    this.#settings = settings;
    this.#transports = transports;
    this.#hooks = hooks;
  }

  /** `connecting`, `open`, `reconnecting` or `closed`. */
  get state() {
    return this.#state;
  }

  /** The name of the transport of the current (or last) connection; "" before the first. */
  get transport() {
    return this.#transportName;
  }

  /**
   * Opens the first connection; rejects (and the state is `closed`) when no transport could.
   * @returns {Promise<void>}
   */
  async connect() {
    /** @type {{ connection: TransportConnection, early: (Record<string, unknown> | null)[] }} */
    let opened;
    try {
      opened = await this.#open();
    } catch (error) {
      this.#state = "closed";
      throw error;
    }
    this.#opened(opened, false);
  }

  /**
   * Closes for good: no reconnect; an attempt under way is aborted. Resolves once the
   * connection (or the attempt) has closed.
   * @returns {Promise<void>}
   */
  close() {
    if (this.#closing) return this.#closing;
    this.#state = "closed";
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const connection = this.#connection;
    this.#connection = null;
    const opening = this.#opening;
    this.#abort?.abort();
    this.#closing = (async () => {
      await opening?.catch(() => {});
      await connection?.close();
    })();
    return this.#closing;
  }

  /**
   * Tries each transport in turn, each within `connectTimeoutMs`. Every reconnect starts again
   * from the first (which offers compact frames again), so a network or server that changed
   * meanwhile gets the preferred one.
   * @returns {Promise<{ connection: TransportConnection, early: (Record<string, unknown> | null)[] }>}
   */
  async #open() {
    const abort = new AbortController();
    this.#abort = abort;
    /** @type {unknown} */
    let failure = localError("Connection failed", "No transport to connect with");
    try {
      for (const transport of this.#transports) {
        if (abort.signal.aborted) break;
        const attempt = this.#openWith(transport, abort.signal);
        this.#opening = attempt;
        try {
          return await attempt;
        } catch (error) {
          failure = error;
        }
      }
      throw failure;
    } finally {
      if (this.#abort === abort) {
        this.#abort = null;
        this.#opening = null;
      }
    }
  }

  /**
   * @param {PushTransport} transport
   * @param {AbortSignal} signal
   */
  async #openWith(transport, signal) {
    /** @type {TransportConnection | null} */
    let connection = null;
    /** Frames after `Connected` that came before the connection was taken. */
    /** @type {(Record<string, unknown> | null)[]} */
    const early = [];
    let closedEarly = false;
    connection = await transport.open(this.#url, {
      compact: this.#settings.compact,
      timeoutMs: this.#settings.connectTimeoutMs,
      signal,
      onFrame: (frame) => {
        if (connection === null) early.push(frame);
        else if (connection === this.#connection) this.#hooks.onFrame(frame);
      },
      onClose: (code, reason) => {
        if (connection === null) closedEarly = true;
        else if (connection === this.#connection) this.#onLost(code, reason);
      },
    });
    if (this.#state === "closed" || closedEarly) {
      await connection.close();
      throw localError(
        "Connection failed",
        closedEarly ? `${this.#url} closed right after Connected` : "The client was closed",
      );
    }
    this.#transportName = transport.name;
    return { connection, early };
  }

  /**
   * A connection is up: it becomes the current one; frames that came with `Connected` follow.
   * @param {{ connection: TransportConnection, early: (Record<string, unknown> | null)[] }} opened
   * @param {boolean} reconnected
   */
  #opened({ connection, early }, reconnected) {
    this.#connection = connection;
    this.#state = "open";
    this.#hooks.onOpen(connection, reconnected);
    for (const frame of early) if (connection === this.#connection) this.#hooks.onFrame(frame);
  }

  /**
   * The current connection dropped: tell the client, then reconnect after a backoff delay (or
   * close for good when reconnecting is off).
   * @param {number} code
   * @param {string} reason
   */
  #onLost(code, reason) {
    this.#connection = null;
    const willReconnect = this.#settings.reconnect;
    const delayMs = willReconnect ? backoffDelay(this.#attempt, this.#settings) : null;
    this.#hooks.onLost({ code, reason, willReconnect, delayMs });
    if (this.#state === "closed") return; // closed by a listener
    if (delayMs === null) this.#state = "closed";
    else this.#scheduleReconnect(delayMs);
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
    /** @type {{ connection: TransportConnection, early: (Record<string, unknown> | null)[] }} */
    let opened;
    try {
      opened = await this.#open();
    } catch {
      if (this.#state !== "closed") {
        this.#scheduleReconnect(backoffDelay(this.#attempt, this.#settings));
      }
      return;
    }
    this.#attempt = 0;
    this.#opened(opened, true);
  }
}
