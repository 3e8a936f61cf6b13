/**
 * A `Deno.serve` port that is never lost silently. Deno's accept loop ends at the first accept
 * error (EMFILE when descriptors run out): `server.finished` rejects, the port closes, and the
 * connections already accepted live on. Here the port is re-opened with backoff instead; a port
 * that cannot be re-opened for another reason resolves {@link Listener.lost}.
 *
 * Deno.serve (2.9.6) has no header timeout, no idle timeout and no cap on accepted connections
 * (hyper runs without a timer), so idle TCP connections are what exhausts descriptors. The one
 * thing that closes them is a graceful shutdown of the instance that accepted them: with
 * {@link ListenerOptions.closeIdleOnExhaustion} a dead instance is shut down at once, which
 * closes its idle connections and lets its requests in flight finish (docs/reliability.md).
 */
import type { Logger } from "./log.ts";

/** First wait before re-opening a port, doubled per attempt up to {@link MAX_RETRY_MS}. */
const FIRST_RETRY_MS = 10;
/** Longest wait between attempts: the port is back within this once descriptors are free. */
const MAX_RETRY_MS = 1000;
/** Failures to re-open for another reason than exhaustion (since last open) before giving up. */
const MAX_HARD_FAILURES = 5;
/** ENOMEM, ENFILE, EMFILE, ENOBUFS: out of memory or descriptors for now; waiting can fix it. */
const TRANSIENT = /\(os error (12|23|24|105)\)/;

/** The part of `Deno.serve` a listener uses (tests pass a fake). */
export type ServeFunction = (
  options: Deno.ServeTcpOptions,
  handler: Deno.ServeHandler<Deno.NetAddr>,
) => Deno.HttpServer<Deno.NetAddr>;

/** Options of {@link openListener}. */
export interface ListenerOptions {
  /** The setting that names this port in messages (`PORT_HTTP`, `PORT_WS`). */
  readonly variable: string;
  readonly hostname: string;
  readonly port: number;
  readonly handler: Deno.ServeHandler<Deno.NetAddr>;
  readonly onError: (error: unknown) => Response | Promise<Response>;
  readonly logger: Logger;
  readonly serve?: ServeFunction;
  readonly now?: () => number;
  /**
   * When the accept loop dies of exhaustion, shut that instance down gracefully at once: its idle
   * connections (no request yet, unfinished headers, idle keep-alive) close and free their
   * descriptors, and its requests in flight finish. Not for the WebSocket port: the shutdown
   * also ends the WebSockets accepted through the instance.
   */
  readonly closeIdleOnExhaustion?: boolean;
  /** Runs `callback` after `ms`; returns a cancel function (tests pass a fake). */
  readonly defer?: (callback: () => void, ms: number) => () => void;
}

/** An open port. */
export interface Listener {
  /** The bound port (the real one when 0 was asked for); re-opening keeps it. */
  readonly port: number;
  /** Resolves (never rejects) with the reason once the port is gone for good. */
  readonly lost: Promise<Error>;
  /** Stops re-opening and shuts down every instance, with the connections each still serves. */
  shutdown(): Promise<void>;
}

/** Opens the port now (a bind error throws) and keeps it open. */
export function openListener(options: ListenerOptions): Listener {
  const { variable, hostname, handler, onError, logger } = options;
  const serve = options.serve ?? Deno.serve;
  const now = options.now ?? Date.now;
  const defer = options.defer ?? deferWithTimer;
  // Instances whose accept loop died still serve their connections until shutdown.
  const instances: Deno.HttpServer<Deno.NetAddr>[] = [];
  // Dead instances shutting down early (closeIdleOnExhaustion), until their requests finish.
  const closing = new Set<Promise<void>>();
  const lost = Promise.withResolvers<Error>();
  let port = options.port;
  let stopping = false;
  let cancelRetry: (() => void) | undefined;
  let delay = FIRST_RETRY_MS;
  let hardFailures = 0;

  function open(): void {
    const server = serve({ hostname, port, onListen: () => {}, onError }, handler);
    port = server.addr.port;
    instances.push(server);
    const openedAt = now();
    server.finished.catch((error: unknown) => {
      if (stopping) return;
      // A port that stayed up a while starts over from the short delay.
      if (now() - openedAt > MAX_RETRY_MS) delay = FIRST_RETRY_MS;
      logger.warn("listener stopped accepting; re-opening the port", {
        variable,
        port,
        error: reason(error),
        retryInMs: delay,
      });
      if (options.closeIdleOnExhaustion === true && TRANSIENT.test(reason(error))) {
        closeIdle(server);
      }
      schedule();
    });
  }

  /** Shuts a dead instance down now, which closes its idle connections at once. */
  function closeIdle(server: Deno.HttpServer<Deno.NetAddr>): void {
    const at = instances.indexOf(server);
    if (at >= 0) instances.splice(at, 1);
    logger.warn("closing the idle connections of the stopped listener", { variable, port });
    const done: Promise<void> = server.shutdown()
      .catch((error: unknown) => {
        logger.warn("stopped listener did not shut down cleanly", {
          variable,
          port,
          error: reason(error),
        });
      })
      .finally(() => closing.delete(done));
    closing.add(done);
  }

  function schedule(): void {
    cancelRetry = defer(retry, delay);
    delay = Math.min(delay * 2, MAX_RETRY_MS);
  }

  function retry(): void {
    cancelRetry = undefined;
    if (stopping) return;
    try {
      open();
      hardFailures = 0;
      logger.info("listener re-opened", { variable, port });
    } catch (error) {
      const why = reason(error);
      if (!TRANSIENT.test(why) && ++hardFailures >= MAX_HARD_FAILURES) {
        lost.resolve(
          new Error(
            `${variable}: the port ${hostname}:${port} stopped and cannot be re-opened: ${why}`,
          ),
        );
        return;
      }
      schedule();
    }
  }

  open();
  return {
    get port() {
      return port;
    },
    lost: lost.promise,
    async shutdown() {
      stopping = true;
      cancelRetry?.();
      cancelRetry = undefined;
      await Promise.all([...instances.map((server) => server.shutdown()), ...closing]);
    },
  };
}

function deferWithTimer(callback: () => void, ms: number): () => void {
  const timer = setTimeout(callback, ms);
  return () => clearTimeout(timer);
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
