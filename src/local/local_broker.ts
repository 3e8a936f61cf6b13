/** The single-node broker: delivers in-process, stores history in SQLite. */
import type { Channel } from "../channels/store.ts";
import type { SqliteChannelStore } from "./sqlite_store.ts";
import type { HistoryPageSize, HistoryRead } from "../history/log.ts";
import { SqliteHistory } from "./sqlite_history.ts";
import { LocalPushKeys } from "./push_keys.ts";
import type {
  Broker,
  BrokerHandler,
  ChannelEvent,
  Publication,
  PublishOptions,
  Receipt,
} from "../hub/broker.ts";

/** Every node is this process: publishing is delivering. */
export class LocalBroker implements Broker {
  readonly #handler: BrokerHandler;
  readonly #history: SqliteHistory | undefined;
  readonly #keys: LocalPushKeys;

  /**
   * Delivers to `handler`; `store` keeps history (without one, history channels cannot be
   * published to, which only tests with a foreign store do).
   */
  constructor(handler: BrokerHandler, options: { store?: SqliteChannelStore; now: () => number }) {
    this.#handler = handler;
    this.#keys = new LocalPushKeys(options);
    this.#history = options.store === undefined ? undefined : new SqliteHistory({
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
    return this.#requireHistory().append(channel, message, json, options?.receipt);
  }

  history(
    channel: Channel,
    since: number | undefined,
    page?: HistoryPageSize,
  ): Promise<HistoryRead> {
    return Promise.resolve(this.#requireHistory().read(channel, since, page));
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
