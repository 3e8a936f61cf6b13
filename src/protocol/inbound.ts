/** Subscriber → server frames: schemas and a parser that never throws. */
import { z } from "zod";
import { PushError } from "../errors.ts";
import {
  channelName,
  exactly,
  expecting,
  object,
  type ParseErrors,
  parseJson,
  type ParseResult,
  validate,
} from "./fields.ts";
import { wellFormedInbound } from "./inbound_fast_path.ts";

/**
 * The schema of a subscriber frame (the API description is built from it too, and the fast
 * path's property test holds {@link wellFormedInbound} to it).
 */
export const inboundSchema = object({
  messageType: exactly("CLIENT_ACTION"),
  action: z.enum(["SUBSCRIBE", "UNSUBSCRIBE", "PRESENCE"], {
    error: (issue) =>
      issue.input === undefined
        ? "is required"
        : 'must be "SUBSCRIBE", "UNSUBSCRIBE" or "PRESENCE"',
  }),
  data: object({
    channel: channelName,
    // v1.1: resume a history channel's stream after this position; null = absent.
    since: object({
      offset: z.number({ error: expecting("a whole number ≥ 0") }).int({
        error: "must be a whole number ≥ 0",
      }).min(0, { error: "must be a whole number ≥ 0" }).max(Number.MAX_SAFE_INTEGER, {
        error: "must be a whole number ≥ 0",
      }),
      epoch: z.string({ error: expecting("a string") }),
    }).nullish().transform((since) => since ?? undefined),
    // v1.2: a subscriber token (JWT) for a private channel; ignored on public channels.
    token: z.string({ error: expecting("a string") }).optional(),
    // v1.2: how a subscriber describes itself on a presence channel (checked there, by
    // presenceInfo(), since it is ignored on every other channel).
    info: z.unknown().optional().meta({
      description: "Presence channels: a JSON object of at most 1,024 bytes serialized",
      type: "object",
    }),
  }),
  // The original client sent its UUID; when present (not null) it must be this connection's.
  uuid: z.string({ error: expecting("a string or null") }).nullish(),
});

/** A valid subscriber action. */
export type InboundFrame = z.output<typeof inboundSchema>;

const FRAME_ERRORS: ParseErrors = {
  badJson: "frame_bad_json",
  badJsonDetails: "Frame is not valid JSON",
  badShape: "invalid_frame",
};

/** Parses one text frame: `Bad JSON` when it is not JSON, `Invalid message` when the shape is wrong. */
export function parseInbound(text: string): ParseResult<InboundFrame> {
  const parsed = parseJson(text);
  if (parsed === undefined) {
    return { ok: false, error: new PushError(FRAME_ERRORS.badJson, FRAME_ERRORS.badJsonDetails) };
  }
  const fast = wellFormedInbound(parsed.json);
  if (fast !== undefined) return { ok: true, value: fast };
  return validate(inboundSchema, parsed.json, FRAME_ERRORS);
}
