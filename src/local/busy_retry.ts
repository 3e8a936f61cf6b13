/**
 * A store that another process has locked answers 503 within a second instead of freezing the
 * event loop. `node:sqlite` is synchronous: SQLite's busy timeout is a blocking wait on the only
 * JS thread. So each attempt blocks for a short busy timeout only ({@link BUSY_WAIT_MS}), and
 * the retries wait on timers in between, where everything else runs.
 */
import { PushError } from "../errors.ts";

/** SQLite's busy timeout while serving: the longest one attempt blocks the event loop. */
export const BUSY_WAIT_MS = 100;
/** Pause between two attempts while the store is busy. */
const RETRY_MS = 25;
/** Time after a call (ms) by which its last attempt must have ended; then 503. */
const DEADLINE_MS = 600;

/** Options of {@link retryWhileBusy}. */
export interface BusyRetryOptions {
  /** Whether an error means "locked, try again" (default: SQLite BUSY or LOCKED). */
  readonly isBusy?: (error: unknown) => boolean;
  readonly retryMs?: number;
  readonly deadlineMs?: number;
  /** How long one attempt may block (default {@link BUSY_WAIT_MS}). */
  readonly attemptMs?: number;
  readonly now?: () => number;
}

interface Waiting {
  readonly attempt: () => unknown;
  readonly deadline: number;
  readonly settle: PromiseWithResolvers<unknown>;
}

/** The answer to a store that another process has locked. */
export function storeLocked(): PushError {
  return new PushError(
    "unavailable",
    "The channel store is locked by another process; retry shortly",
  );
}

/**
 * SQLITE_BUSY (5) or SQLITE_LOCKED (6), extended codes included, as node:sqlite reports them:
 * statements carry `errcode`; `exec()` errors only the message.
 */
export function isSqliteBusy(error: unknown): boolean {
  if (!(error instanceof Error) || !("code" in error) || error.code !== "ERR_SQLITE_ERROR") {
    return false;
  }
  if ("errcode" in error) {
    const code = Number(error.errcode) & 0xff;
    return code === 5 || code === 6;
  }
  return /^database (table |schema )?is locked/.test(error.message);
}

/**
 * Wraps every method of `store`: a call that fails because the store is busy is retried on
 * timers, one call at a time (later calls queue behind it, so the event loop blocks for at most
 * one short busy wait per turn), and answers 503 `unavailable` once its deadline has passed.
 * Methods must be all-or-nothing (one statement, or a transaction that rolls back), so that a
 * retry cannot apply anything twice. `close()` answers every waiting call 503 and closes at once.
 */
export function retryWhileBusy<T extends object>(store: T, options: BusyRetryOptions = {}): T {
  const isBusy = options.isBusy ?? isSqliteBusy;
  const retryMs = options.retryMs ?? RETRY_MS;
  const deadlineMs = options.deadlineMs ?? DEADLINE_MS;
  const attemptMs = options.attemptMs ?? BUSY_WAIT_MS;
  const now = options.now ?? performance.now.bind(performance);
  const queue: Waiting[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let attempting = false;

  function schedule(ms: number): void {
    if (!attempting) timer ??= setTimeout(pump, ms);
  }

  async function pump(): Promise<void> {
    timer = undefined;
    // Calls whose next attempt could end past their deadline are answered without one.
    while (queue.length > 0 && now() + attemptMs > queue[0]!.deadline) {
      queue.shift()!.settle.reject(storeLocked());
    }
    const head = queue[0];
    if (head === undefined) return;
    attempting = true;
    let outcome: { value: unknown } | { error: unknown };
    try {
      outcome = { value: await head.attempt() };
    } catch (error) {
      outcome = { error };
    }
    attempting = false;
    if ("error" in outcome && isBusy(outcome.error)) return schedule(retryMs);
    queue.shift();
    if ("error" in outcome) head.settle.reject(outcome.error);
    else head.settle.resolve(outcome.value);
    // Yield between calls: each attempt may have blocked for a busy timeout.
    if (queue.length > 0) schedule(0);
  }

  function enqueue(attempt: () => unknown, started: number): Promise<unknown> {
    const settle = Promise.withResolvers<unknown>();
    queue.push({ attempt, deadline: started + deadlineMs, settle });
    schedule(queue.length === 1 ? retryMs : 0);
    return settle.promise;
  }

  return new Proxy(store, {
    get(target, property) {
      // Read from the target itself: getters and methods use its #private fields.
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (property === "close") {
        return (...args: unknown[]) => {
          if (timer !== undefined) clearTimeout(timer);
          timer = undefined;
          for (const waiting of queue.splice(0)) {
            waiting.settle.reject(new PushError("unavailable", "The channel store is closing"));
          }
          return value.apply(target, args);
        };
      }
      return (...args: unknown[]) => {
        const started = now();
        const attempt = () => value.apply(target, args);
        // Behind a busy call, wait in line instead of blocking the event loop again.
        if (queue.length > 0) return enqueue(attempt, started);
        let result: unknown;
        try {
          result = attempt();
        } catch (error) {
          if (!isBusy(error)) throw error;
          return enqueue(attempt, started);
        }
        if (!(result instanceof Promise)) return result;
        return result.catch((error: unknown) => {
          if (!isBusy(error)) throw error;
          return enqueue(attempt, started);
        });
      };
    },
  });
}
