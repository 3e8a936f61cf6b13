/**
 * The bounded send path of one Server-Sent Events stream: the same {@link FrameWriter} a
 * WebSocket connection has, over a ReadableStream controller. It counts the bytes queued in the
 * stream and not yet taken by the runtime; past `maxBufferedBytes` the peer is a slow consumer
 * and its stream ends.
 */
import {
  awaitRoom,
  closeSlowConsumer,
  type FrameWriter,
  type WriterOptions,
} from "../ws/writer.ts";

const encoder = new TextEncoder();

/**
 * Writes events to a byte stream. The stream is built with a byte-length queuing strategy whose
 * high-water mark is `maxBufferedBytes`, so `desiredSize` tells how many bytes wait unsent.
 */
export class StreamWriter implements FrameWriter {
  readonly stream: ReadableStream<Uint8Array>;
  readonly #options: WriterOptions;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;

  /** A writer and the stream it feeds; `onCancel` runs when the peer goes away. */
  constructor(options: WriterOptions, onCancel: () => void) {
    this.#options = options;
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
      closeSlowConsumer(this.#options);
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

  room(stop: () => boolean): Promise<void> {
    return awaitRoom(this.#options, () => this.buffered, () => this.closed, stop);
  }
}
