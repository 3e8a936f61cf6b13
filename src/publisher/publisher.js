// @ts-check
// @ts-self-types="./publisher.d.ts"
/**
 * pushserver publisher SDK: the publisher HTTP actions as typed async methods.
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
 * @typedef {import("./publisher.d.ts").PresenceResult} PresenceResult
 * @typedef {import("./publisher.d.ts").CreateChannelOptions} CreateChannelOptions
 * @typedef {import("./publisher.d.ts").CreatedChannel} CreatedChannel
 * @typedef {import("./publisher.d.ts").ChannelInfo} ChannelInfo
 * @typedef {import("./publisher.d.ts").PushResult} PushResult
 * @typedef {import("./publisher.d.ts").HistoryOptions} HistoryOptions
 * @typedef {import("./publisher.d.ts").PushOptions} PushOptions
 * @typedef {import("./publisher.d.ts").BatchPush} BatchPush
 * @typedef {import("./publisher.d.ts").BatchResult} BatchResult
 * @typedef {import("./publisher.d.ts").HistoryReadOptions} HistoryReadOptions
 * @typedef {import("./publisher.d.ts").HistoryPage} HistoryPage
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
   * `history` keeps the newest pushes for recovery (v1.1), `private` requires a grant
   * ({@link PushPublisher.authorize}) before a connection may subscribe.
   * @param {string} channel
   * @param {CreateChannelOptions} [options]
   * @returns {Promise<CreatedChannel>}
   */
  async createChannel(channel, options = {}) {
    /** @type {Record<string, unknown>} */
    const data = { channel };
    if (options.history !== undefined && options.history !== null) {
      data.history = { size: options.history.size, ttlSeconds: options.history.ttlSeconds };
    }
    if (options.private !== undefined) data.private = options.private;
    if (options.presence !== undefined) data.presence = options.presence;
    const ack = await this.#action("/channel/create", "CREATE_CHANNEL", data, options);
    if (typeof ack.channelToken !== "string") {
      throw new PushApiError(502, "Bad Gateway", "The create reply carries no channel token");
    }
    /** @type {CreatedChannel} */
    const created = { channel: ack.channel, channelToken: ack.channelToken };
    if (ack.history) created.history = ack.history;
    if (typeof ack.epoch === "string") created.epoch = ack.epoch;
    if (ack.private === true) created.private = true;
    if (ack.presence === true) created.presence = true;
    return created;
  }

  /**
   * Checks that a channel exists (token `null`) or that `channelToken` is its token.
   * Rejects with 404 for a missing channel, 403 for a wrong token. With the right token, a
   * private or history channel's reply also carries `private` and `history`.
   * @param {string} channel
   * @param {string | null} [channelToken]
   * @param {RequestOptions} [options]
   * @returns {Promise<ChannelInfo>}
   */
  async ping(channel, channelToken = null, options) {
    const ack = await this.#action(
      "/channel/ping",
      "PING_CHANNEL",
      { channel, channelToken },
      options,
    );
    /** @type {ChannelInfo} */
    const info = { channel: ack.channel };
    if (typeof ack.private === "boolean") info.private = ack.private;
    if (ack.history !== undefined) info.history = ack.history;
    if (ack.presence === true) info.presence = true;
    return info;
  }

  /**
   * Pushes `message` (any JSON value but `null`: a string is v1's) to every subscriber of
   * `channel`, or only to `recipients` (UUIDs). On a history channel a broadcast resolves with
   * the push's stream position `{offset, epoch}`; with `receipt: true` also with what it
   * reached (`delivered`, `undelivered`, `partial`). With `idempotencyKey`, a retry within 300 s
   * is pushed once and answered like the first push (v1.2).
   * @param {string} channel
   * @param {string} channelToken
   * @param {unknown} message
   * @param {PushOptions} [options]
   * @returns {Promise<PushResult>}
   */
  async push(channel, channelToken, message, options = {}) {
    const data = pushData({ ...options, channel, channelToken, message });
    return pushResult(await this.#post("/push", "PUSH_MESSAGE", data, options));
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
   * Lets the subscriber connection `uuid` subscribe to `channel` (needed for a private channel).
   * The grant lasts as long as that connection; rejects with 404 when no connection has `uuid`.
   * @param {string} channel
   * @param {string} channelToken
   * @param {string} uuid the connection's UUID, as its client reported it
   * @param {RequestOptions} [options]
   * @returns {Promise<{ channel: string, uuid: string }>}
   */
  async authorize(channel, channelToken, uuid, options) {
    const ack = await this.#action(
      "/channel/authorize",
      "AUTHORIZE_SUBSCRIBER",
      { channel, channelToken, uuid },
      options,
    );
    return { channel: ack.channel, uuid: typeof ack.uuid === "string" ? ack.uuid : uuid };
  }

  /**
   * Removes the grant of connection `uuid` and unsubscribes it from `channel` (it is told with
   * `Subscription Revoked`). Resolves also when no such connection exists.
   * @param {string} channel
   * @param {string} channelToken
   * @param {string} uuid
   * @param {RequestOptions} [options]
   * @returns {Promise<{ channel: string, uuid: string }>}
   */
  async revoke(channel, channelToken, uuid, options) {
    const ack = await this.#action(
      "/channel/revoke",
      "REVOKE_SUBSCRIBER",
      { channel, channelToken, uuid },
      options,
    );
    return { channel: ack.channel, uuid: typeof ack.uuid === "string" ? ack.uuid : uuid };
  }

  /**
   * Replaces the channel's token; resolves with the new one (shown only this once). From the
   * server's answer on, the old token is refused everywhere.
   * @param {string} channel
   * @param {string} channelToken the current token
   * @param {RequestOptions} [options]
   * @returns {Promise<{ channel: string, channelToken: string }>}
   */
  async rotateToken(channel, channelToken, options) {
    const ack = await this.#action(
      "/channel/rotate",
      "ROTATE_TOKEN",
      { channel, channelToken },
      options,
    );
    if (typeof ack.channelToken !== "string") {
      throw new PushApiError(502, "Bad Gateway", "The rotate reply carries no channel token");
    }
    return { channel: ack.channel, channelToken: ack.channelToken };
  }

  // --- Presence (v1.2) ---

  /**
   * Who is on `channel`, cluster-wide: `count` (members of a presence channel, live subscribers
   * of any other) and, on a presence channel, `members` (at most 1,000; `truncated` when more).
   * @param {string} channel
   * @param {string} channelToken
   * @param {RequestOptions} [options]
   * @returns {Promise<PresenceResult>}
   */
  async presence(channel, channelToken, options) {
    const ack = await this.#action(
      "/channel/presence",
      "READ_PRESENCE",
      { channel, channelToken },
      options,
    );
    /** @type {PresenceResult} */
    const result = {
      channel: ack.channel,
      count: Number(ack.count),
      members: /** @type {PresenceResult["members"]} */ (ack.members ?? []),
    };
    if (ack.truncated === true) result.truncated = true;
    return result;
  }

  // --- v1.2 publishing (issue 20): batches and history reads -------------------------------

  /**
   * Pushes up to 100 messages in one request (`POST /push/batch`). Resolves with one result per
   * item, in order: `{ok: true, ...}` with what `push()` resolves with, or `{ok: false, code,
   * message, errorDetails}` with the error `push()` would have thrown for that item. Rejects
   * only for what concerns the batch as a whole (e.g. 400 for an empty or too long list).
   * @param {readonly BatchPush[]} pushes
   * @param {RequestOptions} [options]
   * @returns {Promise<BatchResult[]>}
   */
  async pushBatch(pushes, options) {
    const data = { pushes: pushes.map((item) => pushData(item)) };
    const payload = await this.#post("/push/batch", "PUSH_BATCH", data, options);
    const results = Array.isArray(payload.results) ? payload.results : [];
    return results.map((/** @type {unknown} */ entry) => {
      const result = isRecord(entry) ? entry : {};
      const details = isRecord(result.data) ? result.data : {};
      if (result.code === 200) return { ok: true, ...pushResult(details) };
      return {
        ok: false,
        code: typeof result.code === "number" ? result.code : 502,
        message: typeof result.message === "string" ? result.message : "Bad Gateway",
        errorDetails: typeof details.errorDetails === "string" ? details.errorDetails : null,
      };
    });
  }

  /**
   * Reads one page of a history channel's retained pushes (`POST /channel/history`): those
   * after `since` (the oldest retained ones without it), oldest first, at most `limit`
   * (1–1000, default 100). 409 on a channel without history.
   * @param {string} channel
   * @param {string} channelToken
   * @param {HistoryReadOptions} [options]
   * @returns {Promise<HistoryPage>}
   */
  async history(channel, channelToken, options = {}) {
    /** @type {Record<string, unknown>} */
    const data = { channel, channelToken };
    if (options.since !== undefined && options.since !== null) {
      data.since = { offset: options.since.offset, epoch: options.since.epoch };
    }
    if (options.limit !== undefined) data.limit = options.limit;
    const payload = await this.#post("/channel/history", "READ_HISTORY", data, options);
    const publications = Array.isArray(payload.publications) ? payload.publications : [];
    /** @type {HistoryPage} */
    const page = {
      channel: String(payload.channel),
      epoch: String(payload.epoch),
      offset: Number(payload.offset),
      publications: publications.filter(isRecord).map((entry) => ({
        offset: Number(entry.offset),
        message: entry.message,
        time: String(entry.time),
      })),
    };
    if (typeof payload.recovered === "boolean") page.recovered = payload.recovered;
    return page;
  }

  /**
   * Pages through a history channel (`for await (const page of publisher.historyPages(...))`):
   * each page starts after the last offset of the one before, until a page comes back empty or
   * reaches the top offset. With `since`, a position that cannot be recovered (another epoch,
   * trimmed pushes) yields one empty page with `recovered: false` and ends.
   * @param {string} channel
   * @param {string} channelToken
   * @param {HistoryReadOptions} [options]
   * @returns {AsyncGenerator<HistoryPage, void, undefined>}
   */
  async *historyPages(channel, channelToken, options = {}) {
    let since = options.since ?? null;
    for (;;) {
      const page = await this.history(channel, channelToken, { ...options, since });
      yield page;
      const last = page.publications.at(-1);
      if (last === undefined || last.offset >= page.offset) return;
      since = { offset: last.offset, epoch: page.epoch };
    }
  }

  // --- end of v1.2 publishing ------------------------------------------------------------

  /**
   * POSTs a `SERVER_ACTION` and returns the ack's `data` (normalized), or throws the error envelope.
   * @param {string} path
   * @param {string} action
   * @param {Record<string, unknown>} data
   * @param {RequestOptions | undefined} options
   * @returns {Promise<ServerAck>}
   */
  async #action(path, action, data, options) {
    const payload = await this.#post(path, action, data, options);
    /** @type {ServerAck} */
    const ack = {
      channel: String(payload.channel),
      channelToken: typeof payload.channelToken === "string" ? payload.channelToken : null,
    };
    if (typeof payload.epoch === "string") ack.epoch = payload.epoch;
    if (typeof payload.offset === "number") ack.offset = payload.offset;
    if (typeof payload.private === "boolean") ack.private = payload.private;
    if (payload.history === null || isHistory(payload.history)) ack.history = payload.history;
    if (typeof payload.uuid === "string") ack.uuid = payload.uuid;
    // Presence (v1.2).
    if (typeof payload.presence === "boolean") ack.presence = payload.presence;
    if (typeof payload.count === "number") ack.count = payload.count;
    if (Array.isArray(payload.members)) {
      ack.members = /** @type {NonNullable<ServerAck["members"]>} */ (payload.members);
    }
    if (payload.truncated === true) ack.truncated = true;
    return ack;
  }

  /**
   * POSTs a `SERVER_ACTION` and returns the ack's `data` as sent, or throws the error envelope.
   * @param {string} path
   * @param {string} action
   * @param {Record<string, unknown>} data
   * @param {RequestOptions | undefined} options
   * @returns {Promise<Record<string, unknown>>}
   */
  async #post(path, action, data, options) {
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
    if (response.ok && envelope.messageType === "SERVER_ACK") return payload;
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

