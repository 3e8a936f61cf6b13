/**
 * The bounded send path of one connection, behind an interface a session writes to whatever
 * its transport is (a WebSocket here; a Server-Sent Events stream can bring its own writer).
 */
import { CLOSE } from "../errors.ts";

/** Where a session's frames go. */
export interface FrameWriter {
  /** Whether frames can no longer be sent. */
  readonly closed: boolean;
  /**
   * Queues one frame without waiting; `false` when it was not queued (closed, or just closed
   * as a slow consumer).
   */
  send(frame: string): boolean;
  /**
   * Resolves once the transport has room for more (paced sends, e.g. a replay), or once
   * `stop()` turns true or the writer closes. A peer that reads nothing for the idle timeout
   * meanwhile is closed.
   */
  room(stop: () => boolean): Promise<void>;
}

/** The subset of a WebSocket a writer uses. */
export interface SendSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
}

/** Options of a writer ({@link SocketWriter}, and the SSE stream's): its slow-consumer policy. */
export interface WriterOptions {
  /** Unsent bytes past which the peer is closed as a slow consumer (4008). */
  readonly maxBufferedBytes: number;
  /** How long a paced send waits for a peer that reads nothing before closing it. */
  readonly idleTimeoutMs: number;
  readonly now: () => number;
  /** Closes the connection (slow consumer, or a peer that stopped reading). */
  readonly close: (code: number, reason: string) => void;
  /** Counts and logs a slow-consumer close. */
  readonly onSlowConsumer: () => void;
  /** Waits before looking at the send buffer again (default: a 5 ms timer). */
  readonly wait?: () => Promise<void>;
}

const OPEN = 1;
/** How often a paced send looks at the send buffer again. */
const PACE_POLL_MS = 5;

function pollWait(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, PACE_POLL_MS));
}

/** Closes the peer as a slow consumer (4008), counted and logged. */
export function closeSlowConsumer(options: WriterOptions): void {
  options.onSlowConsumer();
  options.close(CLOSE.slowConsumer.code, CLOSE.slowConsumer.reason);
}

/**
 * A writer's {@link FrameWriter.room}: waits until `buffered()` (the unsent bytes) is at most
 * half of `maxBufferedBytes`, the writer is `closed()`, or `stop()` turns true. A peer whose unsent
 * bytes did not shrink for the idle timeout meanwhile is closed as a slow consumer.
 */
export async function awaitRoom(
  options: WriterOptions,
  buffered: () => number,
  closed: () => boolean,
  stop: () => boolean,
): Promise<void> {
  const wait = options.wait ?? pollWait;
  const limit = options.maxBufferedBytes / 2;
  let unsent = buffered();
  let lowest = unsent;
  let progressAt = options.now();
  while (unsent > limit && !closed() && !stop()) {
    await wait();
    unsent = buffered();
    const now = options.now();
    if (unsent < lowest) {
      lowest = unsent;
      progressAt = now;
    } else if (now - progressAt >= options.idleTimeoutMs && !closed()) {
      // A WebSocket's idle ping waits behind the unsent frames and is never answered: a peer
      // that read nothing for the idle timeout is gone as far as we can tell.
      closeSlowConsumer(options);
    }
  }
}

/**
 * Writes to a WebSocket. It keeps its own upper bound of the socket's unsent bytes (the last
 * `bufferedAmount` reading plus at most 3 bytes per UTF-16 unit sent since): while the bound is
 * within the limit the buffer is too, and reading `bufferedAmount` — an op call — is skipped.
 */
export class SocketWriter implements FrameWriter {
  readonly #socket: SendSocket;
  readonly #options: WriterOptions;
  #bufferedAtMost = 0;
  #closed = false;

  /** A writer to `socket`. */
  constructor(socket: SendSocket, options: WriterOptions) {
    this.#socket = socket;
    this.#options = options;
  }

  get closed(): boolean {
    return this.#closed || this.#socket.readyState !== OPEN;
  }

  /** No frame is sent from now on. */
  markClosed(): void {
    this.#closed = true;
  }

  send(frame: string): boolean {
    if (this.closed) return false;
    const { maxBufferedBytes } = this.#options;
    if (this.#bufferedAtMost > maxBufferedBytes) {
      const buffered = this.#socket.bufferedAmount;
      if (buffered > maxBufferedBytes) {
        closeSlowConsumer(this.#options);
        return false;
      }
      this.#bufferedAtMost = buffered;
    }
    this.#socket.send(frame);
    this.#bufferedAtMost += 3 * frame.length;
    return true;
  }

  room(stop: () => boolean): Promise<void> {
    return awaitRoom(
      this.#options,
      () => this.#bufferedAtMost = this.#socket.bufferedAmount,
      () => this.closed,
      stop,
    );
  }
}
