/** Server → client envelopes as pure string builders (no sockets, no clock, no storage). */
import { ERRORS, type PushError, retryHeaders } from "../errors.ts";

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

/**
 * The HTTP answer of an error on either port: the `ERROR` envelope with the catalog status as
 * the HTTP status (the only builder of error responses, so the ports cannot drift apart).
 */
export function errorResponse(error: PushError, headers: Record<string, string> = {}): Response {
  return new Response(errorEnvelope(error), {
    status: ERRORS[error.code].status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      ...retryHeaders(error),
      ...headers,
    },
  });
}

/**
 * `SERVER_ACK` envelope answering a publisher. `extra` fields (v1.1 options, stream positions)
 * follow `channelToken`; v1 channels pass none, so their acks stay byte-for-byte v1.
 */
export function serverAck(
  message: string,
  channel: string,
  channelToken: string | null,
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    messageType: "SERVER_ACK",
    code: 200,
    message,
    data: { channel, channelToken, ...extra },
  });
}

/** Where a subscription starts, on history channels. */
export interface Recovery {
  readonly channel: string;
  readonly epoch: string;
  readonly offset: number;
  readonly recovered: boolean;
}

/** The `presence` field of a `Subscribed` ack on a presence channel (v1.2). */
export interface AckPresence {
  /** Members, the subscriber included. */
  readonly count: number;
}

/** `CLIENT_ACK` envelope for a subscriber (v1 form: the whole channel list). */
export function clientAck(
  message: string,
  subscriber: { uuid: string; channels: readonly string[] },
  recovery?: Recovery,
  presence?: AckPresence,
): string {
  const data = recovery === undefined
    ? { uuid: subscriber.uuid, subscribedChannels: subscriber.channels }
    : { uuid: subscriber.uuid, subscribedChannels: subscriber.channels, recovery };
  return JSON.stringify({
    messageType: "CLIENT_ACK",
    code: 200,
    message,
    data: presence === undefined ? data : { ...data, presence },
  });
}

/** `CLIENT_ACK` in compact form: the one channel concerned instead of the whole list. */
export function compactAck(
  message: string,
  uuid: string,
  channel?: string,
  recovery?: Recovery,
  presence?: AckPresence,
): string {
  const data = channel === undefined
    ? { uuid }
    : recovery === undefined
    ? { uuid, channel }
    : { uuid, channel, recovery };
  return JSON.stringify({
    messageType: "CLIENT_ACK",
    code: 200,
    message,
    data: presence === undefined ? data : { ...data, presence },
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

/** A push's position in its channel's stream (history channels only). */
export interface Position {
  readonly offset: number;
  readonly epoch: string;
}

/**
 * The `pushMessage` object of a push, serialized once per push. With `json`, `message` is the
 * JSON text of a non-string value (v1.2) and is embedded as is; otherwise it is a string.
 */
export function pushMessage(
  channel: string,
  message: string,
  position?: Position,
  json?: boolean,
): string {
  if (json === true) {
    const head = `{"channel":${JSON.stringify(channel)},"message":${message}`;
    return position === undefined
      ? `${head}}`
      : `${head},"offset":${position.offset},"epoch":${JSON.stringify(position.epoch)}}`;
  }
  return JSON.stringify(
    position === undefined
      ? { channel, message }
      : { channel, message, offset: position.offset, epoch: position.epoch },
  );
}

/** The shared tail of a v1 `CLIENT_PUSH` frame: `head + tail` is the frame. */
export function pushTail(pushMessageJson: string): string {
  return `${pushMessageJson}}}`;
}

/** A compact `CLIENT_PUSH` frame: the same bytes for every recipient. */
export function compactPush(pushMessageJson: string): string {
  return `{"messageType":"CLIENT_PUSH","code":200,"message":"Push Message","data":{"pushMessage":${pushMessageJson}}}`;
}
