/** Grants on private channels: the seam between the publisher API and wherever connections live. */
import type { Channel } from "../channels/store.ts";
import type { Maybe } from "./lookup.ts";

/** Who may subscribe to which private channel. A grant lasts as long as its connection. */
export interface Grants {
  /**
   * Lets connection `uuid` subscribe to `channel` (this record of it: a deleted channel's
   * grants end). Resolves `false` when no live connection has that UUID; 429 past the
   * connection's grant limit.
   */
  grant(uuid: string, channel: Channel): Promise<boolean>;
  /**
   * Takes the grant back (if any) and unsubscribes the connection from `channel`, on whichever
   * node holds it, with a `Subscription Revoked` ack.
   */
  revoke(uuid: string, channel: Channel): Promise<void>;
  /** Whether `uuid` holds a grant on this record of `channel`. */
  isGranted(uuid: string, channel: Channel): Maybe<boolean>;
}

/** Which connection UUIDs are live: every node tells it when its connections open and close. */
export interface Presence {
  /**
   * Connection `id` opened (`true`) or closed on this node. For an opened one it may return a
   * promise that resolves (never rejects) once every node can find it (cluster-wide presence):
   * its `Connected` frame waits for it, so an authorize right after it finds the connection.
   */
  connection(id: string, open: boolean): Promise<void> | void;
}
