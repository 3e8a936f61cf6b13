/** The single-node broker: delivers in-process, stores history in SQLite. */
import type { Channel } from "../channels/store.ts";
import type { HistoryPageSize, HistoryRead } from "../history/log.ts";
import type { Broker, BrokerHandler, Publication, PublishOptions, Receipt } from "../hub/broker.ts";
import type { FaultReporter } from "../metrics.ts";
import { SqliteHistory } from "./sqlite_history.ts";
import { LocalPushKeys } from "./push_keys.ts";
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
  /** v1.2 idempotent pushes (push_keys.ts). */
  readonly #keys: LocalPushKeys;

  /** Delivers to `handler`; history goes to `options.store`. */
  constructor(handler: BrokerHandler, options: LocalBrokerOptions) {
    this.#handler = handler;
    this.#keys = new LocalPushKeys(options);
    this.#history = new SqliteHistory({
      store: options.store,
      now: options.now,
      onCommitted: (push, receipt) =>
        deliver(
          handler,
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
          receipt,
        ),
      ...(options.wrote === undefined ? {} : { wrote: options.wrote }),
      ...(options.reportFault === undefined ? {} : { reportFault: options.reportFault }),
    });
  }

  publish(
    channel: Channel,
    message: string,
    recipients: readonly string[],
    options?: PublishOptions,
  ): Promise<number | undefined> {
    const once = options?.once;
    if (once !== undefined) {
      const { once: _, ...made } = options!;
      return this.#keys.run(
        channel,
        once,
        options?.receipt,
        () => this.publish(channel, message, recipients, made),
      );
    }
    const json = options?.json === true;
    if (channel.history === null || recipients.length > 0) {
      deliver(
        this.#handler,
        channel.name,
        json ? { message, json, recipients } : { message, recipients },
        options?.receipt,
      );
      return Promise.resolve(undefined);
    }
    return this.#history.append(channel, message, json, options?.receipt);
  }

  history(
    channel: Channel,
    since: number | undefined,
    page?: HistoryPageSize,
  ): Promise<HistoryRead> {
    try {
      return Promise.resolve(this.#history.read(channel, since, page));
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

/** Hands a publication to this process's hub, counting it into `receipt` when one is asked. */
function deliver(
  handler: BrokerHandler,
  channel: string,
  publication: Publication,
  receipt: Receipt | undefined,
): void {
  if (receipt === undefined) {
    handler.onPublication(channel, publication);
    return;
  }
  const report = handler.onPublication(channel, publication, receipt.reached);
  receipt.delivered += report?.delivered ?? 0;
}
