/**
 * The multi-node seam. Publishers hand pushes to a Broker; every node's
 * broker hands what reaches it to that node's {@link BrokerHandler} (its hub), which delivers to
 * local connections and counts the deliveries. A node asks for a channel's traffic with
 * `subscribe` while it has local subscribers (per-channel interest, as centrifuge does).
 */
import type { Channel } from "../channels/store.ts";
import type { HistoryPageSize, HistoryRead } from "../history/log.ts";

/** A push as it travels from a publisher to the nodes. */
export interface Publication {
  /** The string message, or with `json` the JSON text of any other value (v1.2). */
  readonly message: string;
  readonly json?: boolean;
  /** Empty: every subscriber; otherwise only these connections (filtered on each node). */
  readonly recipients: readonly string[];
  /** Stream position, on stored (history) pushes only. */
  readonly offset?: number;
  readonly epoch?: string;
}

/**
 * What a push reached (v1.2 receipts), filled in by the broker from the counts of the nodes that
 * deliver it: `publish` resolves once every node answered, or after at most 1 s (`partial`).
 */
export interface Receipt {
  /** Connections the push was handed to, on every node. */
  delivered: number;
  /** For a targeted push: the recipients it was handed to (else undefined). */
  readonly reached: Set<string> | undefined;
  /** A node did not answer in time. */
  partial: boolean;
}

/** How a push is made, beyond v1's channel, message and recipients. */
export interface PublishOptions {
  /** `message` is the JSON text of a non-string value. */
  readonly json?: boolean;
  /** Count what the push reaches into this receipt before resolving. */
  readonly receipt?: Receipt;
  /** v1.2 idempotent push: made at most once per key, channel and {@link ONCE_TTL_MS}. */
  readonly once?: PushOnce;
}

/** How long a push's `idempotencyKey` stays used on its channel (PROTOCOL.md v1.2). */
export const ONCE_TTL_MS = 300_000;

/**
 * An idempotent push's key. When the key was used on the same channel (same epoch) within
 * {@link ONCE_TTL_MS}, on any node, the broker neither delivers nor stores the push again: it
 * sets `earlier` and resolves with the first push's offset.
 */
export interface PushOnce {
  readonly key: string;
  earlier?: EarlierPush;
}

/** What the first push with a key was answered: its offset and, with `receipt`, its counts. */
export interface EarlierPush {
  readonly offset?: number;
  readonly receipt?: {
    readonly delivered: number;
    /** Targeted pushes: the recipients it reached. */
    readonly reached?: readonly string[];
    readonly partial: boolean;
  };
}

/** Something that happened to a channel that its subscribers must learn. */
export type ChannelEvent =
  | { readonly type: "deleted" }
  | { readonly type: "revoked"; readonly uuid: string };

/** Receives what the broker carries to this node. */
export interface BrokerHandler {
  /**
   * Delivers to local connections and answers how many got it; with `reached`, adds the UUIDs
   * of the connections that got it (receipts of targeted pushes).
   */
  onPublication(
    channel: string,
    publication: Publication,
    reached?: Set<string>,
  ): { readonly delivered: number } | void;
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
    options?: PublishOptions,
  ): Promise<number | undefined>;
  /**
   * The stream top of a history channel and, when `since` is given, one page of what came after
   * it (read on from the last entry's offset for more).
   */
  history(
    channel: Channel,
    since: number | undefined,
    page?: HistoryPageSize,
  ): Promise<HistoryRead>;
  /** Starts receiving `channel`'s traffic on this node; resolves once in force. */
  subscribe(channel: string): Promise<void> | undefined;
  /** Stops receiving `channel`'s traffic on this node. */
  unsubscribe(channel: string): void;
  /** Commits what is pending and stops handing traffic to the handler. */
  close(): Promise<void>;
}
