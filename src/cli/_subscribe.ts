/** `subscribe NAME...`: a live subscriber through the client, until a count, a signal or the end. */
import {
  PushClient,
  PushError,
  type PushHandler,
  type StreamPosition,
} from "../client/pushserver.js";
import { EXIT, exitCodeFor } from "./_exit.ts";

/**
 * Prints pushes until `count` arrived, the signal fires, or every channel is deleted or
 * revoked; then the position of each history channel (the last push printed), for `--since`.
 * A private channel this connection has no grant for is asked for again every `grantRetryMs`
 * until "channel authorize" lets this UUID in; the other channels run meanwhile.
 */
export async function subscribe(
  wsUrl: string,
  channels: readonly string[],
  options: {
    count: number;
    /** The `--since` positions, for the first channels in order. */
    since: readonly StreamPosition[];
    json: boolean;
    out: (text: string) => void;
    err: (text: string) => void;
    signal: AbortSignal;
    grantRetryMs: number;
  },
): Promise<number> {
  const { out, err, signal } = options;
  if (signal.aborted) return EXIT.ok;
  const client = await PushClient.connect(wsUrl);
  const done = Promise.withResolvers<number>();
  const onAbort = () => done.resolve(EXIT.ok);
  signal.addEventListener("abort", onAbort, { once: true });
  /** Ends the grant waits when the command ends. */
  const stop = new AbortController();
  let received = 0;
  /** Per history channel: where the output stands (the last push printed, or the start). */
  const printed = new Map<string, StreamPosition>();
  /** Private channels waiting for a grant. */
  const waiting = new Set<string>();
  const left = (error: number) => {
    if (client.channels.length === 0 && waiting.size === 0) done.resolve(error);
  };
  const hint = (channel: string) =>
    err(
      `channel "${channel}" is private: waiting for a grant for ${client.uuid} ` +
        `(pushserver cli channel authorize ${channel} ${client.uuid} --token T)\n`,
    );
  const handler: PushHandler = (message, meta) => {
    if (received >= options.count) return;
    received++;
    const { offset, epoch } = meta;
    const line = { channel: meta.channel, message, uuid: meta.uuid, offset, epoch };
    out(options.json ? `${JSON.stringify(line)}\n` : `${meta.channel}: ${message}\n`);
    if (offset !== undefined && epoch !== undefined) {
      printed.set(meta.channel, { offset, epoch });
    }
    if (received >= options.count) done.resolve(EXIT.ok);
  };
  /** Subscribes; false when the channel is private and this connection has no grant yet. */
  const attempt = async (channel: string, since: StreamPosition | undefined) => {
    try {
      await client.subscribe(channel, handler, since === undefined ? {} : { since });
    } catch (error) {
      if (error instanceof PushError && error.code === 403) return false;
      throw error;
    }
    const start = client.position(channel);
    if (start && !printed.has(channel)) printed.set(channel, start);
    return true;
  };
  const awaitGrant = async (channel: string, since: StreamPosition | undefined) => {
    while (!stop.signal.aborted) {
      await pause(options.grantRetryMs, stop.signal);
      if (stop.signal.aborted) return;
      try {
        if (await attempt(channel, since)) {
          waiting.delete(channel);
          err(`subscribed to ${channel} (granted)\n`);
          return;
        }
      } catch (error) {
        waiting.delete(channel);
        err(`error on "${channel}": ${describe(error)}\n`);
        left(error instanceof PushError ? exitCodeFor(error.code) : EXIT.failure);
        return;
      }
    }
  };
  const waits: Promise<void>[] = [];
  try {
    client.on("disconnected", ({ code, delayMs }) => {
      err(`disconnected (code ${code}); reconnecting in ${delayMs} ms\n`);
    });
    client.on("reconnected", ({ uuid, channels }) => {
      err(`reconnected as ${uuid}; subscribed to ${channels.join(", ")}\n`);
      // A grant belongs to a connection: the new UUID needs its own.
      for (const channel of waiting) hint(channel);
    });
    client.on("notRecovered", ({ channel, position, epochChanged }) => {
      const why = epochChanged ? "the channel was re-created" : "they are no longer kept";
      err(
        `channel "${channel}": missed pushes could not be recovered (${why}); ` +
          `continuing after ${position.offset}:${position.epoch}\n`,
      );
      printed.set(channel, position);
    });
    client.on("channelDeleted", ({ channel }) => {
      err(`channel "${channel}" was deleted\n`);
      printed.delete(channel);
      left(EXIT.notFound);
    });
    client.on("subscriptionRevoked", ({ channel }) => {
      err(`subscription to "${channel}" was revoked\n`);
      printed.delete(channel);
      left(EXIT.auth);
    });
    client.on("error", ({ error, channel }) => {
      err(`error${channel === null ? "" : ` on "${channel}"`}: ${describe(error)}\n`);
      left(EXIT.notFound);
    });
    const subscribed: string[] = [];
    for (const [i, channel] of channels.entries()) {
      const since = options.since[i];
      if (await attempt(channel, since)) subscribed.push(channel);
      else {
        waiting.add(channel);
        hint(channel);
        waits.push(awaitGrant(channel, since));
      }
    }
    err(
      subscribed.length === 0
        ? `connected as ${client.uuid}\n`
        : `subscribed to ${subscribed.join(", ")} as ${client.uuid}\n`,
    );
    return await done.promise;
  } finally {
    stop.abort();
    await Promise.all(waits);
    signal.removeEventListener("abort", onAbort);
    await client.close();
    for (const [channel, { offset, epoch }] of printed) {
      err(`position ${offset}:${epoch} ${channel}\n`);
    }
  }
}

function describe(error: unknown): string {
  return error instanceof PushError
    ? `${error.code} ${error.message}: ${error.errorDetails}`
    : String(error);
}

/** Resolves after `ms`, or at once when `signal` aborts (the timer is cleared then). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
