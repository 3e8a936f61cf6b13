/** Server → client envelopes as pure string builders (no sockets, no clock, no storage). */
import { ERRORS, type PushError } from "../errors.ts";

/** `ERROR` envelope for either transport. */
export function errorEnvelope(error: PushError): string {
  const { status, message } = ERRORS[error.code];
  return JSON.stringify({
    messageType: "ERROR",
    code: status,
    message,
    data: { errorDetails: error.details },
  });
}

/** `SERVER_ACK` envelope answering a publisher. */
export function serverAck(message: string, channel: string, channelToken: string | null): string {
  return JSON.stringify({
    messageType: "SERVER_ACK",
    code: 200,
    message,
    data: { channel, channelToken },
  });
}

/** `CLIENT_ACK` envelope for a subscriber. */
export function clientAck(
  message: string,
  subscriber: { uuid: string; channels: readonly string[] },
): string {
  return JSON.stringify({
    messageType: "CLIENT_ACK",
    code: 200,
    message,
    data: { uuid: subscriber.uuid, subscribedChannels: subscriber.channels },
  });
}

/**
 * The per-subscriber head of a `CLIENT_PUSH` frame, up to `"pushMessage":`. It only changes
 * when the subscriber's channels change, so the hub caches it per connection.
 */
export function pushHead(subscriber: { uuid: string; channels: readonly string[] }): string {
  return `{"messageType":"CLIENT_PUSH","code":200,"message":"Push Message","data":{"uuid":${
    JSON.stringify(subscriber.uuid)
  },"subscribedChannels":${JSON.stringify(subscriber.channels)},"pushMessage":`;
}

/** The shared tail of a `CLIENT_PUSH` frame, serialized once per push: `head + tail` is the frame. */
export function pushTail(channel: string, message: string): string {
  return `${JSON.stringify({ channel, message })}}}`;
}
