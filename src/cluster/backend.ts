/**
 * The cluster backend: channel records, history, grants and presence in Redis, pushes through
 * Redis pub/sub. Each job has one owner: the store (records), the broker (pub/sub both ways),
 * presence, grants; the node keeps lifecycle and health and drives their background work.
 */
import { ChannelCache } from "../channels/cache.ts";
import type { ChannelService } from "../channels/service.ts";
import type { Backend, BackendContext } from "../hub/backend.ts";
import { ClusterNode } from "./node.ts";
import { PRESENCE_TTL_MS, RedisPresence } from "./presence.ts";
import { unavailable } from "./redis.ts";
import { RedisBroker } from "./redis_broker.ts";
import { RedisChannelPresence } from "./redis_channel_presence.ts";
import { RedisGrants } from "./redis_grants.ts";
import { RedisOutbox } from "./redis_outbox.ts";
import { RedisChannelStore } from "./redis_store.ts";
import { RedisSseRelay } from "./sse_relay.ts";
import { RedisStatsShare } from "./stats_share.ts";

/** How often the cluster's channel count is read. */
const COUNT_REFRESH_MS = 5000;

/** Connects to `config.redisUrl` and builds the cluster backend; a failure names REDIS_URL. */
export async function startClusterBackend(context: BackendContext): Promise<Backend> {
  const { config, hub, handler, now, logger, reportFault, presenceHooks } = context;
  const node = await ClusterNode.start(config, { logger });
  const { cmd, sub, keys } = node;
  let service: ChannelService | undefined;
  let lastCount = now();
  const recount = () => {
    lastCount = now();
    if (service !== undefined && cmd.status === "ready") node.track(service.recount());
  };
  // Records are cached only while the event subscription is up (see ChannelCache).
  const cache = new ChannelCache({ offline: () => unavailable(undefined) });
  const store = new RedisChannelStore(cmd, keys);
  const sseRelay = new RedisSseRelay({ redis: cmd, keys, nodeId: node.nodeId, now, reportFault });
  const broker = new RedisBroker({
    redis: cmd,
    sub,
    keys,
    cache,
    handler,
    now,
    reportFault,
    onDeleted: recount,
    nodeId: node.nodeId,
    sseRelay,
  });
  const presence = new RedisPresence({
    redis: cmd,
    keys,
    nodeId: node.nodeId,
    hub,
    now,
    reportFault,
  });
  // Members of presence channels and subscriber counts: its own listener for joins and leaves.
  const channelPresence = new RedisChannelPresence({
    redis: cmd,
    sub,
    keys,
    hub,
    nodeId: node.nodeId,
    logger,
    reportFault,
    maxMembers: config.presenceMaxMembers,
    eventsMax: config.presenceEventsMax,
    hooks: presenceHooks,
    timing: { ttlMs: config.presenceTtlMs, refreshMs: config.presenceTtlMs / 4 },
  });
  const grants = new RedisGrants({
    redis: cmd,
    keys,
    cache,
    store,
    hub,
    handler,
    maxGrants: config.maxSubscriptionsPerConnection,
    ttlMs: PRESENCE_TTL_MS,
  });
  try {
    await broker.start();
    // Channels created by a node that did not keep the names set yet (the admin UI pages it).
    await store.backfillNames();
    await channelPresence.start();
  } catch (error) {
    await channelPresence.close();
    await broker.close();
    await node.disconnect();
    throw error;
  }
  return {
    store,
    cache,
    broker,
    grants,
    presence,
    channelPresence,
    // Its own connection: webhook traffic never queues behind (or ahead of) pushes.
    webhookOutbox: () =>
      RedisOutbox.open({ url: config.redisUrl!, keys, nodeId: node.nodeId, now }),
    sseRelay,
    start(core) {
      service = core.service;
      node.run({
        tick() {
          if (now() - lastCount >= COUNT_REFRESH_MS) recount();
          presence.tick();
          sseRelay.tick();
        },
        // Events may be lost from here on: nothing cached can be trusted until the heal.
        lost: () => cache.reset(),
        async heal() {
          await broker.listenAgain();
          await channelPresence.listenAgain();
          await grants.resync(await broker.resync(store));
          await presence.refresh();
          await sseRelay.refresh();
          // Redis may have come back empty: this node's members and counts are written again.
          channelPresence.resync();
        },
      });
    },
    healthy: () => node.healthy(),
    statsShare: new RedisStatsShare(cmd, keys, node.nodeId),
    metrics: () => node.metrics() + broker.metrics(),
    async close() {
      await broker.close();
      await presence.close();
      await sseRelay.close();
      await channelPresence.close();
      await node.close();
    },
  };
}
