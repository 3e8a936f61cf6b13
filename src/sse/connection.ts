/**
 * One Server-Sent Events subscriber: a connection of the Hub like a WebSocket one. Frames go
 * out through a bounded {@link StreamWriter} as `data:` events; commands arrive as the bodies
 * of `POST /sse/command` and are handled by the same transport-neutral {@link Session}.
 */
import type { Subscriber } from "../hub/hub.ts";
import { CLOSE } from "../errors.ts";
import { ReplayBudget } from "../history/replay_budget.ts";
import { Session, type SessionDeps, type Timers } from "../ws/session.ts";
import { StreamWriter } from "./writer.ts";

/** What every SSE connection shares. */
export interface SseConnectionDeps extends Omit<SessionDeps, "replayBudget" | "limits"> {
  readonly limits: SessionDeps["limits"] & { readonly maxBufferedBytes: number };
  readonly replayBudget?: ReplayBudget;
  /** `WS_IDLE_TIMEOUT_S`: a peer that reads nothing that long while frames wait is cut off. */
  readonly idleTimeoutS: number;
  /** The keep-alive comment's period (25 s) and its timers. */
  readonly keepAlive: { readonly periodMs: number; readonly timers?: Timers | undefined };
  /** Called once when the stream is gone. */
  readonly onGone: (connection: SseConnection) => void;
}

let defaultBudget: ReplayBudget | undefined;

/** A subscriber over Server-Sent Events. */
export class SseConnection implements Subscriber {
  readonly id: string;
  readonly compact: boolean;
  /** The secret that authorizes commands for this stream (`POST /sse/command`). */
  readonly secret: string;
  readonly #deps: SseConnectionDeps;
  readonly #writer: StreamWriter;
  readonly #session: Session;
  #keepAlive: unknown;
  #gone = false;

  /** A connection whose events flow through {@link stream}; nothing is sent until {@link open}. */
  constructor(
    id: string,
    secret: string,
    deps: SseConnectionDeps,
    compact: boolean,
  ) {
    this.id = id;
    this.secret = secret;
    this.compact = compact;
    this.#deps = deps;
    const close = (code: number, reason: string) => this.close(code, reason);
    this.#writer = new StreamWriter({
      maxBufferedBytes: deps.limits.maxBufferedBytes,
      idleTimeoutMs: deps.idleTimeoutS * 1000,
      now: deps.now,
      close,
      onSlowConsumer: () => {
        deps.metrics.slowConsumerCloses++;
        deps.logger.warn("closing slow consumer", { uuid: this.id, transport: "sse" });
      },
    }, () => this.#onGone());
    this.#session = new Session(
      id,
      {
        ...deps,
        transport: "sse",
        replayBudget: deps.replayBudget ?? (defaultBudget ??= new ReplayBudget(64 << 20)),
      },
      this.#writer,
      close,
    );
  }

  /** The event stream (the response body). */
  get stream(): ReadableStream<Uint8Array> {
    return this.#writer.stream;
  }

  /**
   * Registers with the hub, sends `connected` (the `Connected` frame) once the hub and
   * `registered` (the session made known to other nodes) are done, starts the keep-alive.
   */
  open(connected: string, registered?: Promise<void> | void): void {
    const added = this.#deps.hub.add(this);
    const ready = registered === undefined
      ? added
      : added === undefined
      ? registered
      : Promise.all([added, registered]).then(() => {});
    this.#session.open(ready, () => void this.send(connected));
    this.#armKeepAlive();
  }

  /** Handles one command body (a client frame's JSON text), in arrival order. */
  command(text: string): void {
    if (!this.#gone) this.#session.command(text);
  }

  /** Whether the stream has ended. */
  get gone(): boolean {
    return this.#gone;
  }

  send(frame: string): boolean {
    if (this.#gone) return false;
    return this.#writer.send(frame);
  }

  /**
   * Ends the stream and drops every subscription at once. The code and reason a WebSocket
   * would get in its close frame come first as a last `close` event (EventSource ignores it
   * unless listened to).
   */
  close(code: number, reason: string): void {
    if (this.#gone) return;
    if (code !== CLOSE.slowConsumer.code) {
      this.#writer.write(`event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`);
    }
    this.#writer.end();
    this.#onGone();
  }

  #armKeepAlive(): void {
    const { periodMs, timers } = this.#deps.keepAlive;
    const tick = () => {
      if (this.#gone) return;
      // A comment line: proxies see traffic, EventSource ignores it.
      this.#writer.write(": keep-alive\n\n");
      this.#armKeepAlive();
    };
    this.#keepAlive = timers === undefined
      ? setTimeout(tick, periodMs)
      : timers.setTimeout(tick, periodMs);
  }

  #onGone(): void {
    if (this.#gone) return;
    this.#gone = true;
    const timers = this.#deps.keepAlive.timers;
    if (timers === undefined) clearTimeout(this.#keepAlive as ReturnType<typeof setTimeout>);
    else timers.clearTimeout(this.#keepAlive);
    this.#session.end();
    this.#deps.hub.remove(this.id);
    this.#deps.onGone(this);
    this.#deps.logger.debug("connection closed", { uuid: this.id, transport: "sse" });
  }
}
