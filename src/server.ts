/** Composition root: picks a backend, builds the core over it, and starts both listeners. */
import { type ChannelService, createChannelService } from "./channels/service.ts";
import { sourceOf, TokenGate } from "./channels/token_gate.ts";
import { bcryptHasher, type TokenHasher, VERIFY_WORKERS } from "./channels/tokens.ts";
import { startClusterBackend } from "./cluster/backend.ts";
import { clientAddressRule } from "./client_address.ts";
import type { Config } from "./config.ts";
import { ConfigError } from "./config.ts";
import { CLOSE, ERRORS, PushError } from "./errors.ts";
import type { Backend, BackendContext } from "./hub/backend.ts";
import type { BrokerHandler } from "./hub/broker.ts";
import type { ChannelLookup } from "./hub/lookup.ts";
import { Hub } from "./hub/hub.ts";
import { createHttpApp } from "./http/app.ts";
import { BodyReader } from "./http/body.ts";
import { startLocalBackend } from "./local/backend.ts";
import { announce, jsonLogger, type Logger } from "./log.ts";
import { type FaultReporter, Metrics } from "./metrics.ts";
import { errorResponse } from "./protocol/outbound.ts";
import { connectionCaps, openFileLimit } from "./fd_limit.ts";
import { announceListening } from "./startup_notes.ts";
import { type Listener, openListener } from "./listener.ts";
import { createWsHandler } from "./ws/handler.ts";
import { createSseHandler } from "./sse/handler.ts";
import { ReplayBudget } from "./history/replay_budget.ts";
import { loadSubscriberTokens } from "./channels/subscriber_token_config.ts";
import type { Timers } from "./ws/session.ts";
import { Webhooks } from "./webhooks/webhooks.ts";
import { startAdmin } from "./admin/admin.ts";
import { registerAdminRoutes } from "./admin/api.ts";
import type { PresenceHooks } from "./hub/channel_presence.ts";

/** How long the listeners may take to close after in-flight requests were abandoned. */
const LISTENER_GRACE_MS = 1000;

/** Collaborators a caller (usually a test) may replace. */
export interface ServerOverrides {
  logger?: Logger;
  hasher?: TokenHasher;
  now?: () => number;
  /** Builds the backend (default: cluster mode when REDIS_URL is set, else single node). */
  backend?: (context: BackendContext) => Promise<Backend>;
  /** The open-file limit the caps derive from (default: OPEN_FILE_LIMIT, else read from the OS). */
  fdLimit?: number | undefined;
  /**
   * The clock and timers of subscriber tokens: checks of `exp`/`nbf` and the end of
   * token-allowed subscriptions (default: `now` and the global timers).
   */
  timers?: Timers;
  /** Told of presence joins/leaves and channel occupied/vacated (webhooks; tests). */
  presenceHooks?: PresenceHooks;
}

/** A running server. */
export interface RunningServer extends AsyncDisposable {
  readonly httpPort: number;
  readonly wsPort: number;
  readonly hostname: string;
  /**
   * Graceful stop: refuse new work with 503, close every WebSocket with 1001, wait for in-flight
   * HTTP requests (bounded by `shutdownTimeoutMs`), then close the listeners and the store.
   */
  shutdown(): Promise<void>;
  /** Resolves when shutdown has completed. */
  readonly finished: Promise<void>;
  /** Resolves (never rejects) if a port is lost for good: the process should exit 1. */
  readonly lost: Promise<Error>;
}

/** The backend `config` asks for: cluster mode when REDIS_URL is set, else a single node. */
function configuredBackend(config: Config): (context: BackendContext) => Promise<Backend> {
  return config.redisUrl === undefined ? startLocalBackend : startClusterBackend;
}

/** The core over the configured backend: hub, channel service, hasher and token gate. */
interface Core {
  readonly hub: Hub;
  readonly backend: Backend;
  readonly service: ChannelService;
  readonly hasher: TokenHasher;
  readonly tokenGate: TokenGate;
  /** Channel events to `WEBHOOK_URL` (undefined when unset); started once both ports listen. */
  readonly webhooks: Webhooks | undefined;
}

/**
 * Builds the hub, starts the backend with it and builds the channel service over the backend's
 * store. The hub asks the backend's broker for a channel's traffic while it has local
 * subscribers; the broker hands what reaches this node to the handler, which delivers and counts.
 * With `WEBHOOK_URL`, the same first/last-subscriber moments are `channel_occupied` and
 * `channel_vacated` (the first subscriber's ack waits for its event to be written down), and the
 * service tells creates and deletes; events go to the backend's outbox.
 */
