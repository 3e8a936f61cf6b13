/**
 * Redis connections for cluster mode (ioredis): never queue a command while disconnected, never
 * resend one after a reconnect, give up on a command after {@link COMMAND_TIMEOUT_MS}.
 */
import { Redis, type RedisOptions } from "ioredis";
import { ConfigError } from "../config.ts";
import { PushError } from "../errors.ts";

/** Longest wait for one Redis answer: an action that needs Redis answers 503 within 1 s. */
export const COMMAND_TIMEOUT_MS = 800;
/** How long the first connection may take at start before the process gives up. */
const START_TIMEOUT_MS = 3000;
/** Longest pause between reconnect attempts (the node heals within 30 s of Redis coming back). */
const MAX_RECONNECT_DELAY_MS = 2000;
/** How long a closing connection waits for Redis to close its side before dropping the socket. */
const DISCONNECT_TIMEOUT_MS = 100;

/**
 * Options shared by every connection. Commands are not queued while disconnected
 * (`enableOfflineQueue: false`) and never resent after a reconnect: a push answered 503 must
 * not be delivered later, stale, by a retry.
 */
function options(extra: RedisOptions): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
    maxRetriesPerRequest: 0,
    connectTimeout: START_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    retryStrategy: (times) => Math.min(100 * times, MAX_RECONNECT_DELAY_MS),
    disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    ...extra,
  };
}

/** `url` without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(invalid URL)";
  }
}

/**
 * Opens a connection and waits until it answers; a failure is a {@link ConfigError} naming
 * REDIS_URL (the process exits 1 with that one line).
 */
export async function openRedis(url: string, connectionName: string): Promise<Redis> {
  const redis = new Redis(url, options({ connectionName }));
  // Errors are reported through status changes; an 'error' event without a listener would be
  // printed by ioredis itself. The first one says best why a start failed (e.g. ECONNREFUSED).
  let firstError: unknown;
  redis.on("error", (error) => firstError ??= error);
  try {
    await withTimeout(redis.connect(), START_TIMEOUT_MS);
    await redis.ping();
  } catch (error) {
    await closeRedis(redis);
    const cause = firstError ?? error;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ConfigError(`REDIS_URL: cannot connect to ${redactUrl(url)}: ${reason}`);
  }
  return redis;
}

/**
 * Closes a connection for good and resolves once nothing of it is left running.
 *
 * ioredis's `disconnect()` returns at once and arms a `disconnectTimeout` timer that only the
 * socket's 'close' event clears, so a caller must wait for that close (the 'end' event follows
 * it). While the connection waits to reconnect (Redis went away) its socket is already closed:
 * `disconnect()` then arms the timer on the dead socket, no 'close' ever clears it and no 'end'
 * comes, so the timer has to run out (issue 19: the test sanitizers reported it as a leak).
 */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === "end") return;
  if (redis.status === "wait") {
    redis.disconnect(); // never connected: ends synchronously, no socket and no timer
    return;
  }
  if (redis.stream?.closed === true) {
    redis.disconnect();
    await new Promise((resolve) => setTimeout(resolve, DISCONNECT_TIMEOUT_MS + 1));
    return;
  }
  const ended = new Promise<void>((resolve) => redis.once("end", () => resolve()));
  redis.disconnect();
  await ended;
}

/** Maps a failed Redis call to 503 (a {@link PushError} passes through unchanged). */
export function unavailable(error: unknown): PushError {
  if (error instanceof PushError) return error;
  return new PushError("unavailable", "The cluster store (Redis) is unavailable; retry shortly");
}

/** Runs a Redis call; a failure of Redis itself becomes 503 (the adapter edge of cluster mode). */
export async function redisCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw unavailable(error);
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
