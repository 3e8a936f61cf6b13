/**
 * The subscriber session behind one connection, whatever its transport: commands handled in
 * arrival order (SUBSCRIBE, UNSUBSCRIBE, recovery), each answered through a {@link FrameWriter}.
 * A WebSocket connection feeds it frames; a Server-Sent Events transport can feed it the bodies
 * of its command requests the same way.
 */
import { channelNotFound, storeUnavailable } from "../channels/failures.ts";
import type { Channel } from "../channels/store.ts";
import type { SubscriberTokens, TokenRefusal } from "../channels/subscriber_tokens.ts";
import { CLOSE, PushError } from "../errors.ts";
import type { ReplayBudget } from "../history/replay_budget.ts";
import type { Hub } from "../hub/hub.ts";
import type { ChannelLookup } from "../hub/lookup.ts";
import type { ChannelPresence } from "../hub/channel_presence.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { type InboundFrame, parseInbound } from "../protocol/inbound.ts";
import { type AckPresence, errorEnvelope } from "../protocol/outbound.ts";
import { presenceAck, presenceInfo } from "../protocol/presence.ts";
import { FrameRateLimiter } from "./rate_limit.ts";
import { replay } from "./replay.ts";
import type { FrameWriter } from "./writer.ts";

/** What every session shares. */
export interface SessionDeps {
  readonly hub: Hub;
  readonly channels: ChannelLookup;
  /** Members of presence channels and subscriber counts (v1.2 "Presence"). */
  readonly channelPresence: ChannelPresence;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly now: () => number;
  readonly replayBudget: ReplayBudget;
  readonly limits: { readonly frameRatePerS: number; readonly frameBurst: number };
  /** Subscriber tokens (JWT) for private channels, when `JWT_SECRET`/`JWT_PUBLIC_KEYS` are set. */
  readonly tokens?: SubscriberTokens | undefined;
  /** The clock and timers of token expiry (default: `now` and the global timers). */
  readonly timers?: Timers | undefined;
  /** The transport, as metrics label its errors (default `ws`). */
  readonly transport?: "ws" | "sse";
}

/** The clock and timers token expiry runs on (injected so that tests control expiry). */
export interface Timers {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

function globalTimers(now: () => number): Timers {
  return {
    now,
    setTimeout: (callback, ms) => setTimeout(callback, ms),
    clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
  };
}

/** The longest delay a timer takes (larger ones fire at once); longer expiries re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One subscriber's commands. Most are answered synchronously; one that must wait (a recovery,
 * a networked store) holds the commands behind it until it is done, so answers always come
 * back in request order.
 */
export class Session {
  readonly id: string;
  readonly #deps: SessionDeps;
  readonly #writer: FrameWriter;
  readonly #close: (code: number, reason: string) => void;
  readonly #rate: FrameRateLimiter;
  /** Commands that arrived while an earlier one is still being handled (undefined: none). */
  #waiting: unknown[] | undefined;
  #busy = false;
  #gone = false;
  /** Subscriptions that a token allowed: channel → the timer that ends them at its expiry. */
  #expiries: Map<string, unknown> | undefined;
  #timersCache: Timers | undefined;

  /** A session answering through `writer`; `close` ends its transport. */
  constructor(
    id: string,
    deps: SessionDeps,
    writer: FrameWriter,
    close: (code: number, reason: string) => void,
  ) {
    this.id = id;
    this.#deps = deps;
    this.#writer = writer;
    this.#close = close;
    this.#rate = new FrameRateLimiter(deps.limits.frameRatePerS, deps.limits.frameBurst, deps.now);
  }