async function startCore(
  config: Config,
  overrides: ServerOverrides,
  base: { logger: Logger; now: () => number; metrics: Metrics },
): Promise<Core> {
  const { logger, now, metrics } = base;
  const reportFault: FaultReporter = (job, error) => {
    metrics.countFault(job);
    logger.warn("background work failed", { job, error });
  };
  const hub = new Hub({
    maxSubscriptionsPerConnection: config.maxSubscriptionsPerConnection,
    maxSubscriptions: config.maxSubscriptions,
    maxHeldChars: config.maxBufferedBytes,
    onChannelActive: (channel) => {
      const interest = backend.broker.subscribe(channel);
      const occupied = webhooks?.occupied(channel);
      if (occupied === undefined) return interest;
      return Promise.all([interest, occupied]).then(() => {});
    },
    onChannelIdle: (channel) => {
      backend.broker.unsubscribe(channel);
      webhooks?.vacated(channel);
    },
    onConnection: (id, open) => backend.presence.connection(id, open),
    onMembership: (channel, id, subscribed) =>
      subscribed
        ? backend.channelPresence.subscribed(channel, id)
        : backend.channelPresence.unsubscribed(channel, id),
  });
  const handler: BrokerHandler = {
    onPublication(channel, publication, reached) {
      const report = hub.deliver(channel, publication, reached);
      metrics.deliveries += report.delivered;
      metrics.droppedMessages += report.dropped;
      return report;
    },
    onChannelEvent(channel, event) {
      if (event.type === "deleted") {
        // Members are forgotten without Left frames: the subscribers get Channel Deleted.
        backend.channelPresence.dropped(channel);
        hub.dropChannel(channel);
      } else hub.revoke(event.uuid, channel);
    },
  };
  const backend = await (overrides.backend ?? configuredBackend(config))({
    config,
    logger,
    now,
    hub,
    handler,
    reportFault,
    presenceHooks: withWebhooks(overrides.presenceHooks, () => webhooks, now),
  });
  metrics.sections.push(() => backend.metrics());
  let webhooks: Webhooks | undefined;
  if (config.webhook !== undefined) {
    try {
      const outbox = await backend.webhookOutbox();
      webhooks = new Webhooks({ config: config.webhook, logger, now, outbox });
    } catch (error) {
      await backend.close();
      throw error;
    }
    metrics.sections.push(webhooks.metrics.bind(webhooks));
  }
  const hasher = overrides.hasher ?? bcryptHasher(config.bcryptCost, { reportFault });
  // One bcrypt verification per verify worker at a time; the rest wait in the gate's fair queue.
  const tokenGate = new TokenGate({
    lanes: VERIFY_WORKERS,
    maxPending: config.maxTokenChecks,
    failureBurst: config.tokenFailureBurst,
    failuresPerSecond: config.tokenFailureRate,
  });
  let service: ChannelService;
  try {
    service = await createChannelService({
      store: backend.store,
      cache: backend.cache,
      hasher,
      maxTokenChecks: config.maxTokenChecks,
      maxChannels: config.maxChannels,
      tokenGate,
      now,
      reportFault,
      lifecycle: webhooks,
    });
  } catch (error) {
    hasher.close();
    await webhooks?.close();
    await backend.close();
    throw error;
  }
  backend.start({ service });
  return { hub, backend, service, hasher, tokenGate, webhooks };
}

/**
 * The presence hooks the backend tells (a test's, if any), plus the webhooks' `subscriber_joined`
 * and `subscriber_left` when `WEBHOOK_URL` is set (`webhooks()` is read when a member moves:
 * the feature is built after the backend). `info` is the member's JSON object as text.
 */
function withWebhooks(
  hooks: PresenceHooks | undefined,
  webhooks: () => Webhooks | undefined,
  now: () => number,
): PresenceHooks {
  const record = (
    name: "subscriber_joined" | "subscriber_left",
    channel: string,
    uuid: string,
    info: string,
  ) => {
    const sink = webhooks();
    if (sink === undefined) return;
    return sink.record({ name, channel, timeMs: now(), uuid, info: JSON.parse(info) });
  };
  return {
    onJoined(channel, uuid, info) {
      hooks?.onJoined?.(channel, uuid, info);
      void record("subscriber_joined", channel, uuid, info);
    },
    onLeft(channel, uuid, info) {
      const mine = hooks?.onLeft?.(channel, uuid, info);
      const event = record("subscriber_left", channel, uuid, info);
      return Promise.all([mine, event]).then(() => {});
    },
    onOccupied: (channel) => hooks?.onOccupied?.(channel),
    onVacated: (channel) => hooks?.onVacated?.(channel),
  };
}

