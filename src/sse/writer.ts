/**
 * The bounded send path of one Server-Sent Events stream: the same {@link FrameWriter} a
 * WebSocket connection has, over a ReadableStream controller. It counts the bytes queued in the
 * stream and not yet taken by the runtime; past `maxBufferedBytes` the peer is a slow consumer
 * and its stream ends.
 */
import { CLOSE } from "../errors.ts";
import type { FrameWriter } from "../ws/writer.ts";

/** Options of {@link StreamWriter}. */
export interface StreamWriterOptions {
  /** Queued bytes past which the peer is cut off as a slow consumer. */
  readonly maxBufferedBytes: number;
  /** How long a paced send waits for a peer that reads nothing before cutting it off. */
  readonly idleTimeoutMs: number;
  readonly now: () => number;
  /** Ends the connection (slow consumer, or a peer that stopped reading). */
  readonly close: (code: number, reason: string) => void;
  /** Counts and logs a slow-consumer close. */
  readonly onSlowConsumer: () => void;
  /** Waits before looking at the queue again (default: a 5 ms timer). */
  readonly wait?: () => Promise<void>;
}

const PACE_POLL_MS = 5;
const encoder = new TextEncoder();

function pollWait(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, PACE_POLL_MS));
}

/**
 * Writes events to a byte stream. The stream is built with a byte-length queuing strategy whose
 * high-water mark is `maxBufferedBytes`, so `desiredSize` tells how many bytes wait unsent.
 */
export class StreamWriter implements FrameWriter {
  readonly stream: ReadableStream<Uint8Array>;
  readonly #options: StreamWriterOptions;
  readonly #wait: () => Promise<void>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;

  /** A writer and the stream it feeds; `onCancel` runs when the peer goes away. */
  constructor(options: StreamWriterOptions, onCancel: () => void) {
    this.#options = options;
    this.#wait = options.wait ?? pollWait;
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.#closed = true;
        onCancel();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: options.maxBufferedBytes }));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes queued and not yet taken by the runtime. */
  get buffered(): number {
    return this.#options.maxBufferedBytes - (this.#controller.desiredSize ?? 0);
  }

  /** Sends one frame as a `data:` event. */
  send(frame: string): boolean {
    return this.write(`data: ${frame}\n\n`);
  }

  /** Writes raw event-stream text (an event, or a comment line). */
  write(text: string): boolean {
    if (this.#closed) return false;
    if (this.buffered > this.#options.maxBufferedBytes) {
      this.#options.onSlowConsumer();
      this.#options.close(CLOSE.slowConsumer.code, CLOSE.slowConsumer.reason);
      return false;
    }
    this.#controller.enqueue(encoder.encode(text));
    return true;
  }

  /** Ends the stream after what is queued. */
  end(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#controller.close();
    } catch {
      // Already cancelled by the peer.
    }
  }

  async room(stop: () => boolean): Promise<void> {
    const limit = this.#options.maxBufferedBytes / 2;
    let buffered = this.buffered;
    let lowest = buffered;
    let progressAt = this.#options.now();
    while (buffered > limit && !this.closed && !stop()) {
      await this.#wait();
      buffered = this.buffered;
      const now = this.#options.now();
      if (buffered < lowest) {
        lowest = buffered;
        progressAt = now;
      } else if (now - progressAt >= this.#options.idleTimeoutMs && !this.closed) {
        this.#options.onSlowConsumer();
        this.#options.close(CLOSE.slowConsumer.code, CLOSE.slowConsumer.reason);
      }
    }
  }
}
