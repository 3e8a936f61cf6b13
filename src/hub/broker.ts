/** The multi-node seam: publishers hand messages to a Broker, which reaches every node's Hub. */
import type { DeliveryReport, Hub } from "./hub.ts";

/**
 * Carries pushes and channel deletions to subscribers. At-most-once; per-channel order is
 * preserved; never waits on a subscriber.
 */
export interface Broker {
  /** Delivers `message` on `channel` (to `recipients` only, when non-empty). */
  publish(channel: string, message: string, recipients: readonly string[]): Promise<DeliveryReport>;
  /** Unsubscribes everyone from a deleted channel and tells them. */
  channelDeleted(channel: string): Promise<void>;
}

/** A single-process broker: publishes straight into the local hub. */
export class LocalBroker implements Broker {
  readonly #hub: Hub;

  /** Wraps the local hub. */
  constructor(hub: Hub) {
    this.#hub = hub;
  }

  publish(
    channel: string,
    message: string,
    recipients: readonly string[],
  ): Promise<DeliveryReport> {
    return Promise.resolve(this.#hub.deliver(channel, message, recipients));
  }

  channelDeleted(channel: string): Promise<void> {
    this.#hub.dropChannel(channel);
    return Promise.resolve();
  }
}
