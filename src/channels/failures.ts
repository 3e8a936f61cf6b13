/** The channel failures every store, broker and transport words alike (one sentence each). */
import { PushError } from "../errors.ts";

/** 404: no channel of that name. */
export function channelNotFound(name: string): PushError {
  return new PushError(
    "unknown_channel",
    `Could not find a channel called ${JSON.stringify(name)}`,
  );
}

/** 403: the token is not the channel's (or the record it was checked against was replaced). */
export function tokenInvalid(): PushError {
  return new PushError("token_invalid", "Channel token is invalid");
}

/** 409: the name is taken. */
export function channelTaken(name: string): PushError {
  return new PushError("channel_exists", `A channel called ${JSON.stringify(name)} already exists`);
}

/** 507: `MAX_CHANNELS` reached. */
export function channelsFull(maxChannels: number): PushError {
  return new PushError(
    "insufficient_storage",
    `The server holds its maximum of ${maxChannels} channels`,
  );
}

/**
 * A compare-and-set on a channel record that did not apply: 404 when the channel is gone, 403
 * when it was deleted and re-created or its token rotated since the token was checked.
 */
export function recordReplaced(name: string, gone: boolean): PushError {
  return gone ? channelNotFound(name) : tokenInvalid();
}

/** A store failure as a subscriber sees it (a PushError passes through): 503. */
export function storeUnavailable(error: unknown): PushError {
  if (error instanceof PushError) return error;
  return new PushError("unavailable", "The channel store is unavailable; retry shortly");
}
