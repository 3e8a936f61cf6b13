/**
 * Presence kept in this process (single node): the members of each presence channel in join
 * order, told to the hub's other subscribers at once. Counts of other channels are the hub's.
 */
import type { Channel } from "../channels/store.ts";
import type { Hub } from "../hub/hub.ts";
import {
  announce,
  type ChannelPresence,
  type ChannelPresenceOptions,
  PRESENCE_LIST_MAX,
  presenceFull,
  type PresenceMember,
  type PresenceSnapshot,
  runHook,
} from "../hub/channel_presence.ts";
import type { Logger } from "../log.ts";

/** Presence of one process's connections, which are all the connections there are. */
export class LocalChannelPresence implements ChannelPresence {
  readonly #hub: Hub;
  readonly #options: ChannelPresenceOptions;
  readonly #logger: Logger | undefined;
  /** Presence channel → member UUID → info JSON text (Map order: join order). */
  readonly #channels = new Map<string, Map<string, string>>();
  #members = 0;

  /** Presence over `hub`'s subscribers. */
  constructor(hub: Hub, options: ChannelPresenceOptions & { readonly logger?: Logger }) {
    this.#hub = hub;
    this.#options = options;
    this.#logger = options.logger;
  }

  get localMembers(): number {
    return this.#members;
  }

  join(channel: string, member: PresenceMember): number {
    let members = this.#channels.get(channel);
    if (members?.has(member.uuid)) return members.size;
    const max = this.#options.maxMembers;
    if ((members?.size ?? 0) >= max) throw presenceFull(channel, max);
    if (members === undefined) this.#channels.set(channel, members = new Map());
    members.set(member.uuid, member.info);
    this.#members++;
    this.#hook(() => this.#options.hooks?.onJoined?.(channel, member.uuid, member.info));
    announce(
      this.#hub,
      { change: "Joined", channel, member, members: members.size },
      this.#options.eventsMax,
    );
    return members.size;
  }

  subscribed(channel: string): void {
    if (this.#hub.subscriberCount(channel) === 1) {
      this.#hook(() => this.#options.hooks?.onOccupied?.(channel));
    }
  }

  unsubscribed(channel: string, id: string): Promise<void> | void {
    const members = this.#channels.get(channel);
    const info = members?.get(id);
    let left: Promise<void> | void = undefined;
    if (members !== undefined && info !== undefined) {
      const before = members.size;
      members.delete(id);
      this.#members--;
      if (members.size === 0) this.#channels.delete(channel);
      left = this.#hook(() => this.#options.hooks?.onLeft?.(channel, id, info));
      announce(
        this.#hub,
        { change: "Left", channel, member: { uuid: id, info }, members: before },
        this.#options.eventsMax,
      );
    }
    if (this.#hub.subscriberCount(channel) === 0) {
      this.#hook(() => this.#options.hooks?.onVacated?.(channel));
    }
    return left;
  }

  /** Call before the hub drops the channel's subscribers. */
  dropped(channel: string): void {
    const members = this.#channels.get(channel);
    this.#channels.delete(channel);
    for (const [uuid, info] of members ?? []) {
      this.#members--;
      this.#hook(() => this.#options.hooks?.onLeft?.(channel, uuid, info));
    }
    if (this.#hub.subscriberCount(channel) > 0) {
      this.#hook(() => this.#options.hooks?.onVacated?.(channel));
    }
  }

  read(channel: Channel): PresenceSnapshot {
    if (channel.presence !== true) {
      return { count: this.#hub.subscriberCount(channel.name), members: [], truncated: false };
    }
    const members = this.#channels.get(channel.name);
    if (members === undefined) return { count: 0, members: [], truncated: false };
    const listed: PresenceMember[] = [];
    for (const [uuid, info] of members) {
      if (listed.length >= PRESENCE_LIST_MAX) break;
      listed.push({ uuid, info });
    }
    return { count: members.size, members: listed, truncated: members.size > listed.length };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** A hook that throws never breaks a subscribe or a leave; it is logged. */
  #hook(call: () => void | Promise<void>): Promise<void> | void {
    return runHook(this.#logger, call);
  }
}
