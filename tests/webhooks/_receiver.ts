/**
 * A real webhook receiver for tests: Deno.serve on 127.0.0.1, port 0. It keeps every request
 * (raw body, signature header, content type) and answers as the test's `answer` says: a status,
 * or "hang" (the answer waits until the receiver closes).
 */
import type { WebhookEvent } from "../../src/webhooks/events.ts";

/** One request the receiver got. */
export interface Received {
  readonly rawBody: string;
  readonly signature: string | null;
  readonly contentType: string | null;
  readonly delivery: { id: string; timeMs: number; events: WebhookEvent[] };
  /** What the test's clock said when it arrived. */
  readonly at: number;
  /** What it was answered ("hang": nothing before the receiver closed). */
  status: number | "hang" | undefined;
}

/** What the receiver answers to its `n`th request (0-based). */
export type Answer = (n: number, received: Received) => number | "hang";

/** A running receiver; dispose it to close (hanging answers end then). */
export class Receiver implements AsyncDisposable {
  readonly received: Received[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #hanging: PromiseWithResolvers<void> = Promise.withResolvers();
  readonly #waiters = new Set<() => void>();
  answer: Answer;

  private constructor(answer: Answer, now: () => number) {
    this.answer = answer;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (request) => {
        const rawBody = await request.text();
        const received: Received = {
          rawBody,
          signature: request.headers.get("x-pushserver-signature"),
          contentType: request.headers.get("content-type"),
          delivery: JSON.parse(rawBody),
          at: now(),
          status: undefined,
        };
        const n = this.received.length;
        this.received.push(received);
        const status = this.answer(n, received);
        received.status = status;
        for (const wake of this.#waiters) wake();
        if (status === "hang") {
          await this.#hanging.promise;
          return new Response(null, { status: 503 });
        }
        return new Response(null, { status });
      },
    );
  }

  /** Starts a receiver answering `answer` (default: 204 to everything). */
  static start(answer: Answer = () => 204, now: () => number = Date.now): Receiver {
    return new Receiver(answer, now);
  }

  /** `http://127.0.0.1:<port>/hook`. */
  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/hook`;
  }

  /**
   * Every event of every acknowledged (2xx) request, in arrival order; a delivery id answered
   * 2xx more than once (a duplicate) counts once.
   */
  events(): WebhookEvent[] {
    const seen = new Set<string>();
    const events: WebhookEvent[] = [];
    for (const { delivery, status } of this.received) {
      if (typeof status !== "number" || status < 200 || status > 299) continue;
      if (seen.has(delivery.id)) continue;
      seen.add(delivery.id);
      events.push(...delivery.events);
    }
    return events;
  }

  /** Resolves once `done()` holds, checked after every request; rejects after `timeoutMs`. */
  async until(done: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    if (done()) return;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const check = () => {
      if (done()) resolve();
    };
    const timer = setTimeout(
      () => reject(new Error(`receiver: ${what} not seen within ${timeoutMs} ms`)),
      timeoutMs,
    );
    this.#waiters.add(check);
    try {
      await promise;
    } finally {
      clearTimeout(timer);
      this.#waiters.delete(check);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#hanging.resolve();
    await this.#server.shutdown();
  }
}
