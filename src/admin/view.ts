/**
 * What the admin API shows, from one node (single mode) or summed over the cluster: each node
 * writes its samples, status and per-channel counts to Redis with an expiry once a second, and
 * the node that answers reads every live node's. A dead node's keys expire within seconds.
 */
import type { Redis } from "ioredis";
import { type ChannelActivity, perMinute, type PushWindow } from "./activity.ts";
import { mergeSamples, type Sample, type Sampler } from "./sampler.ts";

/** One node, as the nodes panel shows it. */
export interface NodeStatus {
  readonly id: string;
  readonly connections: number;
  readonly subscriptions: number;
  /** Cluster mode: whether the node's Redis connections work. */
  readonly redis?: "up" | "down";
  /** Cluster mode: when the node last wrote its status (unix ms). */
  readonly lastHeartbeat?: number;
}

/** Live counts of one channel, cluster-wide. */
export interface ChannelCounts {
  readonly subscribers: number;
  readonly pushesPerMinute: number;
}

/** The node's local subscriber counts (the hub). */
export interface LocalSubscribers {
  /** Channels with at least one local subscriber. */
  activeChannels(): string[];
  /** Local subscribers of `channel`. */
  subscriberCount(channel: string): number;
}

/** The admin API's data source. */
export interface AdminView {
  /** Every live node and the series (oldest first), summed over the nodes. */
  overview(): Promise<{ nodes: NodeStatus[]; samples: Sample[]; cluster: boolean }>;
  /** Subscribers and pushes per minute of each of `names`, cluster-wide, in that order. */
  counts(names: readonly string[]): Promise<ChannelCounts[]>;
  /** Takes this node's sample (and writes it out, in cluster mode); called once per interval. */
  tick(): Promise<void>;
}

/** What both views read on this node. */
export interface LocalParts {
  readonly sampler: Sampler;
  readonly activity: ChannelActivity;
  readonly hub: LocalSubscribers;
  readonly now: () => number;
}

/** The single-node view: everything is in this process. */
export function localView(parts: LocalParts): AdminView {
  const { sampler, activity, hub } = parts;
  return {
    overview() {
      const samples = sampler.samples();
      const last = samples.at(-1);
      const node = {
        id: "local",
        connections: last?.connections ?? 0,
        subscriptions: last?.subscriptions ?? 0,
      };
      return Promise.resolve({ nodes: [node], samples, cluster: false });
    },
    counts(names) {
      return Promise.resolve(names.map((name) => ({
        subscribers: hub.subscriberCount(name),
        pushesPerMinute: activity.perMinute(name),
      })));
    },
    tick() {
      sampler.sample();
      activity.sweep();
      return Promise.resolve();
    },
  };
}

/** How this node reaches the cluster. */
export interface ClusterLink {
  readonly redis: Redis;
  /** The deployment's key prefix (`REDIS_PREFIX`). */
  readonly prefix: string;
  readonly nodeId: string;
  /** Whether this node's Redis connections work. */
  readonly healthy: () => boolean;
}

/** A node whose status is older than this is not shown (its keys expire soon after). */
const NODE_TTL_MS = 10_000;
/** Life of the pushes-per-minute counters a node wrote (two minutes and a margin). */
const PUSHES_TTL_MS = 150_000;

