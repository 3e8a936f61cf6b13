/** The single-node broker: delivers in-process, stores history in SQLite. */
import type { Channel } from "../channels/store.ts";
import type { SqliteChannelStore } from "./sqlite_store.ts";
import type { HistoryRead } from "../history/log.ts";
import { SqliteHistory } from "./sqlite_history.ts";
import type { Broker, BrokerHandler } from "../hub/broker.ts";

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
        handler.onPublication(push.channel, {
          message: push.message,
          recipients: [],
          offset: push.offset,
          epoch: push.epoch,
        }),
    });
  }

  publish(
    channel: Channel,
    message: string,
    recipients: readonly string[],
  ): Promise<number | undefined> {
    if (channel.history === null || recipients.length > 0) {
      this.#handler.onPublication(channel.name, { message, recipients });
      return Promise.resolve(undefined);
    }
    return this.#requireHistory().append(channel, message);
  }

  history(channel: Channel, since: number | undefined): Promise<HistoryRead> {
    return Promise.resolve(this.#requireHistory().read(channel, since));
  }

  subscribe(): undefined {
    return undefined;
  }

  unsubscribe(): void {}

  /** A deleted channel: its subscribers are told, its stream is forgotten (its rows went with it). */
  deleted(name: string): void {
    this.#history?.forget(name);
    this.#handler.onChannelEvent(name, { type: "deleted" });
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
