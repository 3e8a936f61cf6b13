// @ts-check
/**
 * Subscriber tokens (JWT) through the app's `options.getToken(channel)` callback, as
 * centrifuge-js does: asked before a channel is subscribed, its answer sent as `data.token` in
 * SUBSCRIBE, and asked again before the token expires (read from the JWT's `exp`, which the
 * client decodes without verifying: the server verifies), so that the subscription is renewed
 * instead of ending with `Subscription Expired`. Part of the subscriber client served under
 * `/js/`.
 */

/** @typedef {import("./_subscription.js").Subscription} Subscription */

/** How long before `exp` a token is renewed (at most half of what is left of it). */
export const TOKEN_REFRESH_MARGIN_MS = 10_000;

/** The app's token callback, and the renewal timer of each subscription that has a token. */
export class SubscriberTokens {
  /** @type {((channel: string) => unknown) | null} */
  #getToken;
  /** @type {(subscription: Subscription) => void} */
  #renew;
  /** @type {() => number} */
  #now;
  /** @type {Map<Subscription, ReturnType<typeof setTimeout>>} */
  #timers = new Map();
  /** Subscriptions whose end already clears their renewal timer. */
  /** @type {WeakSet<Subscription>} */
  #watched = new WeakSet();

  /**
   * @param {((channel: string) => unknown) | null} getToken
   * @param {(subscription: Subscription) => void} renew sends the subscription's SUBSCRIBE
   *   again once its token was renewed
   * @param {() => number} [now]
   */
  constructor(getToken, renew, now = Date.now) {
    this.#getToken = getToken;
    this.#renew = renew;
    this.#now = now;
  }

  /**
   * Asks the app for `subscription`'s token (nothing without `getToken`); a string is sent with
   * its SUBSCRIBEs from now on, anything else (`null`: a public channel) means no token. Then
   * schedules the renewal before the token's `exp`. Rejects with what `getToken` threw.
   * @param {Subscription} subscription
   * @returns {Promise<void>}
   */
  async fetch(subscription) {
    if (!this.#getToken) return;
    const token = await this.#getToken(subscription.channel);
    if (subscription.state === "unsubscribed") return;
    subscription._token = typeof token === "string" && token !== "" ? token : null;
    this.#schedule(subscription);
  }

  /** Stops every renewal (the client closed). */
  close() {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  /** @param {Subscription} subscription */
  #schedule(subscription) {
    this.#forget(subscription);
    const exp = expiryOf(subscription._token);
    if (exp === undefined) return;
    const left = exp * 1000 - this.#now();
    // An expired token is not renewed in a loop: the server refuses or ends it, and says why.
    if (left <= 0) return;
    const delay = left - Math.min(TOKEN_REFRESH_MARGIN_MS, left / 2);
    const timer = setTimeout(() => {
      this.#timers.delete(subscription);
      if (subscription.state !== "unsubscribed") this.#renew(subscription);
    }, delay);
    this.#timers.set(subscription, timer);
    if (!this.#watched.has(subscription)) {
      this.#watched.add(subscription);
      subscription.on("unsubscribed", () => this.#forget(subscription));
    }
  }

  /** @param {Subscription} subscription */
  #forget(subscription) {
    const timer = this.#timers.get(subscription);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#timers.delete(subscription);
  }
}

/**
 * The `exp` claim (seconds since the epoch) of a JWT, read without verifying; undefined when
 * `token` is not a JWT or has no numeric `exp`.
 * @param {string | null} token
 * @returns {number | undefined}
 */
export function expiryOf(token) {
  const payload = token?.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const json = JSON.parse(atob(base64 + "=".repeat((4 - base64.length % 4) % 4)));
    return typeof json?.exp === "number" && Number.isFinite(json.exp) ? json.exp : undefined;
  } catch {
    return undefined;
  }
}