/** Starts the publisher HTTP port and the subscriber WebSocket port. */
export async function startServer(
  config: Config,
  overrides: ServerOverrides = {},
): Promise<RunningServer> {
  const logger = overrides.logger ?? jsonLogger(config.logLevel);
  const now = overrides.now ?? Date.now;
  const tokens = await loadSubscriberTokens(config, overrides.timers?.now ?? now);
  const metrics = new Metrics();
  const fdLimit = "fdLimit" in overrides
    ? overrides.fdLimit
    : (config.openFileLimit ?? openFileLimit());
  const caps = connectionCaps(config.maxConnections, fdLimit);
  let draining = false;
  let listening = false;
  let inFlight = 0;
  let drained: PromiseWithResolvers<void> | undefined;

  const core = await startCore(config, overrides, { logger, now, metrics });
  const { hub, backend, service, hasher, tokenGate, webhooks } = core;
  const { broker, grants } = backend;
  const gauges = () => ({
    connections: hub.connectionCount,
    subscriptions: hub.subscriptionCount,
    channels: service.size,
    httpInFlight: inFlight,
    tokenChecks: tokenGate.pending,
    logLinesDropped: logger.droppedLines?.() ?? 0,
    sseConnections: sse.connections.size,
    presenceMembers: backend.channelPresence.localMembers,
  });

  // The admin UI, only with ADMIN_TOKEN: this node's samples once a second, summed over the
  // nodes when the backend shares them (a cluster).
  const adminToken = config.adminToken;
  const admin = adminToken === undefined ? undefined : startAdmin({
    metrics,
    hub,
    gauges: () => ({
      connections: hub.connectionCount,
      subscriptions: hub.subscriptionCount,
      channels: service.size,
    }),
    now,
    logger,
    share: backend.statsShare,
    healthy: () => backend.healthy(),
  });
  const bodies = new BodyReader(config);
  const clientAddress = clientAddressRule(config.trustedProxies);
  const app = createHttpApp({
    service,
    bodies,
    broker,
    grants,
    channelPresence: backend.channelPresence,
    metrics,
    logger,
    limits: config,
    adminToken: config.adminToken,
    createToken: config.createToken,
    gauges,
    isReady: () => listening && !draining && backend.healthy(),
    corsOrigins: config.corsOrigins,
    wsPort: () => wsServer?.port,
  });
  if (adminToken !== undefined && admin !== undefined) {
    registerAdminRoutes(app, {
      adminToken,
      view: admin.view,
      store: backend.store,
      broker,
      channelCount: () => service.size,
      presence: async (channel) => {
        const { count, members, truncated } = await backend.channelPresence.read(channel);
        return {
          count,
          members: members.map(({ uuid, info }) => ({ uuid, info: JSON.parse(info) as unknown })),
          ...(truncated ? { truncated } : {}),
        };
      },
      webhooks: () => {
        if (webhooks === undefined) return undefined;
        const { queued, lastDeliveryMs, retried, dropped } = webhooks.stats();
        return { queued, lastDelivery: lastDeliveryMs, failures: retried + dropped };
      },
    });
  }
  const channels: ChannelLookup = {
    lookup: (name) => service.lookup(name),
    isGranted: (id, channel) => grants.isGranted(id, channel),
    history: (channel, since, page) => broker.history(channel, since, page),
  };
  const subscriberDeps = {
    hub,
    channels,
    channelPresence: backend.channelPresence,
    metrics,
    logger,
    now,
    limits: config,
    idleTimeoutS: config.wsIdleTimeoutS,
    replayBudget: new ReplayBudget(config.maxReplayBytesInFlight),
    tokens,
    timers: overrides.timers,
    maxConnections: caps.wsConnections,
    allowedOrigins: config.wsOrigins,
    isDraining: () => draining,
  };
  const ws = createWsHandler({
    ...subscriberDeps,
    otherConnections: () => sse.connections.size,
    httpPort: () => httpServer?.port,
  });
  // Server-Sent Events share the subscriber port: /sse and /sse/command, anything else is WS.
  const sse = createSseHandler({
    ...subscriberDeps,
    otherConnections: () => ws.connections.size,
    corsOrigins: config.corsOrigins,
    relay: backend.sseRelay,
    keepAliveTimers: overrides.timers,
  });
  const serveSubscriber = (request: Request) => sse.handle(request) ?? ws.handle(request);

  const unavailable = (details = "The server is shutting down") =>
    errorResponse(new PushError("unavailable", details), { connection: "close" });

  async function serveHttp(
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Promise<Response> {
    try {
      // Token checks and body bytes of this request count against its source address.
      const client = clientAddress(
        info.remoteAddr.hostname,
        request.headers.get("x-forwarded-for"),
      );
      return await admitHttp(request, sourceOf(client));
    } finally {
      bodies.finish(request);
    }
  }

  async function admitHttp(request: Request, source: string): Promise<Response> {
    if (draining) return unavailable();
    if (inFlight >= caps.httpInFlight) {
      metrics.countError("http", ERRORS.unavailable.status);
      return unavailable(`The server is handling ${caps.httpInFlight} requests; retry shortly`);
    }
    inFlight++;
    try {
      return await app.fetch(request, { source });
    } finally {
      inFlight--;
      if (draining && inFlight === 0) drained?.resolve();
    }
  }

  const onError = (error: unknown) => {
    logger.error("unhandled request error", { error });
    return errorResponse(new PushError("internal", null));
  };

  let httpServer: Listener | undefined;
  let wsServer: Listener | undefined;
  const listener = (variable: string, port: number, handler: Deno.ServeHandler<Deno.NetAddr>) =>
    openListener({
      variable,
      hostname: config.host,
      port,
      handler,
      onError,
      logger,
      // Only on the HTTP port: shutting a dead instance down also ends its WebSockets.
      closeIdleOnExhaustion: variable === "PORT_HTTP",
    });
  try {
    httpServer = listener("PORT_HTTP", config.httpPort, serveHttp);
    wsServer = listener("PORT_WS", config.wsPort, serveSubscriber);
  } catch (error) {
    await httpServer?.shutdown();
    await admin?.close();
    hasher.close();
    await webhooks?.close();
    await backend.close();
    // A port that cannot be bound is a setting to fix: report it like one, naming the variable.
    const [variable, port] = httpServer === undefined
      ? ["PORT_HTTP", config.httpPort]
      : ["PORT_WS", config.wsPort];
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`${variable}: cannot listen on ${config.host}:${port}: ${reason}`);
  }
  listening = true;
  webhooks?.start();
  const httpPort = httpServer.port;
  const wsPort = wsServer.port;
  announceListening(logger, config, {
    wsPort,
    httpPort,
    fields: {
      channels: service.size,
      openFileLimit: fdLimit ?? null,
      maxConnections: caps.wsConnections,
      maxHttpInFlight: Number.isFinite(caps.httpInFlight) ? caps.httpInFlight : null,
    },
  });

  const finished = Promise.withResolvers<void>();
  let stopping: Promise<void> | undefined;

  async function stop(): Promise<void> {
    draining = true;
    logger.info("shutting down", { connections: hub.connectionCount, inFlight });
    for (const connection of [...ws.connections, ...sse.connections]) {
      connection.close(CLOSE.goingAway.code, CLOSE.goingAway.reason);
    }
    tokenGate.close();
    let abandoned = false;
    if (inFlight > 0) {
      drained = Promise.withResolvers<void>();
      abandoned = !(await settlesWithin(drained.promise, config.shutdownTimeoutMs));
      if (abandoned) {
        logger.warn("shutdown timeout: abandoning in-flight requests", { inFlight });
      }
    }
    // shutdown() makes a body still arriving unreadable: such a request is answered 503 by the
    // app (see readActionBody) instead of holding the process past its deadline.
    bodies.close();
    const closed = Promise.all([httpServer!.shutdown(), wsServer!.shutdown()]);
    if (abandoned) {
      // Deno's shutdown() still waits for the abandoned request's connection; give it a moment,
      // then stop anyway (main.ts exits the process).
      await settlesWithin(closed, LISTENER_GRACE_MS);
    } else {
      await closed;
    }
    listening = false;
    // Writes in flight land in the outbox before the backend releases it.
    await webhooks?.close();
    await admin?.close();
    await backend.close();
    hasher.close();
    announce(logger, "stopped");
    finished.resolve();
  }

  const shutdown = () => (stopping ??= stop());
  return {
    httpPort,
    wsPort,
    hostname: config.host,
    shutdown,
    finished: finished.promise,
    lost: Promise.race([httpServer.lost, wsServer.lost]),
    [Symbol.asyncDispose]: shutdown,
  };
}

/** Whether `promise` settles within `ms` (the timer is cleared either way). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
