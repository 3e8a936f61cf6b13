/**
 * One subscriber WebSocket: socket events and frame limits. Its commands are handled by a
 * transport-neutral {@link Session}, its frames go out through a bounded {@link SocketWriter}.
 */
import { CLOSE } from "../errors.ts";
import { ReplayBudget } from "../history/replay_budget.ts";
import type { Subscriber } from "../hub/hub.ts";
import { exceedsUtf8Bytes } from "../protocol/fields.ts";
import { clientAck, compactAck } from "../protocol/outbound.ts";
import { Session, type SessionDeps } from "./session.ts";
import { SocketWriter } from "./writer.ts";

/** The subset of a WebSocket a connection uses (a real socket, or an EventTarget fake in tests). */
export interface SocketLike extends EventTarget {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: BinaryType;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** What every connection shares. */
export interface ConnectionDeps extends Omit<SessionDeps, "replayBudget" | "limits"> {
  readonly limits: SessionDeps["limits"] & {
    readonly maxFrameBytes: number;
    readonly maxBufferedBytes: number;
  };
  /** `MAX_REPLAY_BYTES_IN_FLIGHT`, shared by every connection (default: 64 MiB of its own). */
  readonly replayBudget?: ReplayBudget;
  /** `WS_IDLE_TIMEOUT_S`: a peer that reads nothing that long while frames wait is closed. */
  readonly idleTimeoutS?: number;
  /** Called once when the socket is gone. */
  readonly onGone: (connection: Connection) => void;
}

const DEFAULT_IDLE_TIMEOUT_S = 60;
let defaultBudget: ReplayBudget | undefined;

/**
 * A subscriber connection. It listens with itself as the event handler object, so an idle
 * connection costs one small object and no closures.
 */
export class Connection implements Subscriber, EventListenerObject {
  readonly id: string;
  readonly compact: boolean;
  readonly #socket: SocketLike;
  readonly #deps: ConnectionDeps;
  readonly #writer: SocketWriter;
  readonly #session: Session;
  #gone = false;

  /** Wraps `socket` and starts listening; nothing is sent until it opens. */
  constructor(socket: SocketLike, id: string, deps: ConnectionDeps, compact = false) {
    this.id = id;
    this.compact = compact;
    this.#socket = socket;
    this.#deps = deps;
    const close = (code: number, reason: string) => this.close(code, reason);
    this.#writer = new SocketWriter(socket, {
      maxBufferedBytes: deps.limits.maxBufferedBytes,
      idleTimeoutMs: (deps.idleTimeoutS ?? DEFAULT_IDLE_TIMEOUT_S) * 1000,
      now: deps.now,
      close,
      onSlowConsumer: () => {
        deps.metrics.slowConsumerCloses++;
        deps.logger.warn("closing slow consumer", { uuid: this.id });
      },
    });
    this.#session = new Session(
      id,
      {
        ...deps,
        replayBudget: deps.replayBudget ?? (defaultBudget ??= new ReplayBudget(64 << 20)),
      },
      this.#writer,
      close,
    );
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", this);
    socket.addEventListener("message", this);
    socket.addEventListener("close", this);
    // Before "open" an upgrade can fail with "error" alone; once open, Deno follows every
    // "error" with "close", so "open" and "error" are listened to only until then.
    socket.addEventListener("error", this);
  }

  /** Dispatches socket events. */
  handleEvent(event: Event): void {
    try {
      switch (event.type) {
        case "open":
          // Each event type a socket listens to costs ~300 bytes for as long as it lives.
          this.#socket.removeEventListener("open", this);
          this.#socket.removeEventListener("error", this);
          this.#session.open(
            this.#deps.hub.add(this),
            () =>
              void this.send(
                this.compact
                  ? compactAck("Connected", this.id)
                  : clientAck("Connected", { uuid: this.id, channels: [] }),
              ),
          );
          break;
        case "message":
          this.#onFrame((event as MessageEvent<unknown>).data);
          break;
        default: // close, error
          this.#onGone(event instanceof CloseEvent ? event.code : undefined);
      }
    } catch (error) {
      this.#fail(event.type, error);
    }
  }

  /** Queues a frame unless the peer is too far behind, in which case it is closed with 4008. */
  send(frame: string): boolean {
    if (this.#gone) return false;
    return this.#writer.send(frame);
  }

  /** Closes the socket and drops every subscription at once. */
  close(code: number, reason: string): void {
    try {
      this.#socket.close(code, reason);
    } catch {
      // Already closing.
    }
    this.#onGone(code);
  }

  #fail(where: string, error: unknown): void {
    // An exception escaping an event listener would end the whole process: this connection
    // alone pays for a bug, with 1011, and the details go to the log.
    this.#deps.logger.error("connection failed", { uuid: this.id, event: where, error });
    this.close(CLOSE.internalError.code, CLOSE.internalError.reason);
  }

  #onGone(code: number | undefined): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#writer.markClosed();
    this.#session.end();
    this.#deps.hub.remove(this.id);
    this.#deps.onGone(this);
    this.#deps.logger.debug("connection closed", { uuid: this.id, code });
  }

  #onFrame(data: unknown): void {
    if (this.#gone) return;
    const { limits } = this.#deps;
    if (typeof data === "string") {
      if (exceedsUtf8Bytes(data, limits.maxFrameBytes)) {
        return this.close(CLOSE.messageTooBig.code, CLOSE.messageTooBig.reason);
      }
    } else if (data instanceof ArrayBuffer && data.byteLength > limits.maxFrameBytes) {
      return this.close(CLOSE.messageTooBig.code, CLOSE.messageTooBig.reason);
    }
    this.#session.command(data);
  }
}
