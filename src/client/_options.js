// @ts-check
/**
 * The client's settings: defaults, the reconnect backoff, and checks of what callers pass. Part
 * of the subscriber client served under `/js/`; import `pushserver.js`, which re-exports what is
 * public.
 */

/** The reconnect, timeout, pacing and transport settings used when an option is not given. */
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
  // WebSocket first; Server-Sent Events where WebSocket cannot be created or does not open.
  transports: Object.freeze(/** @type {const} */ (["websocket", "sse"])),
});

/**
 * @typedef {import("./pushserver.d.ts").PushClientOptions} PushClientOptions
 * @typedef {import("./pushserver.d.ts").StreamPosition} StreamPosition
 * @typedef {Required<Omit<PushClientOptions, "WebSocket" | "authorize" | "transports" | "getToken">>} Settings
 */

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
 * The settings of `options` over the defaults (an `undefined` field takes the default).
 * @param {PushClientOptions} options
 * @returns {Settings}
 */
export function settingsOf(options) {
  const {
    WebSocket: _ws,
    authorize: _authorize,
    transports: _transports,
    getToken: _getToken,
    ...rest
  } = options;
  /** @type {Record<string, unknown>} */
  const defined = {};
  for (const [key, value] of Object.entries(rest)) if (value !== undefined) defined[key] = value;
  const { transports: _, ...defaults } = DEFAULT_OPTIONS;
  return { ...defaults, ...defined };
}

/**
 * Validates `options.authorize`.
 * @param {unknown} authorize
 * @returns {((uuid: string, channel: string) => unknown) | null}
 */
export function checkAuthorize(authorize) {
  if (authorize !== undefined && typeof authorize !== "function") {
    throw new TypeError("options.authorize must be a function (uuid, channel) => Promise");
  }
  return /** @type {((uuid: string, channel: string) => unknown) | undefined} */ (authorize) ??
    null;
}

/**
 * Validates `options.getToken` (subscriber tokens, v1.2).
 * @param {unknown} getToken
 * @returns {((channel: string) => unknown) | null}
 */
export function checkGetToken(getToken) {
  if (getToken !== undefined && typeof getToken !== "function") {
    throw new TypeError("options.getToken must be a function (channel) => Promise<string | null>");
  }
  return /** @type {((channel: string) => unknown) | undefined} */ (getToken) ?? null;
}

/**
 * Validates a `since` option: `{ offset, epoch }` as a server or `position()` gave it, or none.
 * @param {unknown} since
 * @returns {StreamPosition | null}
 */
export function checkSince(since) {
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
