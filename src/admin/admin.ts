/**
 * The admin UI's moving parts on one node: the sampler, the per-channel push counters and the
 * view (this process, or shared through the backend's share), ticked once a second while
 * `ADMIN_TOKEN` is set.
 */
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { ChannelActivity } from "./activity.ts";
import { type Reading, Sampler } from "./sampler.ts";
import type { StatsShare } from "../hub/stats_share.ts";
import { type AdminView, clusterView, type LocalSubscribers, localView } from "./view.ts";

/** What {@link startAdmin} needs. */
export interface AdminOptions {
  readonly metrics: Metrics;
  readonly hub: LocalSubscribers;
  /** Connections, subscriptions and channels now. */
  readonly gauges: () => { connections: number; subscriptions: number; channels: number };
  readonly now?: () => number;
  /** Where the nodes share their numbers (the backend's; absent on a single node). */
  readonly share?: StatsShare | undefined;
  /** Whether the backend works (shown per node when the numbers are shared). */
  readonly healthy?: () => boolean;
  /** Told (once per outage) when a sample cannot be taken or shared. */
  readonly logger?: Logger;
  /** Time between samples (default 1 s). */
  readonly intervalMs?: number;
}

/** A running admin sampler; `close()` stops its timer. */
export interface Admin {
  readonly view: AdminView;
  close(): Promise<void>;
}

const ERROR_CODE = /code="(\d+)"/;

/** Starts sampling now and once per interval. */
export function startAdmin(options: AdminOptions): Admin {
  const { metrics, hub } = options;
  const now = options.now ?? Date.now;
  const activity = new ChannelActivity(now);
  metrics.onPush = (channel) => activity.push(channel);
  const read = (): Reading => {
    const errors: Record<string, number> = {};
    for (const [labels, count] of metrics.errors) {
      const code = ERROR_CODE.exec(labels)?.[1];
      if (code !== undefined) errors[code] = (errors[code] ?? 0) + count;
    }
    return { ...options.gauges(), pushes: metrics.pushes, deliveries: metrics.deliveries, errors };
  };
  const sampler = new Sampler({
    read,
    now,
    ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }),
  });
  const parts = { sampler, activity, hub, now };
  const share = options.share;
  const view = share === undefined
    ? localView(parts)
    : clusterView(parts, { share, healthy: options.healthy ?? (() => true) });
  let ticking: Promise<unknown> | undefined;
  let failing = false;
  const tick = () => {
    // A tick still writing to a slow Redis is not doubled up.
    if (ticking !== undefined) return;
    ticking = Promise.resolve()
      .then(() => view.tick())
      .then(
        () => failing = false,
        (error) => {
          if (!failing) options.logger?.warn("admin sample failed", { error });
          failing = true;
        },
      )
      .finally(() => ticking = undefined);
  };
  tick();
  const timer = setInterval(tick, sampler.intervalMs);
  return {
    view,
    async close() {
      clearInterval(timer);
      metrics.onPush = undefined;
      await ticking;
    },
  };
}
