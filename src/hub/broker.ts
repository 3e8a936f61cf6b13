/**
 * The multi-node seam. Publishers hand pushes to a Broker; every node's
 * broker hands what reaches it to that node's {@link BrokerHandler} (its hub), which delivers to
 * local connections and counts the deliveries. A node asks for a channel's traffic with
 * `subscribe` while it has local subscribers (per-channel interest, as centrifuge does).
 */
import type { Channel } from "../channels/store.ts";
import type { HistoryRead } from "../history/log.ts";

/** A push as it travels from a publisher to the nodes. */
export interface Publication {
  readonly message: string;
  /** Empty: every subscriber; otherwise only these connections (filtered on each node). */
  readonly recipients: readonly string[];
  /** Stream position, on stored (history) pushes only. */
  readonly offset?: number;
  readonly epoch?: string;
}

/** Something that happened to a channel that its subscribers must learn. */
export type ChannelEvent =
  | { readonly type: "deleted" }
  | { readonly type: "revoked"; readonly uuid: string };

/** Receives what the broker carries to this node. */
export interface BrokerHandler {
  onPublication(channel: string, publication: Publication): void;
  onChannelEvent(channel: string, event: ChannelEvent): void;
}

/**
 * Carries pushes to every node, and stores history pushes first. Channel events reach the
 * handler from where they happen: a store's delete announces itself (atomically with the delete,
 * in Redis), and so does a revoke (see {@link Grants}).
 */
export interface Broker {
  /**
   * Sends `message` to the channel's subscribers on every node (to `recipients` only, when
   * non-empty). A broadcast on a history channel is stored first and resolves with its offset
   * once durable; anything else resolves `undefined` once handed on.
   */
  publish(
    channel: Channel,
    message: string,
    recipients: readonly string[],
  ): Promise<number | undefined>;
  /** The stream top of a history channel and, when `since` is given, what came after it. */
  history(channel: Channel, since: number | undefined): Promise<HistoryRead>;
  /** Starts receiving `channel`'s traffic on this node; resolves once in force. */
  subscribe(channel: string): Promise<void> | undefined;
  /** Stops receiving `channel`'s traffic on this node. */
  unsubscribe(channel: string): void;
  /** Commits what is pending and stops handing traffic to the handler. */
  close(): Promise<void>;
}
