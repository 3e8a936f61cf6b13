/**
 * A recovery's hold: while a connection replays missed pushes of one channel, the frames the
 * hub sends it are held, then released after the replay without a gap or a repeat. Live pushes
 * of a recovered channel that arrive after the replay already carried them are skipped.
 */
import { CLOSE } from "../errors.ts";
import type { Held, Member } from "./_member.ts";

/** An empty hold for a replay of `channel`. */
export function newHeld(channel: string): Held {
  return { channel, frames: [], chars: 0, dropped: false, cancelled: false };
}

/**
 * Holds one frame for `member` (whose `held` is `held`) instead of sending it; returns whether
 * it counts as sent. A live push of the recovering channel past `maxChars` is left out (the
 * replay reads it from history); any other frame past it closes the connection as a slow consumer.
 */
export function holdFrame(
  member: Member,
  held: Held,
  frame: string,
  channel: string | undefined,
  offset: number | undefined,
  maxChars: number,
): boolean {
  if (channel === held.channel && offset !== undefined) {
    if (held.cancelled) return false;
    if (held.dropped || held.chars + frame.length > maxChars) {
      // Stored already: the replay reads it from history rather than holding it here.
      held.dropped = true;
      return true;
    }
  }
  held.frames.push({ frame, channel, offset });
  held.chars += frame.length;
  if (held.chars > maxChars) {
    member.subscriber.close(CLOSE.slowConsumer.code, CLOSE.slowConsumer.reason);
    return false;
  }
  return true;
}

/**
 * Whether the held live pushes of the recovering channel continue a replay that reached
 * `replayedUpTo` without a gap (and none was left out for room).
 */
export function continuesReplay(held: Held, replayedUpTo: number): boolean {
  if (held.dropped) return false;
  const next = held.frames.find((f) =>
    f.channel === held.channel && f.offset !== undefined && f.offset > replayedUpTo
  );
  return next === undefined || next.offset === replayedUpTo + 1;
}

/**
 * The held frames in order, without the pushes of the recovered channel at or below
 * `replayedUpTo` (the replay already carried them), and the top offset they reach.
 */
export function releasedFrames(
  held: Held,
  replayedUpTo: number,
): { frames: string[]; top: number } {
  let top = replayedUpTo;
  const frames = held.frames
    .filter((f) => {
      if (f.channel !== held.channel || f.offset === undefined) return true;
      if (f.offset <= top) return false;
      top = f.offset;
      return true;
    })
    .map((f) => f.frame);
  return { frames, top };
}

/** Drops the held pushes of `channel`. */
export function purgeHeld(held: Held, channel: string): void {
  held.frames = held.frames.filter((f) => {
    if (f.channel !== channel || f.offset === undefined) return true;
    held.chars -= f.frame.length;
    return false;
  });
}

/** A revoke or delete of `channel` ends `member`'s replay of it, if any. */
export function cancelHeld(member: Member, channel: string): void {
  const held = member.held;
  if (held?.channel === channel) {
    held.cancelled = true;
    purgeHeld(held, channel);
  }
}

/**
 * Whether a live push of a recovered channel is one the connection's stream already had
 * (`member.reached` is set). The entry goes once a live push reaches it.
 */
export function isLate(member: Member, channel: string, offset: number): boolean {
  const reached = member.reached!.get(channel);
  if (reached === undefined) return false;
  if (offset >= reached) {
    member.reached!.delete(channel);
    if (member.reached!.size === 0) member.reached = undefined;
  }
  return offset <= reached;
}