/** The cluster view: this node's numbers go to Redis, answers are read back from every node's. */
export function clusterView(parts: LocalParts, link: ClusterLink): AdminView {
  const { sampler, activity, hub, now } = parts;
  const { redis, nodeId } = link;
  const key = {
    nodes: `${link.prefix}admin:nodes`,
    samples: (id: string) => `${link.prefix}admin:samples:${id}`,
    subs: (id: string) => `${link.prefix}admin:subs:${id}`,
    pushes: (id: string) => `${link.prefix}admin:pushes:${id}`,
  };
  /** The subscriber counts as last written; `undefined`: write them all (first tick, or lost). */
  let written: Map<string, number> | undefined;

  async function liveNodes(): Promise<{ id: string; seen: number }[]> {
    const raw = await redis.zrangebyscore(key.nodes, now() - NODE_TTL_MS, "+inf", "WITHSCORES");
    const nodes: { id: string; seen: number }[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      nodes.push({ id: raw[i]!, seen: Number(raw[i + 1]) });
    }
    return nodes;
  }

  return {
    async overview() {
      const nodes = await liveNodes();
      const pipeline = redis.pipeline();
      for (const node of nodes) pipeline.lrange(key.samples(node.id), 0, -1);
      const replies = (await pipeline.exec()) ?? [];
      const perNode = nodes.map((_, i) => {
        const [error, rows] = replies[i] ?? [null, []];
        if (error) throw error;
        return (rows as string[]).map((row) => JSON.parse(row) as Sample & { redis?: string });
      });
      const since = now() - sampler.windowMs;
      const samples = mergeSamples(
        perNode.map((rows) => rows.filter((s) => s.t > since)),
        sampler.intervalMs,
      );
      const status = nodes.map((node, i): NodeStatus => {
        const last = perNode[i]!.at(-1);
        return {
          id: node.id,
          connections: last?.connections ?? 0,
          subscriptions: last?.subscriptions ?? 0,
          redis: last?.redis === "down" ? "down" : "up",
          lastHeartbeat: node.seen,
        };
      });
      return { nodes: status, samples, cluster: true };
    },

    async counts(names) {
      if (names.length === 0) return [];
      const nodes = await liveNodes();
      const pipeline = redis.pipeline();
      for (const node of nodes) {
        pipeline.hmget(key.subs(node.id), ...names);
        pipeline.hmget(key.pushes(node.id), ...names);
      }
      const replies = (await pipeline.exec()) ?? [];
      const at = now();
      return names.map((_, n) => {
        let subscribers = 0;
        let pushesPerMinute = 0;
        nodes.forEach((_, i) => {
          const subs = replies[2 * i]?.[1] as (string | null)[] | undefined;
          const pushes = replies[2 * i + 1]?.[1] as (string | null)[] | undefined;
          subscribers += Number(subs?.[n] ?? 0);
          pushesPerMinute += perMinute(decodeWindow(pushes?.[n] ?? null), at);
        });
        return { subscribers, pushesPerMinute };
      });
    },

    async tick() {
      const sample = sampler.sample();
      const at = now();
      const pipeline = redis.pipeline();
      const samplesKey = key.samples(nodeId);
      pipeline.rpush(
        samplesKey,
        JSON.stringify({ ...sample, redis: link.healthy() ? "up" : "down" }),
      );
      pipeline.ltrim(samplesKey, -sampler.capacity, -1);
      pipeline.pexpire(samplesKey, sampler.windowMs);
      pipeline.zadd(key.nodes, at, nodeId);
      pipeline.zremrangebyscore(key.nodes, "-inf", at - sampler.windowMs);

      const subsKey = key.subs(nodeId);
      const current = new Map<string, number>();
      for (const channel of hub.activeChannels()) {
        current.set(channel, hub.subscriberCount(channel));
      }
      const previous = written ?? new Map<string, number>();
      if (written === undefined) pipeline.del(subsKey);
      const changed: (string | number)[] = [];
      for (const [channel, count] of current) {
        if (previous.get(channel) !== count) changed.push(channel, count);
      }
      const gone = [...previous.keys()].filter((channel) => !current.has(channel));
      if (changed.length > 0) pipeline.hset(subsKey, ...changed);
      if (gone.length > 0) pipeline.hdel(subsKey, ...gone);
      const subsExpiry = pipeline.length;
      pipeline.pexpire(subsKey, NODE_TTL_MS);

      const pushesKey = key.pushes(nodeId);
      const windows = [...activity.takeChanged()].flatMap(([channel, w]) => [
        channel,
        `${w.start}:${w.current}:${w.previous}`,
      ]);
      if (windows.length > 0) pipeline.hset(pushesKey, ...windows);
      const swept = activity.sweep();
      if (swept.length > 0) pipeline.hdel(pushesKey, ...swept);
      pipeline.pexpire(pushesKey, PUSHES_TTL_MS);

      written = current;
      try {
        const replies = (await pipeline.exec()) ?? [];
        if (replies.some(([error]) => error !== null)) written = undefined;
        // The hash expired (the node stalled, or Redis restarted empty): write it whole next time.
        else if (current.size > 0 && replies[subsExpiry]?.[1] === 0) written = undefined;
      } catch {
        written = undefined;
      }
    },
  };
}

/** Reads `start:current:previous` as written by {@link clusterView}'s tick. */
function decodeWindow(raw: string | null): PushWindow | undefined {
  if (raw === null) return undefined;
  const [start, current, previous] = raw.split(":").map(Number);
  if (start === undefined || current === undefined || previous === undefined) return undefined;
  return { start, current, previous };
}
