/** Helpers for the client, CLI and browser tests: free ports and awaitable queues. */

/** A port that was free a moment ago (for tests that must restart a server on the same port). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Rejects after `ms` unless `promise` settles first; the timer never outlives the race. */
export async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** An unbounded queue: `put` from callbacks, `take` in order from the test. */
export class Inbox<T> {
  readonly #items: T[] = [];
  readonly #waiters: ((item: T) => void)[] = [];

  /** Adds an item, handing it to the oldest waiter if there is one. */
  put = (item: T): void => {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(item);
    else this.#items.push(item);
  };

  /** The next item, waiting up to `ms`. */
  take(ms = 5000): Promise<T> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift() as T);
    const { promise, resolve } = Promise.withResolvers<T>();
    this.#waiters.push(resolve);
    return within(ms, promise, "the next item").catch((error) => {
      const index = this.#waiters.indexOf(resolve);
      if (index >= 0) this.#waiters.splice(index, 1);
      throw error;
    });
  }

  /** Items queued and not yet taken. */
  get size(): number {
    return this.#items.length;
  }
}
