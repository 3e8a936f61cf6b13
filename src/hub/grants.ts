/** Grants on private channels: the seam between the publisher API and wherever connections live. */
import type { Channel } from "../channels/store.ts";
import type { Hub } from "./hub.ts";

/** Who may subscribe to which private channel. A grant lasts as long as its connection. */
export interface Grants {
  /**
   * Lets connection `uuid` subscribe to `channel` (this record of it: a deleted channel's
   * grants end). Resolves `false` when no live connection has that UUID.
   */
  grant(uuid: string, channel: Channel): Promise<boolean>;
  /** Takes the grant back (if any). Unsubscribing the connection is a channel event. */
  revoke(uuid: string, channel: Channel): Promise<void>;
  /** Whether `uuid` holds a grant on this record of `channel`. */
  isGranted(uuid: string, channel: Channel): boolean | Promise<boolean>;
}

/** Grants held by this process's hub (single node). */
export function localGrants(hub: Hub): Grants {
  return {
    grant: (uuid, channel) => Promise.resolve(hub.grant(uuid, channel.name, channel.epoch)),
    revoke(uuid, channel) {
      hub.revokeGrant(uuid, channel.name);
      return Promise.resolve();
    },
    isGranted: (uuid, channel) => hub.isGranted(uuid, channel.name, channel.epoch),
  };
}
