/**
 * SSE commands across nodes: a stream lives on one node, its `POST /sse/command` may reach any
 * node behind the load balancer. The holding node records `sse:<session key>` → its node id
 * (the key is the SHA-256 of the secret; the secret never reaches Redis), refreshed while the
 * stream is open and deleted when it ends. Another node forwards a command by PUBLISHing
 * `{k, b, q, n}` on the holder's relay channel (which the holder's broker listens to); the holder
 * hands it to the stream and answers `{q, ok}` on the sender's relay channel, so the sender's
 * 202 means what a local 202 means: the stream's session took the command. A client that waits
 * for each 202 before its next command (as ours does) keeps its order whichever node it hits.
 */
import type { Redis } from "ioredis";
import type { SseDeliver, SseRelay } from "../hub/sse_relay.ts";
import type { FaultReporter } from "../metrics.ts";
import type { Keys } from "./keys.ts";
import { redisCall, unavailable } from "./redis.ts";

/** Life of a session key unless refreshed (a dead node's keys go; PUBLISH finds it dead first). */
export const SSE_SESSION_TTL_MS = 10 * 60_000;
/** How often the keys of this node's streams are written again. */
const REFRESH_MS = 3 * 60_000;
/** How long a forwarding node waits for the holder's answer before a 503. */
export const RELAY_WAIT_MS = 5000;
/** Keys per pipeline when refreshing many. */
const BATCH = 500;

/** A forwarded command, on the holder's relay channel. */
interface RelayCommand {
  /** Session key. */
  readonly k: string;
  /** The command body. */
  readonly b: string;
  /** The sender's request id. */
  readonly q: string;
  /** The sender's node id (where the answer goes). */
  readonly n: string;
}

/** The holder's answer, on the sender's relay channel. */
interface RelayAnswer {
  readonly q: string;
  /** Whether an open stream took the command. */
  readonly ok: boolean;
}

/** What the relay needs from its node. */
export interface RedisSseRelayDeps {
  /** The command connection (one connection: one node's forwards reach Redis in order). */
  readonly redis: Redis;
  readonly keys: Keys;
  readonly nodeId: string;
  readonly now: () => number;
  readonly reportFault: FaultReporter;
}

/** One node's side of the SSE command relay. */
export class RedisSseRelay implements SseRelay {
  readonly #deps: RedisSseRelayDeps;
  /** Session keys of the streams this node holds. */
  readonly #held = new Set<string>();
  /** Streams that ended while Redis could not be told. */
  readonly #goneUnsaid = new Set<string>();
  readonly #waiting = new Map<string, (ok: boolean | undefined) => void>();
  readonly #pending = new Set<Promise<unknown>>();
  #deliver: SseDeliver = () => false;
  #next = 0;
  #dirty = false;
  #lastRefresh: number;
  #closed = false;

  /** Creates the relay of one node; its broker hands it what arrives on {@link channel}. */
  constructor(deps: RedisSseRelayDeps) {
    this.#deps = deps;
    this.#lastRefresh = deps.now();
  }

  /** This node's relay channel (its broker listens to it). */
  get channel(): string {
    return this.#deps.keys.sseRelay(this.#deps.nodeId);
  }

  attach(deliver: SseDeliver): void {
    this.#deliver = deliver;
  }

