/** The single-node broker: delivers in-process, stores history in SQLite. */
import type { Channel } from "../channels/store.ts";
import type { SqliteChannelStore } from "./sqlite_store.ts";
import type { HistoryRead } from "../history/log.ts";
import { SqliteHistory } from "./sqlite_history.ts";
import type { Broker, BrokerHandler, ChannelEvent, PublishOptions } from "../hub/broker.ts";

/** Every node is this process: publishing is delivering. */
export class LocalBroker implements Broker {
  readonly #handler: BrokerHandler;
  readonly #history: SqliteHistory | undefined;

  /**
   * Delivers to `handler`; `store` keeps history (without one, history channels cannot be
   * published to, which only tests with a foreign store do).
   */
  constructor(handler: BrokerHandler, options: { store?: SqliteChannelStore; now: () => number }) {
    this.#handler = handler;
    this.#history = options.store === undefined ? undefined : new SqliteHistory({
      store: options.store,
      now: options.now,
      onCommitted: (push) =>
        handler.onPublication(
          push.channel,
          push.json === true
            ? {
              message: push.message,
              json: true,
              recipients: [],
              offset: push.offset,
              epoch: push.epoch,
            }
            : { message: push.message, recipients: [], offset: push.offset, epoch: push.epoch },
        ),
    });
  }

  publish(
    channel: Channel,
    message: string,
    recipients: readonly string[],
    options?: PublishOptions,
  ): Promise<number | undefined> {
    const json = options?.json === true;
    if (channel.history === null || recipients.length > 0) {
      this.#handler.onPublication(
        channel.name,
        json ? { message, json, recipients } : { message, recipients },
      );
      return Promise.resolve(undefined);
    }
    return this.#requireHistory().append(channel, message, json);
  }

  history(channel: Channel, since: number | undefined): Promise<HistoryRead> {
    return Promise.resolve(this.#requireHistory().read(channel, since));
  }

  channelEvent(channel: string, event: ChannelEvent): Promise<void> {
    this.#handler.onChannelEvent(channel, event);
    return Promise.resolve();
  }

  subscribe(): undefined {
    return undefined;
  }

  unsubscribe(): void {}

  forget(channel: Channel): void {
    this.#history?.forget(channel.name);
  }

  close(): Promise<void> {
    this.#history?.close();
    return Promise.resolve();
  }

  #requireHistory(): SqliteHistory {
    if (this.#history === undefined) throw new Error("this broker has no history store");
    return this.#history;
  }
}
