/** One subscriber WebSocket: frame limits, ordered handling, hub operations, a bounded send path. */
import { channelNotFound } from "../channels/failures.ts";
import type { Channel } from "../channels/store.ts";
import { CLOSE, PushError } from "../errors.ts";
import type { HistoryRead } from "../history/log.ts";
import type { Hub, Subscriber } from "../hub/hub.ts";
import type { ChannelLookup } from "../hub/lookup.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { exceedsUtf8Bytes } from "../protocol/fields.ts";
import { type InboundFrame, parseInbound } from "../protocol/inbound.ts";
import {
  clientAck,
  compactAck,
  compactPush,
  errorEnvelope,
  pushHead,
  pushMessage,
  pushTail,
} from "../protocol/outbound.ts";

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
  readonly channels: ChannelLookup;
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
/** How often a paced replay looks at the send buffer again. */
const PACE_POLL_MS = 5;

/**
 * A subscriber connection. It listens with itself as the event handler object, so an idle
 * connection costs one small object and no closures.
 *
 * Frames are handled in arrival order. Most are answered synchronously; one that must wait
 * (a recovery, a networked store) holds the frames behind it in `#waiting` until it is done,
 * so replies always come back in request order.
 */
export class Connection implements Subscriber, EventListenerObject {
  readonly id: string;
  readonly compact: boolean;
  readonly #socket: SocketLike;
  readonly #deps: ConnectionDeps;
  /** Token bucket for inbound frames. */
  #tokens: number;
  #refilledAt: number;
  /** Frames refused by the rate limit since the bucket was last full. */
  #strikes = 0;
  #gone = false;
  /** Frames that arrived while an earlier one is still being handled (undefined: none). */
  #waiting: unknown[] | undefined;
  #busy = false;
  /**
   * An upper bound of the socket's `bufferedAmount`: its last reading plus at most 3 bytes per
   * UTF-16 unit sent since (the buffer only grows by what is sent). While the bound is within
   * the limit the buffer is too, and reading it, an op call per frame, is skipped.
   */
  #bufferedAtMost = 0;

  /** Wraps `socket` and starts listening; nothing is sent until it opens. */
  constructor(socket: SocketLike, id: string, deps: ConnectionDeps, compact = false) {
    this.id = id;
    this.compact = compact;
    this.#socket = socket;
    this.#deps = deps;
    this.#tokens = deps.limits.frameBurst;
    this.#refilledAt = deps.now();
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
          this.#deps.hub.add(this);
          this.send(
            this.compact
              ? compactAck("Connected", this.id)
              : clientAck("Connected", { uuid: this.id, channels: [] }),
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
    if (this.#gone || this.#socket.readyState !== OPEN) return false;
    const { maxBufferedBytes } = this.#deps.limits;
    if (this.#bufferedAtMost > maxBufferedBytes) {
      const buffered = this.#socket.bufferedAmount;
      if (buffered > maxBufferedBytes) {
        this.#deps.metrics.slowConsumerCloses++;
        this.#deps.logger.warn("closing slow consumer", { uuid: this.id });
        this.close(CLOSE.slowConsumer, "slow consumer");
        return false;
      }
      this.#bufferedAtMost = buffered;
    }
    this.#socket.send(frame);
    this.#bufferedAtMost += 3 * frame.length;
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

  #fail(where: string, error: unknown): void {
    // An exception escaping an event listener would end the whole process: this connection
    // alone pays for a bug, with 1011, and the details go to the log.
    this.#deps.logger.error("connection failed", { uuid: this.id, event: where, error });
    this.close(CLOSE.internalError, "internal error");
  }

  #onGone(code: number | undefined): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#waiting = undefined;
    this.#deps.hub.remove(this.id);
    this.#deps.onGone(this);
    this.#deps.logger.debug("connection closed", { uuid: this.id, code });
  }

  #onFrame(data: unknown): void {
    if (this.#gone) return;
    const { limits } = this.#deps;
    if (typeof data === "string") {
      if (exceedsUtf8Bytes(data, limits.maxFrameBytes)) {
        return this.close(CLOSE.messageTooBig, "frame too large");
      }
    } else if (data instanceof ArrayBuffer && data.byteLength > limits.maxFrameBytes) {
      return this.close(CLOSE.messageTooBig, "frame too large");
    }
    if (this.#busy) {
      // Wait behind the frame being handled; the rate limit bounds how many can pile up.
      const waiting = this.#waiting ??= [];
      if (waiting.length >= limits.frameBurst) {
        return this.close(CLOSE.policyViolation, "too many frames");
      }
      waiting.push(data);
      return;
    }
    this.#handle(data);
  }

  /** Handles one frame; if it must wait, later frames queue until it is done. */
  #handle(data: unknown): void {
    if (!this.#takeToken()) return;
    let pending: Promise<void> | void;
    try {
      pending = this.#act(data);
    } catch (error) {
      return this.#answerError(error);
    }
    if (pending === undefined) return;
    this.#busy = true;
    pending
      .catch((error) => this.#answerError(error))
      .catch((error) => this.#fail("message", error))
      .finally(() => {
        this.#busy = false;
        this.#drain();
      });
  }

  #drain(): void {
    while (!this.#busy && !this.#gone) {
      if (this.#waiting === undefined || this.#waiting.length === 0) {
        this.#waiting = undefined;
        return;
      }
      this.#handle(this.#waiting.shift());
    }
  }

  #answerError(error: unknown): void {
    if (!(error instanceof PushError)) throw error;
    this.#reject(error);
  }

  #act(data: unknown): Promise<void> | void {
    if (typeof data !== "string") {
      throw new PushError(
        "invalid_frame",
        "Binary frames are not supported; send JSON text frames",
      );
    }
    const parsed = parseInbound(data);
    if (!parsed.ok) throw parsed.error;
    const frame = parsed.value;
    if (typeof frame.uuid === "string" && frame.uuid.toLowerCase() !== this.id) {
      throw new PushError(
        "uuid_mismatch",
        "The given UUID does not belong to this WebSocket connection",
      );
    }
    const { hub } = this.#deps;
    const name = frame.data.channel;
    if (frame.action === "UNSUBSCRIBE") {
      hub.unsubscribe(this.id, name);
      this.send(hub.ackFor(this.id, "Unsubscribed", name));
      return;
    }
    const found = this.#deps.channels.lookup(name);
    if (found instanceof Promise) return found.then((channel) => this.#subscribe(frame, channel));
    return this.#subscribe(frame, found);
  }

  #subscribe(frame: InboundFrame, channel: Channel | undefined): Promise<void> | void {
    const name = frame.data.channel;
    if (channel === undefined) throw channelNotFound(name);
    if (!channel.private) return this.#join(channel, frame.data.since);
    const granted = this.#deps.channels.isGranted(this.id, channel);
    if (granted instanceof Promise) {
      return granted.then((ok) => {
        if (!ok) throw notGranted(name);
        return this.#join(channel, frame.data.since);
      });
    }
    if (!granted) throw notGranted(name);
    return this.#join(channel, frame.data.since);
  }

