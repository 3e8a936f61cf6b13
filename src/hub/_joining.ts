/**
 * Subscribes in flight: while a connection's subscribe checks its channel and grant, a revoke or
 * delete of the channel marks it, so that the subscribe throws instead of ending subscribed.
 */
import { channelNotFound } from "../channels/failures.ts";
import { PushError } from "../errors.ts";
import type { Member } from "./_member.ts";

/** The members with a subscribe in flight, by channel. One per member at a time. */
export class Joiners {
  readonly #byChannel = new Map<string, Set<Member>>();

  /** `member` begins a subscribe to `channel` (ending the one it had in flight). */
  start(member: Member, channel: string): void {
    this.stop(member);
    member.joining = { channel, ended: undefined };
    let joiners = this.#byChannel.get(channel);
    if (joiners === undefined) this.#byChannel.set(channel, joiners = new Set());
    joiners.add(member);
  }

  /** `member`'s subscribe in flight, if any, is over. */
  stop(member: Member): void {
    const joining = member.joining;
    if (joining === undefined) return;
    member.joining = undefined;
    const joiners = this.#byChannel.get(joining.channel);
    if (joiners?.delete(member) && joiners.size === 0) this.#byChannel.delete(joining.channel);
  }

  /** `channel` was deleted: every subscribe in flight to it ends with a 404. */
  deleted(channel: string): void {
    for (const member of this.#byChannel.get(channel) ?? []) member.joining!.ended = "deleted";
  }
}

/** A subscribe that was in flight when its channel's grant was revoked or the channel deleted. */
export function endedWhileJoining(channel: string, how: "revoked" | "deleted"): PushError {
  return how === "deleted" ? channelNotFound(channel) : new PushError(
    "private_channel",
    `The subscription to ${
      JSON.stringify(channel)
    } was revoked while it was being made; this connection is not authorized`,
  );
}
