/** Subscriber → server frames: schemas and a parser that never throws. */
import { z } from "zod";
import { channelName, exactly, expecting, object, type ParseResult, parseWith } from "./fields.ts";

/** The schema of a subscriber frame (the API description is built from it too). */
export const inboundSchema = object({
  messageType: exactly("CLIENT_ACTION"),
  action: z.enum(["SUBSCRIBE", "UNSUBSCRIBE"], {
    error: (issue) =>
      issue.input === undefined ? "is required" : 'must be "SUBSCRIBE" or "UNSUBSCRIBE"',
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
  }),
  // The original client sent its UUID; when present (not null) it must be this connection's.
  uuid: z.string({ error: expecting("a string or null") }).nullish(),
});

/** A valid subscriber action. */
export type InboundFrame = z.output<typeof inboundSchema>;

/** Parses one text frame: `Bad JSON` when it is not JSON, `Invalid message` when the shape is wrong. */
export function parseInbound(text: string): ParseResult<InboundFrame> {
  return parseWith(inboundSchema, text, {
    badJson: "frame_bad_json",
    badJsonDetails: "Frame is not valid JSON",
    badShape: "invalid_frame",
  });
}
