/** Composition root: builds store, hasher, service, hub, broker and both listeners from a Config. */
import { dirname } from "node:path";
import { retryWhileBusy } from "./local/busy_retry.ts";
import { explainDbPathError } from "./local/db_path.ts";
import { ClusterNode } from "./cluster/node.ts";
import { type ChannelService, createChannelService } from "./channels/service.ts";
import { SqliteChannelStore } from "./local/sqlite_store.ts";
import type { ChannelStore } from "./channels/store.ts";
import { sourceOf, TokenGate } from "./channels/token_gate.ts";
import { bcryptHasher, type TokenHasher, VERIFY_WORKERS } from "./channels/tokens.ts";
import type { Config } from "./config.ts";
import { ConfigError } from "./config.ts";
import { CLOSE, ERRORS, PushError } from "./errors.ts";
import type { Broker, BrokerHandler } from "./hub/broker.ts";
import { type Grants, localGrants } from "./hub/grants.ts";
import { Hub } from "./hub/hub.ts";
import { LocalBroker } from "./local/local_broker.ts";
import { createHttpApp } from "./http/app.ts";
import { BodyReader } from "./http/body.ts";
import { announce, jsonLogger, type Logger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { errorResponse } from "./protocol/outbound.ts";
import { connectionCaps, openFileLimit } from "./fd_limit.ts";
import { type Listener, openListener } from "./listener.ts";
import { createWsHandler } from "./ws/handler.ts";
import { createSseHandler } from "./sse/handler.ts";
import { ReplayBudget } from "./history/replay_budget.ts";
import { loadSubscriberTokens } from "./channels/subscriber_token_config.ts";
import type { Timers } from "./ws/session.ts";
import type { Presence, PresenceHooks } from "./hub/presence.ts";
import { LocalPresence } from "./local/local_presence.ts";

/** How long the listeners may take to close after in-flight requests were abandoned. */
const LISTENER_GRACE_MS = 1000;

/** Collaborators a caller (usually a test) may replace. */
export interface ServerOverrides {
  logger?: Logger;
  store?: ChannelStore;
  hasher?: TokenHasher;
  now?: () => number;
  /** Builds the broker that carries pushes to this node's `handler` (default: in-process). */
  broker?: (handler: BrokerHandler) => Broker;
  /** Where grants live (default: this process's hub). */
  grants?: (hub: Hub) => Grants;
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

/** Opens the SQLite store at `path`, creating its folder; a failure names DB_PATH. */
export function openSqliteStore(path: string): SqliteChannelStore {
  try {
    if (path !== ":memory:" && !path.startsWith("file:")) {
      Deno.mkdirSync(dirname(path), { recursive: true });
    }
    return new SqliteChannelStore(path);
  } catch (error) {
    throw new ConfigError(explainDbPathError(path, error));
  }
}

/** Starts the publisher HTTP port and the subscriber WebSocket port. */
export async function startServer(
  config: Config,
  overrides: ServerOverrides = {},
): Promise<RunningServer> {
  const logger = overrides.logger ?? jsonLogger(config.logLevel);
  const now = overrides.now ?? Date.now;
  const tokens = await loadSubscriberTokens(config, overrides.timers?.now ?? now);
  // Cluster mode (REDIS_URL): channels, history, grants and pushes live in Redis.
  const cluster = config.redisUrl === undefined
    ? undefined
    : await ClusterNode.start(config, { logger, now });
  const sqlite = overrides.store === undefined && cluster === undefined
    ? openSqliteStore(config.dbPath)
    : overrides.store instanceof SqliteChannelStore
    ? overrides.store
    : undefined;
  // While another process holds a lock on the file, channel calls answer 503 within a second
  // (see retryWhileBusy); history writes map the same lock to 503 themselves.
  const store = overrides.store ?? cluster?.store ?? retryWhileBusy(sqlite!);
  const hasher = overrides.hasher ?? bcryptHasher(config.bcryptCost);
  const metrics = new Metrics();
  if (cluster !== undefined) metrics.sections.push(() => cluster.metrics());
  const fdLimit = "fdLimit" in overrides
    ? overrides.fdLimit
    : (config.openFileLimit ?? openFileLimit());
  const caps = connectionCaps(config.maxConnections, fdLimit);
  let draining = false;
  let listening = false;
  let inFlight = 0;
  let drained: PromiseWithResolvers<void> | undefined;

  // One bcrypt verification per verify worker at a time; the rest wait in the gate's fair queue.
  const tokenGate = new TokenGate({ lanes: VERIFY_WORKERS, maxPending: config.maxTokenChecks });
  let service: ChannelService;
  try {
    service = cluster?.service(hasher, tokenGate) ?? await createChannelService({
      store,
      hasher,
      maxTokenChecks: config.maxTokenChecks,
      maxChannels: config.maxChannels,
      tokenGate,
      now,
    });
  } catch (error) {
    hasher.close();
    store.close();
    await cluster?.close();
    throw error;
  }
  // The hub asks the broker for a channel's traffic while it has local subscribers; the broker
  // hands what reaches this node to the hub, which delivers and counts on the receiving side.
  const hub = new Hub({
    maxSubscriptionsPerConnection: config.maxSubscriptionsPerConnection,
    maxHeldChars: config.maxBufferedBytes,
    onChannelActive: (channel) => broker.subscribe(channel),
    onChannelIdle: (channel) => broker.unsubscribe(channel),
    ...(cluster === undefined ? {} : { onConnection: cluster.onConnection.bind(cluster) }),
    onSubscribed: (channel, id) => presence.subscribed(channel, id),
    onUnsubscribed: (channel, id) => presence.unsubscribed(channel, id),
  });
  const presenceOptions = {
    maxMembers: config.presenceMaxMembers,
    eventsMax: config.presenceEventsMax,
    hooks: overrides.presenceHooks,
    logger,
  };
  const presence: Presence = cluster?.presence(hub, presenceOptions, {
    ttlMs: config.presenceTtlMs,
    refreshMs: config.presenceTtlMs / 4,
  }) ??
    new LocalPresence(hub, presenceOptions);
  const handler: BrokerHandler = {
    onPublication(channel, publication, reached) {
      const report = hub.deliver(channel, publication, reached);
      metrics.deliveries += report.delivered;
      metrics.droppedMessages += report.dropped;
      return report;
    },
    onChannelEvent(channel, event) {
      if (event.type === "deleted") {
        presence.dropped(channel);
        hub.dropChannel(channel);
      } else hub.revoke(event.uuid, channel);
    },
  };
  const broker: Broker = overrides.broker?.(handler) ?? cluster?.broker(handler) ??
    new LocalBroker(handler, {
      ...(sqlite === undefined ? {} : { store: sqlite }),
      now,
    });
  const grants = overrides.grants?.(hub) ?? cluster?.grants(hub) ?? localGrants(hub);
  const gauges = () => ({
    connections: hub.connectionCount,
    subscriptions: hub.subscriptionCount,
    channels: service.size,
    httpInFlight: inFlight,
    sseConnections: sse.connections.size,
    presenceMembers: presence.localMembers,
  });

  const bodies = new BodyReader(config);
  const app = createHttpApp({
    service,
    bodies,
    broker,
    grants,
    presence,
    metrics,
    logger,
    limits: config,
    adminToken: config.adminToken,
    createToken: config.createToken,
    gauges,
    isReady: () => listening && !draining && (cluster?.healthy() ?? true),
    corsOrigins: config.corsOrigins,
    wsPort: () => wsServer?.port,
  });
  const subscriberDeps = {
    hub,
    channels: cluster?.lookup ?? {
      lookup: (name) => service.current(name),
      isGranted: (id, channel) => grants.isGranted(id, channel),
      history: (channel, since, page) => broker.history(channel, since, page),
    },
    presence,
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
      // Token checks made for this request count against its source address.
      return await admitHttp(request, sourceOf(info.remoteAddr.hostname));
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
    hasher.close();
    store.close();
    await cluster?.close();
    // A port that cannot be bound is a setting to fix: report it like one, naming the variable.
    const [variable, port] = httpServer === undefined
      ? ["PORT_HTTP", config.httpPort]
      : ["PORT_WS", config.wsPort];
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`${variable}: cannot listen on ${config.host}:${port}: ${reason}`);
  }
  listening = true;
  const httpPort = httpServer.port;
  const wsPort = wsServer.port;
  announce(
    logger,
    `pushserver listening ws=${config.host}:${wsPort} http=${config.host}:${httpPort}`,
    {
      channels: service.size,
      openFileLimit: fdLimit ?? null,
      maxConnections: caps.wsConnections,
      maxHttpInFlight: Number.isFinite(caps.httpInFlight) ? caps.httpInFlight : null,
    },
  );

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
    await broker.close();
    await presence.close();
    await cluster?.close();
    hasher.close();
    store.close();
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
