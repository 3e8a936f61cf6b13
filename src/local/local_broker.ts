/** The single-node broker: delivers in-process, stores history in SQLite. */
import type { Channel } from "../channels/store.ts";
import type { HistoryRead } from "../history/log.ts";
import type { Broker, BrokerHandler } from "../hub/broker.ts";
import type { FaultReporter } from "../metrics.ts";
import { SqliteHistory } from "./sqlite_history.ts";
import type { SqliteChannelStore } from "./sqlite_store.ts";
import { storeFault } from "./store_faults.ts";

/** Options of {@link LocalBroker}. */
export interface LocalBrokerOptions {
  /** Where history is kept. */
  readonly store: SqliteChannelStore;
  readonly now: () => number;
  /** Told the outcome of each history write (`error` undefined when it worked). */
  readonly wrote?: (error?: unknown) => void;
  readonly reportFault?: FaultReporter;
}

/** Every node is this process: publishing is delivering. */
export class LocalBroker implements Broker {
  readonly #handler: BrokerHandler;
  readonly #history: SqliteHistory;

  /** Delivers to `handler`; history goes to `options.store`. */
  constructor(handler: BrokerHandler, options: LocalBrokerOptions) {
    this.#handler = handler;
    this.#history = new SqliteHistory({
      store: options.store,
      now: options.now,
      onCommitted: (push) =>
        handler.onPublication(push.channel, {
          message: push.message,
          recipients: [],
          offset: push.offset,
          epoch: push.epoch,
        }),
      ...(options.wrote === undefined ? {} : { wrote: options.wrote }),
      ...(options.reportFault === undefined ? {} : { reportFault: options.reportFault }),
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
    return this.#history.append(channel, message);
  }

  history(channel: Channel, since: number | undefined): Promise<HistoryRead> {
    try {
      return Promise.resolve(this.#history.read(channel, since));
    } catch (error) {
      return Promise.reject(storeFault(error) ?? error);
    }
  }

  subscribe(): undefined {
    return undefined;
  }

  unsubscribe(): void {}

  /** A deleted channel: its subscribers are told, its stream is forgotten (its rows went with it). */
  deleted(name: string): void {
    this.#history.forget(name);
    this.#handler.onChannelEvent(name, { type: "deleted" });
  }

  close(): Promise<void> {
    this.#history.close();
    return Promise.resolve();
  }
}
