/**
 * Presence on the wire (v1.2 "Presence"), pure: the `info` a subscriber describes itself with,
 * the `CLIENT_PRESENCE` frames, and the `Presence` answers to a client and to a publisher.
 * Member `info` travels as JSON text, serialized once at subscribe and embedded as is.
 */
import { PushError } from "../errors.ts";
import type { ParseResult } from "./fields.ts";
import { utf8ByteLength } from "./fields.ts";

/** Largest `info`, in UTF-8 bytes of its JSON text. */
export const MAX_INFO_BYTES = 1024;

/** Most members one presence answer lists (`truncated: true` when there are more). */
export const PRESENCE_LIST_MAX = 1000;

/** The `info` of a subscriber that sent none. */
export const EMPTY_INFO = "{}";

/** A member of a presence channel: its connection's UUID and the JSON text of its `info`. */
export interface PresenceMember {
  readonly uuid: string;
  readonly info: string;
}

/** Who is on a channel: every member counted, at most {@link PRESENCE_LIST_MAX} listed. */
export interface PresenceSnapshot {
  /** Members of a presence channel, or live subscribers of any other channel (every node). */
  readonly count: number;
  /** Empty on a channel without presence. */
  readonly members: readonly PresenceMember[];
  /** More members than listed. */
  readonly truncated: boolean;
}

/**
 * `data.info` of a `SUBSCRIBE` on a presence channel, as JSON text: absent or null = `{}`; a
 * JSON object of at most {@link MAX_INFO_BYTES} bytes serialized (no lone surrogate); anything
 * else is 400 `Invalid message`.
 */
export function presenceInfo(value: unknown): ParseResult<string> {
  if (value === undefined || value === null) return { ok: true, value: EMPTY_INFO };
  if (typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, error: badInfo("must be a JSON object") };
  }
  const text = JSON.stringify(value);
  // JSON.stringify escapes a lone surrogate (`"\ud800"`), so the strings are checked themselves.
  if (/\\ud[89a-f]/i.test(text) && !wellFormedStrings(value)) {
    return { ok: false, error: badInfo("must be well-formed Unicode (no lone surrogate)") };
  }
  const bytes = utf8ByteLength(text);
  if (bytes > MAX_INFO_BYTES) {
    return {
      ok: false,
      error: badInfo(`is ${bytes} bytes serialized; the limit is ${MAX_INFO_BYTES}`),
    };
  }
  return { ok: true, value: text };
}

/** Whether every string (keys too) in a parsed JSON value is well-formed Unicode. */
function wellFormedStrings(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item === "string") {
      if (!item.isWellFormed()) return false;
    } else if (typeof item === "object" && item !== null) {
      for (const [key, inner] of Object.entries(item)) {
        if (!key.isWellFormed()) return false;
        pending.push(inner);
      }
    }
  }
  return true;
}

function badInfo(problem: string): PushError {
  return new PushError("invalid_frame", `data.info: ${problem}`);
}

/** Whether a member came or went. */
export type PresenceChange = "Joined" | "Left";

/** The `CLIENT_PRESENCE` frame telling the other members that `member` joined or left. */
export function presenceFrame(
  change: PresenceChange,
  channel: string,
  member: PresenceMember,
): string {
  return `{"messageType":"CLIENT_PRESENCE","code":200,"message":"${change}","data":{"channel":${
    JSON.stringify(channel)
  },"uuid":${JSON.stringify(member.uuid)},"info":${member.info}}}`;
}

/** `"count":…,"members":[…]` (and `"truncated":true`) of both presence answers. */
function snapshotFields(snapshot: PresenceSnapshot): string {
  const members = snapshot.members
    .map((m) => `{"uuid":${JSON.stringify(m.uuid)},"info":${m.info}}`)
    .join(",");
  return `"count":${snapshot.count},"members":[${members}]` +
    (snapshot.truncated ? `,"truncated":true` : "");
}

/** The `CLIENT_ACK` `Presence` answering a client's `PRESENCE` action. */
export function presenceAck(channel: string, snapshot: PresenceSnapshot): string {
  return `{"messageType":"CLIENT_ACK","code":200,"message":"Presence","data":{"channel":${
    JSON.stringify(channel)
  },${snapshotFields(snapshot)}}}`;
}

/** The `SERVER_ACK` `Presence` answering a publisher's `READ_PRESENCE`. */
export function presenceServerAck(channel: string, snapshot: PresenceSnapshot): string {
  return `{"messageType":"SERVER_ACK","code":200,"message":"Presence","data":{"channel":${
    JSON.stringify(channel)
  },"channelToken":null,${snapshotFields(snapshot)}}}`;
}
