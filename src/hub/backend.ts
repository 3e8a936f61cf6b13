/**
 * The one seam between the core (channel rules, hub, transports) and where state lives. A
 * backend is a folder: `src/local/` (SQLite, in-process) and `src/cluster/` (Redis) each build
 * one, and `server.ts` picks which; nothing above this interface knows which it got.
 */
import type { ChannelCache } from "../channels/cache.ts";
import type { ChannelService } from "../channels/service.ts";
import type { ChannelStore } from "../channels/store.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { FaultReporter } from "../metrics.ts";
import type { WebhookOutbox } from "../webhooks/outbox.ts";
import type { Broker, BrokerHandler } from "./broker.ts";
import type { ChannelPresence, PresenceHooks } from "./channel_presence.ts";
import type { Grants, Presence } from "./grants.ts";
import type { Hub } from "./hub.ts";
import type { SseRelay } from "./sse_relay.ts";
import type { StatsShare } from "./stats_share.ts";

/** What a backend is built with. */
export interface BackendContext {
  readonly config: Config;
  readonly logger: Logger;
  readonly now: () => number;
  /** This node's hub (its connections, for presence and grants). */
  readonly hub: Hub;
  /** Where the backend hands the pushes and channel events that reach this node. */
  readonly handler: BrokerHandler;
  /** Where background work reports what failed. */
  readonly reportFault: FaultReporter;
  /** Told of channel presence joins/leaves and channels occupied/vacated (webhooks; tests). */
  readonly presenceHooks?: PresenceHooks | undefined;
}

/** The core a started backend may call back into. */
export interface BackendCore {
  readonly service: ChannelService;
}

/** Storage, delivery across nodes, grants and presence, behind one set of interfaces. */
export interface Backend {
  /** Channel records (compare-and-set). */
  readonly store: ChannelStore;
  /** The record cache the channel service keeps over `store`. */
  readonly cache: ChannelCache;
  readonly broker: Broker;
  readonly grants: Grants;
  /** Which connection UUIDs are live (for `authorize`). */
  readonly presence: Presence;
  /** Members of presence channels and subscriber counts (v1.2 "Presence"). */
  readonly channelPresence: ChannelPresence;
  /**
   * Opens the webhook outbox in the backend's own storage (tables of the SQLite file, or a
   * stream in Redis shared by every node). Called once, and only when `WEBHOOK_URL` is set; the
   * caller closes it before {@link close}.
   */
  webhookOutbox(): Promise<WebhookOutbox>;
  /** Where SSE commands for a stream held by another node go (none on a single node). */
  readonly sseRelay: SseRelay;
  /** Starts background work (heartbeats, refreshes) once the core is built. */
  start(core: BackendCore): void;
  /** False while the backend cannot serve: `/readyz` answers 503. */
  healthy(): boolean;
  /**
   * Where the nodes share the admin UI's numbers (cluster); absent when this node is the only
   * one (single node): the admin UI reads this process.
   */
  readonly statsShare?: StatsShare;
  /** Prometheus text of the backend's own series (empty when it has none). */
  metrics(): string;
  /** Commits what is pending, stops background work, releases the store and connections. */
  close(): Promise<void>;
}