  /** Handles one client frame (a JSON text, or anything else to refuse), in arrival order. */
  command(data: unknown): void {
    if (this.#gone) return;
    if (this.#busy) {
      // Wait behind the command being handled; the rate limit bounds how many can pile up.
      const waiting = this.#waiting ??= [];
      if (waiting.length >= this.#deps.limits.frameBurst) {
        return this.#close(CLOSE.policyViolation.code, CLOSE.policyViolation.reason);
      }
      waiting.push(data);
      return;
    }
    this.#handle(data);
  }

  /**
   * Starts the session: `hello` (the `Connected` frame) goes out once `ready` (the connection's
   * cluster-wide presence, when there is one to wait for) is in force; commands that arrive
   * meanwhile wait behind it, so `Connected` stays the first frame.
   */
  open(ready: Promise<void> | void, hello: () => void): void {
    if (ready === undefined) return hello();
    this.#busy = true;
    ready
      .then(() => {
        if (!this.#gone) hello();
      })
      .catch((error) => this.#fail(error))
      .finally(() => {
        this.#busy = false;
        this.#drain();
      });
  }

  /** The transport is gone: nothing more is handled. */
  end(): void {
    this.#gone = true;
    this.#waiting = undefined;
    for (const channel of [...this.#expiries?.keys() ?? []]) this.#forgetExpiry(channel);
  }

  #handle(data: unknown): void {
    if (!this.#admit()) return;
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
      .catch((error) => this.#fail(error))
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

  #fail(error: unknown): void {
    this.#deps.logger.error("connection failed", { uuid: this.id, event: "message", error });
    this.#close(CLOSE.internalError.code, CLOSE.internalError.reason);
  }

  #answerError(error: unknown): void {
    if (!(error instanceof PushError)) throw error;
    this.#reject(error);
  }

  #reject(error: PushError): void {
    this.#deps.metrics.countError(this.#deps.transport ?? "ws", error.status);
    this.#writer.send(errorEnvelope(error));
  }

  #admit(): boolean {
    const admission = this.#rate.take();
    if (admission === "ok") return true;
    if (admission === "flood") {
      this.#close(CLOSE.policyViolation.code, CLOSE.policyViolation.reason);
    } else {
      const { ratePerS, burst } = this.#rate;
      this.#reject(
        new PushError(
          "too_many_requests",
          `Too many frames; the limit is ${ratePerS} per second (burst ${burst})`,
        ),
      );
    }
    return false;
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
      this.#forgetExpiry(name);
      // The ack follows what the leave causes (a presence leave and its webhook event written).
      const left = hub.leave(this.id, name);
      if (left !== undefined) {
        return left.then(() => void this.#writer.send(hub.ackFor(this.id, "Unsubscribed", name)));
      }
      this.#writer.send(hub.ackFor(this.id, "Unsubscribed", name));
      return;
    }
    if (frame.action === "PRESENCE") return this.#presence(name);
    // A revoke or delete answered while the channel and grant are checked ends this subscribe.
    hub.joining(this.id, name);
    let result: Promise<void> | void;
    try {
      const found = this.#deps.channels.lookup(name);
      result = found instanceof Promise
        ? found.then((channel) => this.#subscribe(frame, channel))
        : this.#subscribe(frame, found);
    } catch (error) {
      hub.notJoining(this.id);
      throw error;
    }
    if (result === undefined) {
      hub.notJoining(this.id);
      return;
    }
    return result.finally(() => hub.notJoining(this.id));
  }

  /** `PRESENCE`: who is on a channel this connection is subscribed to (else 403). */
  #presence(name: string): Promise<void> | void {
    if (!this.#deps.hub.isSubscribed(this.id, name)) {
      throw new PushError(
        "not_subscribed",
        `This connection is not subscribed to the channel ${JSON.stringify(name)}`,
      );
    }
    const answer = (channel: Channel | undefined): Promise<void> | void => {
      if (channel === undefined) throw channelNotFound(name);
      const snapshot = this.#deps.channelPresence.read(channel);
      if (!(snapshot instanceof Promise)) {
        return void this.#writer.send(presenceAck(name, snapshot));
      }
      return snapshot.then(
        (s) => void this.#writer.send(presenceAck(name, s)),
        (error) => Promise.reject(storeUnavailable(error)),
      );
    };
    const found = this.#deps.channels.lookup(name);
    return found instanceof Promise ? found.then(answer) : answer(found);
  }

  #subscribe(frame: InboundFrame, channel: Channel | undefined): Promise<void> | void {
    const name = frame.data.channel;
    if (channel === undefined) throw channelNotFound(name);
    if (!channel.private) return this.#joinFor(channel, frame, undefined);
    const granted = this.#deps.channels.isGranted(this.id, channel);
    if (granted instanceof Promise) {
      return granted.then((ok) =>
        ok ? this.#joinFor(channel, frame, undefined) : this.#byToken(channel, frame)
      );
    }
    if (!granted) return this.#byToken(channel, frame);
    return this.#joinFor(channel, frame, undefined);
  }

  /** A private channel without a grant: the subscribe needs a valid token. */
  async #byToken(channel: Channel, frame: InboundFrame): Promise<void> {
    const { token } = frame.data;
    const tokens = this.#deps.tokens;
    if (token === undefined || tokens === undefined) throw notGranted(channel.name);
    const verdict = await tokens.verify(token, channel.name);
    if (!verdict.ok) throw tokenRefused(channel.name, verdict.reason);
    await this.#joinFor(channel, frame, verdict.endsAtMs);
  }

