// @ts-check
/**
 * Reading server frames (v1 and compact) into what the client acts on, and keeping the
 * server's list of one connection's subscriptions from them. Pure: no I/O, no timers. Part of
 * the subscriber client served under `/js/`.
 */
import { LOCAL_ERROR_CODE, PushError } from "./_errors.js";

/**
 * @typedef {import("./_subscription.js").Recovery} Recovery
 * @typedef {{ messageType?: unknown, message?: unknown, code?: unknown, data?: {
 *   uuid?: unknown, subscribedChannels?: unknown, errorDetails?: unknown, channel?: unknown,
 *   recovery?: Recovery, pushMessage?: { channel?: unknown, message?: unknown,
 *   offset?: unknown, epoch?: unknown } } }} Frame
 * @typedef {{ kind: "push", channel: string, message: unknown,
 *     position: { offset?: unknown, epoch?: unknown } }
 *   | { kind: "ack", recovery: Recovery | undefined, data: Record<string, unknown> | undefined }
 *   | { kind: "presence", change: "joined" | "left", channel: string, uuid: string,
 *       info: Record<string, unknown> }
 *   | { kind: "dropped", event: "channelDeleted" | "subscriptionRevoked", channels: string[] }
 *   | { kind: "error", error: PushError }
 *   | { kind: "unknown", error: PushError }} Reading
 */

/**
 * Reads one connection's frames. The server's view of the connection's subscriptions is taken
 * from each v1 frame, or kept from the compact acks (Subscribed adds; Unsubscribed, Channel
 * Deleted and Subscription Revoked remove).
 */
export class FrameReader {
  /** @type {string[]} */
  #channels = [];

  /** Every channel the server has this connection subscribed to, in its order. */
  get channels() {
    return [...this.#channels];
  }

  /**
   * What `frame` means: a push, the answer to the oldest request (`ack`, `error`), a channel
   * the server dropped unasked (`Channel Deleted`, `Subscription Revoked`: v1 frames name it by
   * leaving it out of `subscribedChannels`, compact ones by `data.channel`), or nothing known.
   * @param {Record<string, unknown> | null} raw
   * @returns {Reading}
   */
  read(raw) {
    const frame = /** @type {Frame | null} */ (raw);
    const data = frame?.data;
    const list = Array.isArray(data?.subscribedChannels)
      ? data.subscribedChannels.map(String)
      : null;
    const previous = this.#channels;
    if (list) this.#channels = list;
    const channel = typeof data?.channel === "string" ? data.channel : null;
    switch (frame?.messageType) {
      case "CLIENT_PUSH": {
        const push = data?.pushMessage;
        // Any JSON value but null (PROTOCOL.md "Payloads: any JSON value").
        if (typeof push?.channel !== "string" || push.message == null) break;
        return { kind: "push", channel: push.channel, message: push.message, position: push };
      }
      case "CLIENT_ACK": {
        const event = frame.message === "Channel Deleted"
          ? "channelDeleted"
          : frame.message === "Subscription Revoked"
          ? "subscriptionRevoked"
          : null;
        if (event) {
          if (channel !== null) this.#channels = previous.filter((c) => c !== channel);
          const channels = channel !== null
            ? [channel]
            : list
            ? previous.filter((c) => !list.includes(c))
            : [];
          return { kind: "dropped", event, channels };
        }
        // A compact ack names only the channel concerned.
        if (!list && channel !== null) {
          if (frame.message === "Subscribed" && !previous.includes(channel)) {
            this.#channels = [...previous, channel];
          } else if (frame.message === "Unsubscribed") {
            this.#channels = previous.filter((c) => c !== channel);
          }
        }
        return {
          kind: "ack",
          recovery: data?.recovery,
          data: /** @type {Record<string, unknown> | undefined} */ (data),
        };
      }
      case "CLIENT_PRESENCE": {
        const member = /** @type {{ uuid?: unknown, info?: unknown }} */ (data ?? {});
        if (channel === null || typeof member.uuid !== "string") break;
        if (frame.message !== "Joined" && frame.message !== "Left") break;
        return {
          kind: "presence",
          change: frame.message === "Joined" ? "joined" : "left",
          channel,
          uuid: member.uuid,
          info: /** @type {Record<string, unknown>} */ (member.info ?? {}),
        };
      }
      case "ERROR": {
        const error = new PushError(
          Number(frame.code) || 0,
          String(frame.message ?? "Error"),
          typeof data?.errorDetails === "string" ? data.errorDetails : null,
        );
        return { kind: "error", error };
      }
    }
    return {
      kind: "unknown",
      error: new PushError(
        LOCAL_ERROR_CODE,
        "Unexpected frame",
        "The server sent an unknown frame",
      ),
    };
  }
}
