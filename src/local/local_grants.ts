/** Grants of a single node: held in memory beside its hub, and gone with their connection. */
import type { Channel } from "../channels/store.ts";
import { PushError } from "../errors.ts";
import type { BrokerHandler } from "../hub/broker.ts";
import type { Grants, Presence } from "../hub/grants.ts";
import type { Hub } from "../hub/hub.ts";

/** Options of {@link LocalGrants}. */
export interface LocalGrantsOptions {
  /** Whose connections are live (a grant needs one). */
  readonly hub: Hub;
  /** Where a revoke is announced (the hub unsubscribes the connection). */
  readonly handler: BrokerHandler;
  /** Most grants one connection may hold; past it, 429. */
  readonly maxGrants: number;
}

/** Grants by connection: channel → the epoch it was granted for. */
export class LocalGrants implements Grants, Presence {
  readonly #options: LocalGrantsOptions;
  readonly #byConnection = new Map<string, Map<string, string>>();
  /** Connections holding a grant on each channel (so a delete forgets them at once). */
  readonly #byChannel = new Map<string, Set<string>>();

  /** Creates the grants of one node. */
  constructor(options: LocalGrantsOptions) {
    this.#options = options;
  }

  grant(uuid: string, channel: Channel): Promise<boolean> {
    if (!this.#options.hub.has(uuid)) return Promise.resolve(false);
    let grants = this.#byConnection.get(uuid);
    if (grants === undefined) this.#byConnection.set(uuid, grants = new Map());
    const { maxGrants } = this.#options;
    if (!grants.has(channel.name) && grants.size >= maxGrants) {
      return Promise.reject(
        new PushError(
          "too_many_requests",
          `A connection may hold grants on at most ${maxGrants} channels`,
        ),
      );
    }
    grants.set(channel.name, channel.epoch);
    let holders = this.#byChannel.get(channel.name);
    if (holders === undefined) this.#byChannel.set(channel.name, holders = new Set());
    holders.add(uuid);
    return Promise.resolve(true);
  }

  revoke(uuid: string, channel: Channel): Promise<void> {
    this.#ungrant(uuid, channel.name);
    this.#options.handler.onChannelEvent(channel.name, { type: "revoked", uuid });
    return Promise.resolve();
  }

  isGranted(uuid: string, channel: Channel): boolean {
    return this.#byConnection.get(uuid)?.get(channel.name) === channel.epoch;
  }

  /** A closed connection's grants end with it. */
  connection(id: string, open: boolean): void {
    if (open) return;
    for (const name of this.#byConnection.get(id)?.keys() ?? []) this.#ungrant(id, name);
  }

  /** A deleted channel's grants end (a re-created one has another epoch anyway). */
  forgetChannel(name: string): void {
    for (const uuid of this.#byChannel.get(name) ?? []) this.#ungrant(uuid, name);
  }

  #ungrant(uuid: string, name: string): void {
    const grants = this.#byConnection.get(uuid);
    if (grants?.delete(name)) {
      if (grants.size === 0) this.#byConnection.delete(uuid);
      const holders = this.#byChannel.get(name)!;
      holders.delete(uuid);
      if (holders.size === 0) this.#byChannel.delete(name);
    }
  }
}
