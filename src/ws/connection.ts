/** One subscriber WebSocket: frame limits, parsing, hub operations and a bounded send path. */
import { CLOSE, PushError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Hub, Subscriber } from "../hub/hub.ts";
import { exceedsUtf8Bytes } from "../protocol/fields.ts";
import { parseInbound } from "../protocol/inbound.ts";
import { clientAck, errorEnvelope } from "../protocol/outbound.ts";

/** The subset of a WebSocket a connection uses (a real socket, or an EventTarget fake in tests). */
export interface SocketLike extends EventTarget {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: BinaryType;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** What every connection shares. */
export interface ConnectionDeps {
  readonly hub: Hub;
  /** Whether a channel exists, answered synchronously so frames stay in order. */
  readonly channelExists: (name: string) => boolean;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly now: () => number;
  readonly limits: {
    readonly maxFrameBytes: number;
    readonly maxBufferedBytes: number;
    readonly frameRatePerS: number;
    readonly frameBurst: number;
  };
  /** Called once when the socket is gone. */
  readonly onGone: (connection: Connection) => void;
}

const OPEN = 1;

/**
 * A subscriber connection. It listens with itself as the event handler object, so an idle
 * connection costs one small object and no closures.
 */
export class Connection implements Subscriber, EventListenerObject {
  readonly id: string;
  readonly #socket: SocketLike;
  readonly #deps: ConnectionDeps;
  /** Token bucket for inbound frames. */
  #tokens: number;
  #refilledAt: number;
  /** Frames refused by the rate limit since the bucket was last full. */
  #strikes = 0;
  #gone = false;

  /** Wraps `socket` and starts listening; nothing is sent until it opens. */
  constructor(socket: SocketLike, id: string, deps: ConnectionDeps) {
    this.id = id;
    this.#socket = socket;
    this.#deps = deps;
    this.#tokens = deps.limits.frameBurst;
    this.#refilledAt = deps.now();
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", this);
    socket.addEventListener("message", this);
    socket.addEventListener("close", this);
    socket.addEventListener("error", this);
  }

  /** Dispatches socket events. */
  handleEvent(event: Event): void {
    try {
      switch (event.type) {
        case "open":
          this.#deps.hub.add(this);
          this.send(clientAck("Connected", { uuid: this.id, channels: [] }));
          break;
        case "message":
          this.#onFrame((event as MessageEvent<unknown>).data);
          break;
        default: // close, error
          this.#onGone(event instanceof CloseEvent ? event.code : undefined);
      }
    } catch (error) {
      // An exception escaping an event listener would end the whole process: this connection
      // alone pays for a bug, with 1011, and the details go to the log.
      this.#deps.logger.error("connection failed", { uuid: this.id, event: event.type, error });
      this.close(CLOSE.internalError, "internal error");
    }
  }

  /** Queues a frame unless the peer is too far behind, in which case it is closed with 4008. */
  send(frame: string): boolean {
    if (this.#gone || this.#socket.readyState !== OPEN) return false;
    if (this.#socket.bufferedAmount > this.#deps.limits.maxBufferedBytes) {
      this.#deps.metrics.slowConsumerCloses++;
      this.#deps.logger.warn("closing slow consumer", { uuid: this.id });
      this.close(CLOSE.slowConsumer, "slow consumer");
      return false;
    }
    this.#socket.send(frame);
    return true;
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

  #onGone(code: number | undefined): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#deps.hub.remove(this.id);
    this.#deps.onGone(this);
    this.#deps.logger.debug("connection closed", { uuid: this.id, code });
  }

  #onFrame(data: unknown): void {
    if (this.#gone) return;
    const { limits } = this.#deps;
    if (!this.#takeToken()) return;
    if (typeof data !== "string") {
      const size = data instanceof ArrayBuffer ? data.byteLength : 0;
      if (size > limits.maxFrameBytes) return this.close(CLOSE.messageTooBig, "frame too large");
      return this.#reject(
        new PushError("invalid_frame", "Binary frames are not supported; send JSON text frames"),
      );
    }
    if (exceedsUtf8Bytes(data, limits.maxFrameBytes)) {
      return this.close(CLOSE.messageTooBig, "frame too large");
    }
    const parsed = parseInbound(data);
    if (!parsed.ok) return this.#reject(parsed.error);
    const frame = parsed.value;
    if (typeof frame.uuid === "string" && frame.uuid.toLowerCase() !== this.id) {
      return this.#reject(
        new PushError(
          "uuid_mismatch",
          "The given UUID does not belong to this WebSocket connection",
        ),
      );
    }
    const channel = frame.data.channel;
    const { hub } = this.#deps;
    try {
      if (frame.action === "SUBSCRIBE") {
        if (!this.#deps.channelExists(channel)) {
          throw new PushError(
            "unknown_channel",
            `Could not find a channel called ${JSON.stringify(channel)}`,
          );
        }
        this.send(
          clientAck("Subscribed", { uuid: this.id, channels: hub.subscribe(this.id, channel) }),
        );
      } else {
        this.send(
          clientAck("Unsubscribed", { uuid: this.id, channels: hub.unsubscribe(this.id, channel) }),
        );
      }
    } catch (error) {
      if (!(error instanceof PushError)) throw error;
      this.#reject(error);
    }
  }

  #reject(error: PushError): void {
    this.#deps.metrics.countError("ws", error.status);
    this.send(errorEnvelope(error));
  }

  /** Token bucket: `frameRatePerS` refill, `frameBurst` capacity; persistent flooding closes 1008. */
  #takeToken(): boolean {
    const { frameRatePerS, frameBurst } = this.#deps.limits;
    const now = this.#deps.now();
    const elapsed = now - this.#refilledAt;
    if (elapsed > 0) {
      this.#tokens = Math.min(frameBurst, this.#tokens + (elapsed * frameRatePerS) / 1000);
      this.#refilledAt = now;
    }
    // Strikes are forgiven only once the bucket is full again (the client paused long enough):
    // forgiving them on every accepted frame let a flooder live forever on the trickle refill.
    if (this.#tokens >= frameBurst) this.#strikes = 0;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    this.#strikes++;
    if (this.#strikes > frameBurst) {
      this.close(CLOSE.policyViolation, "too many frames");
    } else {
      this.#reject(
        new PushError(
          "too_many_requests",
          `Too many frames; the limit is ${frameRatePerS} per second (burst ${frameBurst})`,
        ),
      );
    }
    return false;
  }
}
