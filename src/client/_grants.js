// @ts-check
/**
 * Grants for private channels through the app's `options.authorize(uuid, channel)` callback:
 * asked when a subscribe is refused with 403, and again after every reconnect (the UUID
 * changes) for the channels that needed one. Part of the subscriber client served under `/js/`.
 */
import { PushError } from "./_errors.js";

/** @typedef {import("./_subscription.js").Subscription} Subscription */

/** The app's grant callback, and which subscriptions needed it. */
export class Grants {
  /** @type {((uuid: string, channel: string) => unknown) | null} */
  #authorize;

  /** @param {((uuid: string, channel: string) => unknown) | null} authorize */
  constructor(authorize) {
    this.#authorize = authorize;
  }

  /**
   * A subscribe was refused with `error`: when it is a 403 and the app can grant, asks for a
   * grant for connection `uuid` and resolves with `retry()`'s result; otherwise rethrows.
   * @template T
   * @param {Subscription} subscription
   * @param {unknown} error
   * @param {string} uuid
   * @param {() => Promise<T>} retry
   * @returns {Promise<T>}
   */
  async afterRefusal(subscription, error, uuid, retry) {
    if (!(error instanceof PushError) || error.code !== 403 || !this.#authorize) throw error;
    if (subscription.state === "unsubscribed") throw error;
    // Marked first, so that a reconnect meanwhile asks for a grant for the new UUID too.
    subscription._granted = true;
    try {
      await this.#authorize(uuid, subscription.channel);
      return await retry();
    } catch (refused) {
      subscription._granted = false;
      throw refused;
    }
  }

  /**
   * After a reconnect, before the channels are subscribed again: asks for grants for connection
   * `uuid` for every subscription that needed one. A failure is passed to `report`; that
   * resubscribe will then be refused.
   * @param {string} uuid
   * @param {Iterable<Subscription>} subscriptions
   * @param {(error: unknown, channel: string) => void} report
   * @returns {Promise<void>}
   */
  async renew(uuid, subscriptions, report) {
    const authorize = this.#authorize;
    const channels = [...subscriptions].filter((s) => s._granted).map((s) => s.channel);
    if (!authorize || channels.length === 0) return;
    const settled = await Promise.allSettled(
      channels.map(async (channel) => await authorize(uuid, channel)),
    );
    settled.forEach((result, i) => {
      if (result.status === "rejected") report(result.reason, channels[i] ?? "");
    });
  }
}
