// @ts-check
// @ts-self-types="./publisher.d.ts"
/**
 * pushserver publisher SDK: the four HTTP actions as typed async methods.
 *
 * Plain JavaScript with JSDoc types (checked by `deno check`) and no dependencies, so Deno,
 * Node ≥ 18 and browsers import this file as is; only the global `fetch` is needed.
 */

/** A pushserver `ERROR` envelope (or a reply that is not a pushserver envelope at all). */
export class PushApiError extends Error {
  /**
   * @param {number} code protocol status code, equal to the HTTP status
   * @param {string} message the envelope's short message, e.g. `Forbidden`
   * @param {string | null} errorDetails the envelope's one-sentence detail
   */
  constructor(code, message, errorDetails) {
    super(message);
    this.name = "PushApiError";
    /** @type {number} */
    this.code = code;
    /** @type {string | null} */
    this.errorDetails = errorDetails;
  }
}

/**
 * @typedef {import("./publisher.d.ts").PushPublisherOptions} PushPublisherOptions
 * @typedef {import("./publisher.d.ts").RequestOptions} RequestOptions
 * @typedef {import("./publisher.d.ts").ServerAck} ServerAck
 */

/** A client for the publisher HTTP API of one pushserver. */
export class PushPublisher {
  /** @type {string} */
  #baseUrl;
  /** @type {typeof fetch} */
  #fetch;
  /** @type {Record<string, string>} */
  #headers;

  /** @param {PushPublisherOptions} options */
  constructor(options) {
    if (!options || typeof options.baseUrl !== "string" && !(options.baseUrl instanceof URL)) {
      throw new TypeError("PushPublisher needs { baseUrl }, e.g. http://localhost:5223");
    }
    this.#baseUrl = String(options.baseUrl).replace(/\/+$/, "");
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#headers = { ...options.headers };
  }

  /** The base URL requests go to, without a trailing slash. */
  get baseUrl() {
    return this.#baseUrl;
  }

  /**
   * Creates a channel; resolves with its token, which the server shows only this once.
   * @param {string} channel
   * @param {RequestOptions} [options]
   * @returns {Promise<{ channel: string, channelToken: string }>}
   */
  async createChannel(channel, options) {
    const ack = await this.#action("/channel/create", "CREATE_CHANNEL", { channel }, options);
    if (typeof ack.channelToken !== "string") {
      throw new PushApiError(502, "Bad Gateway", "The create reply carries no channel token");
    }
    return { channel: ack.channel, channelToken: ack.channelToken };
  }

  /**
   * Checks that a channel exists (token `null`) or that `channelToken` is its token.
   * Rejects with 404 for a missing channel, 403 for a wrong token.
   * @param {string} channel
   * @param {string | null} [channelToken]
   * @param {RequestOptions} [options]
   * @returns {Promise<{ channel: string }>}
   */
  async ping(channel, channelToken = null, options) {
    const ack = await this.#action(
      "/channel/ping",
      "PING_CHANNEL",
      { channel, channelToken },
      options,
    );
    return { channel: ack.channel };
  }

  /**
   * Pushes `message` to every subscriber of `channel`, or only to `recipients` (UUIDs).
   * @param {string} channel
   * @param {string} channelToken
   * @param {string} message
   * @param {RequestOptions & { recipients?: readonly string[] }} [options]
   * @returns {Promise<{ channel: string }>}
   */
  async push(channel, channelToken, message, options = {}) {
    const recipients = [...(options.recipients ?? [])];
    const ack = await this.#action(
      "/push",
      "PUSH_MESSAGE",
      { channel, channelToken, recipients, message },
      options,
    );
    return { channel: ack.channel };
  }

  /**
   * Deletes a channel; its subscribers are told with a `Channel Deleted` ack.
   * @param {string} channel
   * @param {string} channelToken
   * @param {RequestOptions} [options]
   * @returns {Promise<{ channel: string }>}
   */
  async deleteChannel(channel, channelToken, options) {
    const ack = await this.#action(
      "/channel/delete",
      "DELETE_CHANNEL",
      { channel, channelToken },
      options,
    );
    return { channel: ack.channel };
  }

  /**
   * POSTs a `SERVER_ACTION` and returns the ack's `data`, or throws the error envelope.
   * @param {string} path
   * @param {string} action
   * @param {Record<string, unknown>} data
   * @param {RequestOptions | undefined} options
   * @returns {Promise<ServerAck>}
   */
  async #action(path, action, data, options) {
    /** @type {RequestInit} */
    const init = {
      method: "POST",
      headers: { ...this.#headers, "content-type": "application/json" },
      body: JSON.stringify({ messageType: "SERVER_ACTION", action, data }),
    };
    if (options?.signal) init.signal = options.signal;
    const response = await this.#fetch(`${this.#baseUrl}${path}`, init);
    const text = await response.text();
    /** @type {unknown} */
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const envelope = isRecord(body) ? body : {};
    const payload = isRecord(envelope.data) ? envelope.data : {};
    if (response.ok && envelope.messageType === "SERVER_ACK") {
      return {
        channel: String(payload.channel),
        channelToken: typeof payload.channelToken === "string" ? payload.channelToken : null,
      };
    }
    if (envelope.messageType === "ERROR") {
      throw new PushApiError(
        typeof envelope.code === "number" ? envelope.code : response.status,
        typeof envelope.message === "string" ? envelope.message : response.statusText,
        typeof payload.errorDetails === "string" ? payload.errorDetails : null,
      );
    }
    throw new PushApiError(
      response.ok ? 502 : response.status,
      response.ok ? "Bad Gateway" : response.statusText || "Error",
      `${path} answered HTTP ${response.status} without a pushserver envelope`,
    );
  }
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isRecord(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