  #join(channel: Channel, since: InboundFrame["data"]["since"]): Promise<void> | void {
    const { hub } = this.#deps;
    const name = channel.name;
    if (this.#gone) return;
    const already = hub.isSubscribed(this.id, name);
    hub.subscribe(this.id, name);
    const ready = hub.ready(name);
    if (channel.history !== null) return this.#recover(channel, since, already, ready);
    if (ready === undefined) {
      this.send(hub.ackFor(this.id, "Subscribed", name));
      return;
    }
    return ready.then(
      () => void this.send(hub.ackFor(this.id, "Subscribed", name)),
      (error) => {
        if (!already) hub.unsubscribe(this.id, name);
        throw unavailable(error);
      },
    );
  }

  /**
   * Subscribes to a history channel: the ack with where the stream stands, then (when
   * recovering) the missed pushes paced by the send buffer, then whatever arrived meanwhile.
   */
  async #recover(
    channel: Channel,
    since: InboundFrame["data"]["since"],
    already: boolean,
    ready: Promise<void> | undefined,
  ): Promise<void> {
    const { hub } = this.#deps;
    const name = channel.name;
    hub.hold(this.id, name);
    // Already subscribed: live pushes kept flowing, so none held may be dropped.
    let replayedUpTo = -1;
    try {
      let read: HistoryRead;
      const asked = !already && since !== undefined && since.epoch === channel.epoch
        ? since.offset
        : undefined;
      try {
        await ready;
        read = await this.#deps.channels.history(channel, asked);
      } catch (error) {
        if (!already) hub.unsubscribe(this.id, name);
        throw unavailable(error);
      }
      const recovered = asked !== undefined && read.complete;
      const replay = recovered ? read.entries : [];
      const offset = recovered ? (replay.at(-1)?.offset ?? asked) : read.top;
      if (!already) replayedUpTo = offset;
      this.send(
        hub.ackFor(this.id, "Subscribed", name, {
          channel: name,
          epoch: channel.epoch,
          offset,
          recovered,
        }),
      );
      let head: string | undefined;
      for (const entry of replay) {
        await this.#room();
        if (this.#gone) return;
        const json = pushMessage(name, entry.message, {
          offset: entry.offset,
          epoch: channel.epoch,
        }, entry.json);
        if (this.compact) this.send(compactPush(json));
        else {
          head ??= pushHead({ uuid: this.id, channels: hub.channelsOf(this.id) });
          this.send(head + pushTail(json));
        }
      }
    } finally {
      for (const frame of hub.release(this.id, replayedUpTo)) {
        await this.#room();
        if (this.#gone) break;
        this.send(frame);
      }
    }
  }

  /** Waits until the send buffer has room for more (half the slow-consumer bound). */
  async #room(): Promise<void> {
    const limit = this.#deps.limits.maxBufferedBytes / 2;
    while (!this.#gone && this.#socket.bufferedAmount > limit) {
      await new Promise((resolve) => setTimeout(resolve, PACE_POLL_MS));
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

function notGranted(name: string): PushError {
  return new PushError(
    "private_channel",
    `The channel ${
      JSON.stringify(name)
    } is private and this connection is not authorized to subscribe`,
  );
}

function unavailable(error: unknown): PushError {
  if (error instanceof PushError) return error;
  return new PushError("unavailable", "The channel store is unavailable; retry shortly");
}
