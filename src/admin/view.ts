/**
 * What the admin API shows, from one node (single mode) or summed over the cluster: each node
 * writes its samples, status and per-channel counts to the backend's {@link StatsShare} (Redis)
 * with an expiry once a second, and the node that answers reads every live node's. A dead
 * node's numbers expire within seconds.
 */
import type { StatsShare } from "../hub/stats_share.ts";
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

/** How this node shares its numbers with the other nodes of the cluster. */
export interface ClusterLink {
  /** The backend's share (Redis). */
  readonly share: StatsShare;
  /** Whether this node's connections to the shared store work. */
  readonly healthy: () => boolean;
}

/** A node whose status is older than this is not shown (its keys expire soon after). */
const NODE_TTL_MS = 10_000;
/** Life of the pushes-per-minute counters a node wrote (two minutes and a margin). */
const PUSHES_TTL_MS = 150_000;
/** The tables each node writes. */
const SUBS = "subs";
const PUSHES = "pushes";

/** The cluster view: this node's numbers go to the share, answers are read back from every node's. */
export function clusterView(parts: LocalParts, link: ClusterLink): AdminView {
  const { sampler, activity, hub, now } = parts;
  const { share } = link;
  /** The subscriber counts as last written; `undefined`: write them all (first tick, or lost). */
  let written: Map<string, number> | undefined;

  const liveNodes = () => share.nodes(now() - NODE_TTL_MS);

  return {
    async overview() {
      const nodes = await liveNodes();
      const perNode = nodes.map((node) =>
        node.series.map((row) => JSON.parse(row) as Sample & { redis?: string })
      );
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
      const fields = await share.fields(nodes.map((node) => node.id), [SUBS, PUSHES], names);
      const at = now();
      return names.map((_, n) => {
        let subscribers = 0;
        let pushesPerMinute = 0;
        for (const [subs, pushes] of fields) {
          subscribers += Number(subs?.[n] ?? 0);
          pushesPerMinute += perMinute(decodeWindow(pushes?.[n] ?? null), at);
        }
        return { subscribers, pushesPerMinute };
      });
    },

    async tick() {
      const sample = sampler.sample();
      const current = new Map<string, number>();
      for (const channel of hub.activeChannels()) {
        current.set(channel, hub.subscriberCount(channel));
      }
      const previous = written ?? new Map<string, number>();
      const changed: [string, number][] = [];
      for (const [channel, count] of current) {
        if (previous.get(channel) !== count) changed.push([channel, count]);
      }
      const gone = [...previous.keys()].filter((channel) => !current.has(channel));
      const windows = [...activity.takeChanged()].map(([channel, w]): [string, string] => [
        channel,
        `${w.start}:${w.current}:${w.previous}`,
      ]);
      const swept = activity.sweep();
      const replace = written === undefined;
      written = current;
      try {
        const [subsThere] = await share.write({
          at: now(),
          sample: JSON.stringify({ ...sample, redis: link.healthy() ? "up" : "down" }),
          keep: sampler.capacity,
          keepMs: sampler.windowMs,
          tables: [
            { table: SUBS, replace, set: changed, remove: gone, ttlMs: NODE_TTL_MS },
            { table: PUSHES, replace: false, set: windows, remove: swept, ttlMs: PUSHES_TTL_MS },
          ],
        });
        // The table expired (the node stalled, or Redis restarted empty): write it whole next time.
        if (current.size > 0 && subsThere === false) written = undefined;
      } catch (error) {
        written = undefined;
        throw error;
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
