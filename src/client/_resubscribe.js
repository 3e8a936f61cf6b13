// @ts-check
/**
 * Subscribing again the channels a {@link PushClient} already has: every one after a reconnect
 * (grants first, then the paced SUBSCRIBEs, answering the requests that waited for the new
 * connection, then `reconnected`), and one whose subscriber token is about to expire. Part of
 * the subscriber client served under `/js/`.
 */
import { localError, PushError } from "./_errors.js";

/**
 * @typedef {import("./pushserver.d.ts").PushClientState} PushClientState
 * @typedef {import("./_requests.js").Request} Request
 * @typedef {import("./_subscription.js").Subscription} Subscription
 */

/**
 * What the client lends to a resubscribe: read afresh at every use, since awaits let a drop or
 * `close()` change the connection meanwhile.
 * @typedef {object} ResubscribeHost
 * @property {() => string} uuid the current connection's UUID
 * @property {() => PushClientState} state
 * @property {Map<string, Subscription>} subscriptions the channels the client wants, in order
 * @property {import("./_requests.js").RequestQueue} requests
 * @property {import("./_grants.js").Grants} grants
 * @property {import("./_tokens.js").SubscriberTokens} tokens
 * @property {import("./_emitter.js").Emitter} events
 * @property {() => string[]} subscribedChannels the server's list of this connection's channels
 * @property {(subscription: Subscription) => Promise<unknown>} subscribe sends the client's own
 *   SUBSCRIBE for `subscription` (not held across a drop)
 * @property {(error: unknown, channel: string | null) => void} reportError
 */

/**
 * After a reconnect: grants first (private channels), then every wanted channel subscribed
 * again (resuming history channels from their positions), then `reconnected`.
 * @param {ResubscribeHost} host
 * @param {string} previousUuid
 * @returns {Promise<void>}
 */
export async function resubscribeAll(host, previousUuid) {
  const { subscriptions, requests } = host;
  const uuid = host.uuid();
  await host.grants.renew(uuid, subscriptions.values(), host.reportError);
  if (host.uuid() !== uuid || host.state() !== "open") return;
  // The new connection has no subscriptions: an unsubscribe made while disconnected is done
  // already, and a subscribe made meanwhile is answered by that channel's resubscribe.
  /** @type {Map<string, Request[]>} */
  const waiting = new Map();
  for (const request of requests.takeHeld()) {
    if (request.action === "UNSUBSCRIBE" || !subscriptions.has(request.channel)) {
      request.resolve([]);
      continue;
    }
    const list = waiting.get(request.channel) ?? [];
    list.push(request);
    waiting.set(request.channel, list);
  }
  // Every resubscribe is queued at once and paced by the send bucket, so a client with a
  // thousand channels stays under the server's frame rate instead of being closed with 1008.
  const wanted = [...subscriptions.values()];
  const settled = await Promise.allSettled(wanted.map((s) => host.subscribe(s)));
  // Read afresh: the awaits above let close() or a drop change the state.
  const state = host.state();
  if (host.uuid() !== uuid || state !== "open") {
    // Dropped again (or closed) meanwhile: the waiting subscribes go to the next connection.
    const held = [...waiting.values()].flat();
    if (state === "closed") {
      for (const r of held) r.reject(localError("Not connected", "The client was closed"));
    } else requests.hold(held);
    return;
  }
  settled.forEach((result, i) => {
    const subscription = /** @type {Subscription} */ (wanted[i]);
    const { channel } = subscription;
    const answered = waiting.get(channel) ?? [];
    if (result.status === "fulfilled") {
      for (const request of answered) request.resolve(result.value);
      return;
    }
    const error = result.reason;
    const code = error instanceof PushError ? error.code : 0;
    // Gone or invalid: forget it. Anything else stays wanted for the next reconnect.
    if ((code === 404 || code === 400) && subscriptions.get(channel) === subscription) {
      subscriptions.delete(channel);
      subscription._end("refused", error);
    }
    for (const request of answered) request.reject(error);
    if (answered.length === 0) host.reportError(error, channel);
  });
  /** @type {Record<string, boolean>} */
  const recovered = {};
  for (const subscription of subscriptions.values()) {
    const done = subscription._recoveredOn(uuid);
    if (done !== undefined) recovered[subscription.channel] = done;
  }
  host.events.emit("reconnected", {
    uuid,
    previousUuid,
    channels: host.subscribedChannels(),
    recovered,
  });
}

/**
 * A subscription's token is about to expire: asks `options.getToken` for a fresh one and sends
 * SUBSCRIBE with it (the server acks it as a renewal). While disconnected, the new token waits
 * for the resubscribe after the reconnect.
 * @param {ResubscribeHost} host
 * @param {Subscription} subscription
 * @returns {Promise<void>}
 */
export async function renewToken(host, subscription) {
  try {
    await host.tokens.fetch(subscription);
    if (host.state() !== "open" || host.subscriptions.get(subscription.channel) !== subscription) {
      return;
    }
    await host.subscribe(subscription);
  } catch (error) {
    if (subscription.state !== "unsubscribed") host.reportError(error, subscription.channel);
  }
}
