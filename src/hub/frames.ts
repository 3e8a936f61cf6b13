/**
 * Push frames, built in one place for live fan-out ({@link Hub.deliver}) and for replays (a
 * recovery's missed pushes): the `pushMessage` JSON is serialized once per push, a v1 frame is a
 * subscriber's cached head plus the shared tail, a compact frame is one string for everyone.
 * And the acks the hub sends a connection, in its frame mode.
 */
import {
  type AckPresence,
  clientAck,
  compactAck,
  compactPush,
  pushHead,
  pushMessage,
  pushTail,
  type Recovery,
} from "../protocol/outbound.ts";

/** A stream position carried by stored (history) pushes. */
export interface FramePosition {
  readonly offset: number;
  readonly epoch: string;
}

/** The frames of one push, each built on first use. */
export class PushFrames {
  #tail: string | undefined;
  #compact: string | undefined;

  /** Frames around an already serialized `pushMessage`. */
  constructor(readonly pushMessage: string) {}

  /**
   * The frames of `message` pushed on `channel` (at `position`, when stored); `json`: `message` is
   * the JSON text of a non-string value.
   */
  static of(
    channel: string,
    message: string,
    position?: FramePosition,
    json?: boolean,
  ): PushFrames {
    return new PushFrames(pushMessage(channel, message, position, json));
  }

  /** The part of a v1 frame after the subscriber's head. */
  tail(): string {
    return this.#tail ??= pushTail(this.pushMessage);
  }

  /** The compact frame (the same for every compact subscriber). */
  compact(): string {
    return this.#compact ??= compactPush(this.pushMessage);
  }
}

/** The head of a subscriber's v1 push frames (its UUID and channels). */
export function frameHead(uuid: string, channels: readonly string[]): string {
  return pushHead({ uuid, channels });
}

/** A connection as its acks need it: UUID, frame mode and channels in subscription order. */
export interface AckTarget {
  readonly subscriber: { readonly id: string; readonly compact: boolean };
  readonly channels: readonly string[];
}

/** The ack `to` gets for `message` about `channel`, in its frame mode. */
export function ackFrame(
  to: AckTarget,
  message: string,
  channel: string,
  recovery?: Recovery,
  presence?: AckPresence,
): string {
  const uuid = to.subscriber.id;
  return to.subscriber.compact
    ? compactAck(message, uuid, channel, recovery, presence)
    : clientAck(message, { uuid, channels: to.channels }, recovery, presence);
}
