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

/**
 * A TCP relay to `targetPort` on 127.0.0.1 that the test can close to new connections: while
 * `open` is false every connection is accepted and closed at once, so a client (a browser too)
 * keeps failing to reconnect until the test lets it through. Connections already relayed are
 * not touched.
 */
export class TcpGate implements AsyncDisposable {
  open = true;
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly #relays = new Set<Promise<void>>();
  readonly #conns = new Set<Deno.Conn>();
  readonly #accepting: Promise<void>;

  constructor(readonly targetPort: number) {
    this.#accepting = this.#accept();
  }

  /** The port clients connect to. */
  get port(): number {
    return this.#listener.addr.port;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        if (!this.open) {
          conn.close();
          continue;
        }
        const relay = this.#relay(conn);
        this.#relays.add(relay);
        relay.finally(() => this.#relays.delete(relay));
      }
    } catch {
      // The listener was closed.
    }
  }

  async #relay(client: Deno.Conn): Promise<void> {
    this.#conns.add(client);
    let upstream: Deno.Conn | undefined;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.targetPort });
      this.#conns.add(upstream);
      await Promise.allSettled([
        client.readable.pipeTo(upstream.writable),
        upstream.readable.pipeTo(client.writable),
      ]);
    } catch {
      // Nothing listens on the target (the server is down): the client sees a closed socket.
    } finally {
      for (const conn of [client, upstream]) {
        if (!conn) continue;
        this.#conns.delete(conn);
        try {
          conn.close();
        } catch {
          // pipeTo closed it already.
        }
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    await Promise.allSettled([...this.#relays]);
  }
}