/**
 * @param {unknown} value
 * @returns {value is HistoryOptions}
 */
function isHistory(value) {
  return isRecord(value) && typeof value.size === "number" && typeof value.ttlSeconds === "number";
}

// --- v1.2 publishing helpers (issue 20) ---------------------------------------------------

/**
 * The `data` of a `PUSH_MESSAGE` (or a batch item) from the SDK's push arguments.
 * @param {BatchPush} push
 * @returns {Record<string, unknown>}
 */
function pushData(push) {
  /** @type {Record<string, unknown>} */
  const data = {
    channel: push.channel,
    channelToken: push.channelToken,
    recipients: [...(push.recipients ?? [])],
    message: push.message,
  };
  if (push.receipt !== undefined) data.receipt = push.receipt;
  if (push.idempotencyKey !== undefined) data.idempotencyKey = push.idempotencyKey;
  return data;
}

/**
 * What `push()` resolves with, from a `Sent` ack's `data`.
 * @param {Record<string, unknown>} payload
 * @returns {PushResult}
 */
function pushResult(payload) {
  /** @type {PushResult} */
  const result = { channel: String(payload.channel) };
  if (typeof payload.offset === "number" && typeof payload.epoch === "string") {
    result.offset = payload.offset;
    result.epoch = payload.epoch;
  }
  if (typeof payload.delivered === "number") result.delivered = payload.delivered;
  if (Array.isArray(payload.undelivered)) result.undelivered = payload.undelivered.map(String);
  if (payload.partial === true) result.partial = true;
  return result;
}