  register(sessionKey: string): Promise<void> | void {
    if (this.#closed) return;
    this.#held.add(sessionKey);
    this.#goneUnsaid.delete(sessionKey);
    const { redis, keys, nodeId } = this.#deps;
    // Failed: the next tick writes it again. `Connected` waits for the write either way.
    return this.#track(
      redis.set(keys.sseSession(sessionKey), nodeId, "PX", SSE_SESSION_TTL_MS).then(
        () => {},
        () => void (this.#dirty = true),
      ),
    );
  }

  unregister(sessionKey: string): void {
    if (!this.#held.delete(sessionKey) || this.#closed) return;
    const { redis, keys } = this.#deps;
    this.#track(
      redis.del(keys.sseSession(sessionKey)).then(() => {}, () => {
        this.#dirty = true;
        this.#goneUnsaid.add(sessionKey);
      }),
    );
  }

  async forward(sessionKey: string, text: string): Promise<boolean> {
    const { redis, keys, nodeId } = this.#deps;
    const holder = await redisCall(() => redis.get(keys.sseSession(sessionKey)));
    if (holder === null) return false;
    // A key naming this node whose stream the SSE routes no longer have: gone.
    if (holder === nodeId) return this.#deliver(sessionKey, text);
    const q = (this.#next++).toString(36);
    const answer = new Promise<boolean | undefined>((resolve) => {
      const timer = setTimeout(() => settle(undefined), RELAY_WAIT_MS);
      const settle = (ok: boolean | undefined) => {
        clearTimeout(timer);
        this.#waiting.delete(q);
        resolve(ok);
      };
      this.#waiting.set(q, settle);
    });
    const command: RelayCommand = { k: sessionKey, b: text, q, n: nodeId };
    let receivers: number;
    try {
      receivers = await redisCall(() =>
        redis.publish(keys.sseRelay(holder), JSON.stringify(command))
      );
    } catch (error) {
      this.#waiting.get(q)?.(false);
      throw error;
    }
    // Nobody listens on the holder's channel: that node is gone, and its streams with it.
    if (receivers === 0) {
      this.#waiting.get(q)?.(false);
      return false;
    }
    const ok = await answer;
    if (ok === undefined) throw unavailable(undefined);
    return ok;
  }

  async known(sessionKey: string): Promise<boolean> {
    const { redis, keys } = this.#deps;
    return await redisCall(() => redis.exists(keys.sseSession(sessionKey))) > 0;
  }

  /** A message on this node's relay channel: a command to hand over, or an answer. */
  receive(payload: string): void {
    if (this.#closed) return;
    const message = JSON.parse(payload) as RelayCommand | RelayAnswer;
    if (!("k" in message)) return void this.#waiting.get(message.q)?.(message.ok);
    const ok = this.#held.has(message.k) && this.#deliver(message.k, message.b);
    const answer: RelayAnswer = { q: message.q, ok };
    const { redis, keys } = this.#deps;
    this.#track(
      redis.publish(keys.sseRelay(message.n), JSON.stringify(answer)).then(
        () => {},
        (error) => this.#deps.reportFault("sse relay answer", error),
      ),
    );
  }

  /** Writes the session keys again when a write failed, or when their refresh is due. */
  tick(): void {
    if (this.#closed || this.#deps.redis.status !== "ready") return;
    if (!this.#dirty && this.#deps.now() - this.#lastRefresh < REFRESH_MS) return;
    this.#track(
      this.refresh().catch((error) => this.#deps.reportFault("sse relay refresh", error)),
    );
  }

  /** Writes every held session's key again (Redis may have restarted empty). */
  async refresh(): Promise<void> {
    const { redis, keys, nodeId } = this.#deps;
    this.#dirty = false;
    this.#lastRefresh = this.#deps.now();
    const held = [...this.#held];
    const gone = [...this.#goneUnsaid];
    try {
      for (let i = 0; i < held.length; i += BATCH) {
        const pipeline = redis.pipeline();
        for (const key of held.slice(i, i + BATCH)) {
          pipeline.set(keys.sseSession(key), nodeId, "PX", SSE_SESSION_TTL_MS);
        }
        await pipeline.exec();
      }
      for (let i = 0; i < gone.length; i += BATCH) {
        const batch = gone.slice(i, i + BATCH);
        await redis.del(...batch.map((key) => keys.sseSession(key)));
        for (const key of batch) this.#goneUnsaid.delete(key);
      }
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }

  /** Stops: forwards still waiting answer 503; resolves once writes in flight settled. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const settle of [...this.#waiting.values()]) settle(undefined);
    await Promise.allSettled([...this.#pending]);
  }

  #track(work: Promise<void>): Promise<void> {
    this.#pending.add(work);
    work.finally(() => this.#pending.delete(work));
    return work;
  }
}