  /**
   * Joins, then (once the ack is out) arms the expiry of a token-allowed subscription; a join
   * allowed otherwise (public, granted) has none. A renewal replaces the previous timer.
   */
  #joinFor(
    channel: Channel,
    frame: InboundFrame,
    endsAtMs: number | undefined,
  ): Promise<void> | void {
    const joined = this.#join(channel, frame.data);
    const arm = () => {
      if (this.#gone || !this.#deps.hub.isSubscribed(this.id, channel.name)) return;
      this.#forgetExpiry(channel.name);
      if (endsAtMs !== undefined) this.#expireAt(channel.name, endsAtMs);
    };
    if (joined === undefined) return arm();
    return joined.then(arm);
  }

  get #timers(): Timers {
    return this.#timersCache ??= this.#deps.timers ?? globalTimers(this.#deps.now);
  }

  #expireAt(channel: string, endsAtMs: number): void {
    const timers = this.#timers;
    const delay = Math.max(0, endsAtMs - timers.now());
    const timer = timers.setTimeout(() => {
      this.#expiries?.delete(channel);
      if (this.#gone) return;
      // A far expiry is re-armed in steps (timers cap their delay at ~24.8 days).
      if (timers.now() < endsAtMs) return this.#expireAt(channel, endsAtMs);
      this.#deps.hub.expire(this.id, channel);
    }, Math.min(delay, MAX_TIMER_MS));
    (this.#expiries ??= new Map()).set(channel, timer);
  }

  #forgetExpiry(channel: string): void {
    const timer = this.#expiries?.get(channel);
    if (timer === undefined) return;
    this.#timers.clearTimeout(timer);
    this.#expiries!.delete(channel);
  }

  #join(channel: Channel, data: InboundFrame["data"]): Promise<void> | void {
    const { hub } = this.#deps;
    const name = channel.name;
    let info: string | undefined;
    if (channel.presence === true) {
      const parsed = presenceInfo(data.info);
      if (!parsed.ok) throw parsed.error;
      info = parsed.value;
    }
    if (this.#gone) return;
    const already = hub.isSubscribed(this.id, name);
    hub.subscribe(this.id, name);
    if (info === undefined) return this.#joined(channel, data.since, already, undefined);
    // Subscribed in the hub first: from here the hub's unsubscribe (or disconnect) is the leave.
    let count;
    try {
      count = this.#deps.channelPresence.join(name, { uuid: this.id, info });
    } catch (error) {
      if (!already) hub.unsubscribe(this.id, name);
      throw error;
    }
    if (!(count instanceof Promise)) {
      return this.#joined(channel, data.since, already, { count });
    }
    return count.then(
      (count) => this.#joined(channel, data.since, already, { count }),
      (error) => {
        if (!already) hub.unsubscribe(this.id, name);
        throw storeUnavailable(error);
      },
    );
  }

  /** Answers a subscribe that is in force: the ack (with `presence`), or a recovery. */
  #joined(
    channel: Channel,
    since: InboundFrame["data"]["since"],
    already: boolean,
    presence: AckPresence | undefined,
  ): Promise<void> | void {
    const { hub } = this.#deps;
    const name = channel.name;
    if (this.#gone || !hub.isSubscribed(this.id, name)) return;
    const ready = hub.ready(name);
    if (channel.history !== null) {
      return replay({
        id: this.id,
        channel,
        since,
        already,
        ready,
        deps: this.#deps,
        writer: this.#writer,
        close: this.#close,
        presence,
      });
    }
    if (ready === undefined) {
      this.#writer.send(hub.ackFor(this.id, "Subscribed", name, undefined, presence));
      return;
    }
    return ready.then(
      () => void this.#writer.send(hub.ackFor(this.id, "Subscribed", name, undefined, presence)),
      (error) => {
        if (!already) hub.unsubscribe(this.id, name);
        throw storeUnavailable(error);
      },
    );
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

function tokenRefused(name: string, reason: TokenRefusal): PushError {
  return new PushError(
    "private_channel",
    `The channel ${
      JSON.stringify(name)
    } is private and the subscriber token was refused: ${reason}`,
  );
}
