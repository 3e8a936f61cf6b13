/**
 * One pushserver node in cluster mode, its lifecycle and health: its two Redis connections
 * (commands, and pub/sub), its heartbeat, the tick that drives background work, and the heal
 * after Redis comes back (even empty). What is done on a tick or a heal belongs to the parts
 * (broker, presence, grants), which the cluster backend hands it as {@link NodeJobs}.
 */
import type { Redis } from "ioredis";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { Keys } from "./keys.ts";
import { closeRedis, openRedis } from "./redis.ts";
import { counter } from "./redis_broker.ts";
import { loadScripts } from "./scripts.ts";

/** How often the node beats, checks Redis, and heals when needed. */
const TICK_MS = 1000;
/** A node whose heartbeat key is older than this is dead: its connections are unknown. */
const HEARTBEAT_TTL_MS = 4000;

/** Options of {@link ClusterNode.start}. */
export interface ClusterNodeOptions {
  readonly logger: Logger;
  readonly nodeId?: string;
}

/** What the node drives. */
export interface NodeJobs {
  /** Each tick while the node runs (the command connection may be down). */
  tick(): void;
  /** The pub/sub connection dropped: events may be lost from here on. */
  lost(): void;
  /** Both connections are back after a loss: restore what Redis or this node may have lost. */
  heal(): Promise<void>;
}

/** A started node: connected, scripts loaded, heartbeat written. */
export class ClusterNode {
  readonly keys: Keys;
  readonly nodeId: string;
  /** The command connection. */
  readonly cmd: Redis;
  /** The pub/sub connection. */
  readonly sub: Redis;
  readonly #logger: Logger;
  readonly #pending = new Set<Promise<unknown>>();
  #jobs: NodeJobs | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #heartbeatOk = true;
  #needsHeal = false;
  #healing: Promise<void> | undefined;
  #closed = false;
  readonly #stats = { disconnects: 0, heals: 0 };

  private constructor(cmd: Redis, sub: Redis, config: Config, options: ClusterNodeOptions) {
    this.cmd = cmd;
    this.sub = sub;
    this.#logger = options.logger;
    this.keys = new Keys(config.redisPrefix);
    this.nodeId = options.nodeId ?? crypto.randomUUID();
  }

  /**
   * Connects to `config.redisUrl`; when Redis does not answer, throws a ConfigError naming
   * REDIS_URL.
   */
  static async start(config: Config, options: ClusterNodeOptions): Promise<ClusterNode> {
    const url = config.redisUrl!;
    const cmd = await openRedis(url, "pushserver-cmd");
    let sub: Redis;
    try {
      sub = await openRedis(url, "pushserver-sub");
    } catch (error) {
      await closeRedis(cmd);
      throw error;
    }
    const node = new ClusterNode(cmd, sub, config, options);
    try {
      await loadScripts(cmd);
      await node.#beat();
    } catch (error) {
      await node.disconnect();
      throw error;
    }
    return node;
  }

  /** Starts the tick and watches both connections; `jobs` say what a tick and a heal do. */
  run(jobs: NodeJobs): void {
    this.#jobs = jobs;
    this.sub.on("close", () => this.#onSubLost());
    this.sub.on("ready", () => this.#maybeHeal());
    this.cmd.on("ready", () => this.#maybeHeal());
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  /** True while both connections are up, the heartbeat answers, and no heal is pending. */
  healthy(): boolean {
    return this.cmd.status === "ready" && this.sub.status === "ready" && this.#heartbeatOk &&
      !this.#needsHeal;
  }

  /** Prometheus lines for the Redis connections. */
  metrics(): string {
    return [
      counter(
        "pushserver_redis_up",
        "gauge",
        "1 while this node's Redis connections work.",
        this.healthy() ? 1 : 0,
      ),
      counter(
        "pushserver_redis_disconnects_total",
        "counter",
        "Times the pub/sub connection to Redis was lost.",
        this.#stats.disconnects,
      ),
      counter(
        "pushserver_redis_heals_total",
        "counter",
        "Times the node healed after Redis came back.",
        this.#stats.heals,
      ),
    ].join("");
  }

  /** Runs `work` as part of the node: {@link close} waits for it. */
  track(work: Promise<unknown>): void {
    this.#pending.add(work);
    work.finally(() => this.#pending.delete(work)).catch(() => {});
  }

  /** Stops the tick, waits for tracked work, removes the heartbeat, closes both connections. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await Promise.allSettled([...this.#pending]);
    if (this.cmd.status === "ready") {
      await this.cmd.del(this.keys.node(this.nodeId)).catch((error) =>
        this.#logger.warn("could not remove this node's heartbeat key", { error })
      );
    }
    await this.disconnect();
  }

  /** Closes both connections; resolves once nothing of them is left running (see closeRedis). */
  async disconnect(): Promise<void> {
    await Promise.all([closeRedis(this.cmd), closeRedis(this.sub)]);
  }

  #onSubLost(): void {
    if (this.#closed) return;
    if (!this.#needsHeal) {
      this.#stats.disconnects++;
      this.#logger.warn("lost the Redis pub/sub connection; reconnecting");
    }
    this.#needsHeal = true;
    this.#jobs?.lost();
  }

  #tick(): void {
    if (this.#closed) return;
    this.track(this.#beat());
    this.#jobs?.tick();
    this.#maybeHeal();
  }

  async #beat(): Promise<void> {
    try {
      await this.cmd.set(this.keys.node(this.nodeId), "1", "PX", HEARTBEAT_TTL_MS);
      this.#heartbeatOk = true;
    } catch {
      // Health says so (/readyz 503, pushserver_redis_up 0); one line when it starts.
      if (this.#heartbeatOk) this.#logger.warn("Redis does not answer");
      this.#heartbeatOk = false;
    }
  }

  #maybeHeal(): void {
    if (!this.#needsHeal || this.#healing !== undefined || this.#closed) return;
    if (this.cmd.status !== "ready" || this.sub.status !== "ready") return;
    this.#healing = this.#heal().finally(() => this.#healing = undefined);
    this.track(this.#healing);
  }

  async #heal(): Promise<void> {
    try {
      await loadScripts(this.cmd);
      await this.#jobs?.heal();
      this.#needsHeal = false;
      this.#stats.heals++;
      this.#logger.info("reconnected to Redis");
    } catch (error) {
      this.#logger.warn("heal after Redis reconnect failed; retrying", { error });
    }
  }
}
