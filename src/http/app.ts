/** The publisher HTTP API and operations endpoints, as a Hono app (no ports, no Deno.serve). */
import { Hono } from "hono";
import type { Context } from "hono";
import type { ChannelService } from "../channels/service.ts";
import { sameDigest, tokenDigest } from "../channels/tokens.ts";
import { PushError } from "../errors.ts";
import type { Channel } from "../channels/store.ts";
import type { Broker } from "../hub/broker.ts";
import type { Grants } from "../hub/grants.ts";
import type { ChannelPresence } from "../hub/channel_presence.ts";
import { presenceServerAck } from "../protocol/presence.ts";
import type { Logger } from "../log.ts";
import type { Gauges, Metrics } from "../metrics.ts";
import {
  type ActionName,
  type ActionRequest,
  parseAction,
  parseAdminAction,
} from "../protocol/api.ts";
import { errorResponse as buildErrorResponse, serverAck } from "../protocol/outbound.ts";
import { ACTION_ROUTES } from "../protocol/routes.ts";
import type { BodyReader } from "./body.ts";
import { runBatch } from "./batch.ts";
import { docsRoutes } from "./docs.ts";
import { authorizePush, publishPush } from "./push_action.ts";
import { historyAck, readPage } from "./history_route.ts";
import { applyCors, browserRoutes } from "./static.ts";
import { ADMIN_ROUTES } from "../protocol/admin_api.ts";

const JSON_TYPE = "application/json; charset=utf-8";

/** What the HTTP app needs. */
export interface HttpAppDeps {
  readonly service: ChannelService;
  readonly broker: Broker;
  readonly grants: Grants;
  /** Who is on a channel (READ_PRESENCE). */
  readonly channelPresence: ChannelPresence;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly limits: { readonly maxBodyBytes: number; readonly maxMessageBytes: number };
  /** Reads action bodies within the size, in-flight and time limits. */
  readonly bodies: BodyReader;
  readonly adminToken: string | undefined;
  /** When set, creating a channel needs `Authorization: Bearer <createToken>`. */
  readonly createToken?: string | undefined;
  /** Live numbers for /metrics and /sysadmin. */
  readonly gauges: () => Gauges;
  /** True when the store is open and both ports listen. */
  readonly isReady: () => boolean;
  readonly now?: () => number;
  /** Origins allowed to call the publisher actions from a browser (`CORS_ORIGINS`). */
  readonly corsOrigins?: readonly string[];
  /** The real subscriber port once it listens (the demo page connects to it). */
  readonly wsPort?: () => number | undefined;
}

/** Handles one publisher action's parsed request; answers the `SERVER_ACK` body. */
type ActionHandler<A extends ActionName> = (
  request: ActionRequest<A>,
  raw: Request,
  source: string | undefined,
) => Promise<string>;

/** A handler for every publisher action (the compiler refuses a missing one). */
type ActionHandlers = { readonly [A in ActionName]: ActionHandler<A> };

/** JSON response whose HTTP status equals the envelope's code. */
function jsonResponse(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(body, { status, headers: { "content-type": JSON_TYPE, ...headers } });
}

/** Builds the Hono app serving every publisher and operations route. */
export function createHttpApp(deps: HttpAppDeps): Hono {
  const { service, broker, metrics, logger, limits } = deps;
  const now = deps.now ?? performance.now.bind(performance);
  const app = new Hono();

  const logRequests = logger.enabled?.("info") ?? true;
  app.use(async (c, next) => {
    const started = now();
    await next();
    const seconds = (now() - started) / 1000;
    metrics.observeRequest(seconds);
    if (!logRequests) return;
    logger.info("request", {
      // The client as TRUSTED_PROXIES names it (the same source its budgets are kept for).
      client: requestSource(c),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: Math.round(seconds * 1e6) / 1e3,
    });
  });

  // Before the action routes, so CORS preflights are answered instead of reaching the 405.
  applyCors(app, deps.corsOrigins ?? []);

  /** The body as text; a read that fails midway is the client's abort, or our shutdown. */
  async function readActionBody(request: Request, source: string | undefined): Promise<string> {
    try {
      return await deps.bodies.read(request, source);
    } catch (error) {
      if (error instanceof PushError) throw error;
      throw deps.isReady()
        ? new PushError("invalid_request", "The request body ended before it was complete")
        : new PushError("unavailable", "The server shut down before this request finished");
    }
  }

  const createDigest = deps.createToken === undefined ? undefined : tokenDigest(deps.createToken);

  /** Each publisher action's handler; its path and request schema come from `ACTION_ROUTES`. */
  const actions: ActionHandlers = {
    CREATE_CHANNEL: async ({ data }, request) => {
      if (createDigest !== undefined && !bearerMatches(request, createDigest)) {
        throw new PushError("token_missing", "Creating a channel needs the server's create token");
      }
      const { token, channel } = await service.create(data.channel, {
        private: data.private,
        history: data.history,
        presence: data.presence,
      });
      logger.info("channel created", { channel: data.channel });
      return serverAck("Created", data.channel, token, {
        ...(channel.history === null ? {} : { history: channel.history, epoch: channel.epoch }),
        ...(channel.private ? { private: true } : {}),
        ...(channel.presence === true ? { presence: true } : {}),
      });
    },

    PING_CHANNEL: async ({ data }, _raw, source) => {
      const channel = await service.ping(data.channel, data.channelToken, source);
      // Only the token holder learns the options, and v1 channels answer exactly as in v1.
      const presence = channel.presence === true;
      const showOptions = data.channelToken !== null &&
        (channel.private || channel.history !== null || presence);
      return serverAck(
        "OK",
        data.channel,
        null,
        showOptions
          ? {
            private: channel.private,
            history: channel.history,
            ...(presence ? { presence: true } : {}),
          }
          : {},
      );
    },

    PUSH_MESSAGE: async ({ data }, _raw, source) => {
      const channel = await authorizePush(deps, data, source);
      return serverAck("Sent", data.channel, null, await publishPush(deps, channel, data));
    },

    PUSH_BATCH: ({ data }, _raw, source) => runBatch(deps, data.pushes, source),

    READ_HISTORY: async ({ data }, _raw, source) => {
      const channel = await service.authorize(data.channel, data.channelToken, source);
      const page = await readPage((c, since, page) => broker.history(c, since, page), channel, {
        since: data.since,
        limit: data.limit,
      });
      return historyAck(channel, page);
    },

    READ_PRESENCE: async ({ data }, _raw, source) => {
      const channel = await service.authorize(data.channel, data.channelToken, source);
      return presenceServerAck(channel.name, await deps.channelPresence.read(channel));
    },

    DELETE_CHANNEL: async ({ data }, _raw, source) => {
      deleted(await service.delete(data.channel, data.channelToken, source));
      return serverAck("Deleted", data.channel, null);
    },

    AUTHORIZE_SUBSCRIBER: async ({ data }, _raw, source) => {
      const channel = await service.authorize(data.channel, data.channelToken, source);
      if (!(await deps.grants.grant(data.uuid, channel))) {
        throw new PushError(
          "unknown_connection",
          `No live connection has the UUID ${data.uuid}`,
        );
      }
      return serverAck("Authorized", data.channel, null, { uuid: data.uuid });
    },

    REVOKE_SUBSCRIBER: async ({ data }, _raw, source) => {
      const channel = await service.authorize(data.channel, data.channelToken, source);
      await deps.grants.revoke(data.uuid, channel);
      return serverAck("Revoked", data.channel, null, { uuid: data.uuid });
    },

    ROTATE_TOKEN: async ({ data }, _raw, source) => {
      const token = await service.rotate(data.channel, data.channelToken, source);
      logger.info("channel token rotated", { channel: data.channel });
      return serverAck("Rotated", data.channel, token);
    },
  };

  /** `POST path` runs the action's handler on the parsed body; any other method is 405. */
  function registerAction<A extends ActionName>(path: string, name: A): void {
    const handle: ActionHandler<A> = actions[name];
    const handler = async (c: Context) => {
      const source = requestSource(c);
      const body = await readActionBody(c.req.raw, source);
      const parsed = parseAction(name, body, limits);
      if (!parsed.ok) throw parsed.error;
      return jsonResponse(200, await handle(parsed.value, c.req.raw, source));
    };
    for (const route of withTrailingSlash(path)) {
      app.post(route, handler);
      app.all(route, (c) => methodNotAllowed(c, "POST"));
    }
  }

  for (const route of ACTION_ROUTES) registerAction(route.path, route.action);

  /** The store's delete already told every node's subscribers (see ChannelStore.delete). */
  function deleted(channel: Channel): void {
    logger.info("channel deleted", { channel: channel.name });
  }

  const adminDigest = deps.adminToken === undefined ? undefined : tokenDigest(deps.adminToken);

  /** The operator's way out of a lost channel token (only with ADMIN_TOKEN). */
  function adminAction(path: string, handle: (channel: string) => Promise<string>): void {
    app.post(path, async (c) => {
      if (adminDigest === undefined) throw adminOff(c);
      if (!bearerMatches(c.req.raw, adminDigest)) {
        throw new PushError("token_missing", "A valid admin bearer token is required");
      }
      const parsed = parseAdminAction(await readActionBody(c.req.raw, requestSource(c)));
      if (!parsed.ok) throw parsed.error;
      return jsonResponse(200, await handle(parsed.value.channel));
    });
    app.all(path, (c) => {
      if (adminDigest === undefined) throw adminOff(c);
      return methodNotAllowed(c, "POST");
    });
  }

  adminAction("/admin/channel/delete", async (name) => {
    deleted(await service.forceDelete(name));
    logger.warn("channel deleted by the operator", { channel: name });
    return serverAck("Deleted", name, null);
  });

  adminAction("/admin/channel/rotate", async (name) => {
    const token = await service.forceRotate(name);
    logger.warn("channel token rotated by the operator", { channel: name });
    return serverAck("Rotated", name, token);
  });

  // The admin UI's routes are mounted by server.ts (src/admin/) when ADMIN_TOKEN is set; without
  // it their documented paths are here, answering the 404 that names the variable.
  if (adminDigest === undefined) {
    for (const { path } of ADMIN_ROUTES) app.all(path, (c) => errorResponse(adminOff(c)));
  }

  function operation(path: string, handle: (c: Context) => Response | Promise<Response>): void {
    app.get(path, handle);
    app.all(path, (c) => methodNotAllowed(c, "GET, HEAD"));
  }

  operation("/healthz", () => jsonResponse(200, '{"status":"ok"}'));

  operation(
    "/readyz",
    () =>
      deps.isReady()
        ? jsonResponse(200, '{"status":"ready"}')
        : jsonResponse(503, '{"status":"unavailable"}'),
  );

  operation("/metrics", async () => {
    // The channel count as the store has it now (other nodes create and delete too); a store
    // that cannot answer leaves the last count, and the scrape still answers.
    await service.recount();
    return new Response(metrics.render(deps.gauges()), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  });

  operation("/sysadmin", async (c) => {
    if (adminDigest === undefined) throw adminOff(c);
    if (!bearerMatches(c.req.raw, adminDigest)) {
      throw new PushError("token_missing", "A valid admin bearer token is required");
    }
    const channels = await service.names();
    return jsonResponse(
      200,
      JSON.stringify({
        messageType: "SERVER_SYSADMIN",
        code: 200,
        message: "OK",
        data: {
          channels,
          channelsAmount: channels.length,
          clientsAmount: deps.gauges().connections,
        },
      }),
    );
  });

  for (const route of [...browserRoutes(deps), ...docsRoutes(deps)]) {
    operation(route.path, (c) => route.handle(c.req.raw));
  }

  app.notFound((c) =>
    errorResponse(adminDigest === undefined && isAdminPath(c.req.path) ? adminOff(c) : noRoute(c))
  );

  app.onError((error, c) => {
    if (error instanceof PushError) return errorResponse(error);
    logger.error("request failed", { method: c.req.method, path: c.req.path, error });
    return errorResponse(new PushError("internal", null));
  });

  function errorResponse(error: PushError, headers: Record<string, string> = {}): Response {
    metrics.countError("http", error.status);
    return buildErrorResponse(error, headers);
  }

  function methodNotAllowed(c: Context, allow: string): Response {
    return errorResponse(
      new PushError(
        "method_not_allowed",
        `${c.req.method} is not allowed on ${c.req.path}; use ${allow.split(",")[0]}`,
      ),
      { allow },
    );
  }

  return app;
}

/**
 * The address the request came from, as the server names it for the fair token gate (passed to
 * `app.fetch` as `env.source`); `undefined` when the app runs without one (tests).
 */
function requestSource(c: Context): string | undefined {
  const env = c.env as { source?: unknown } | undefined;
  return typeof env?.source === "string" ? env.source : undefined;
}

/** Whether the request carries `Authorization: Bearer <token>` whose digest is `digest`. */
function bearerMatches(request: Request, digest: Uint8Array): boolean {
  const presented = /^Bearer (.+)$/i.exec(request.headers.get("authorization") ?? "")?.[1];
  return presented !== undefined && sameDigest(tokenDigest(presented), digest);
}

/**
 * An action route and the same path with one trailing slash, answered alike (clients of the
 * original server, which matched by prefix, send `/push/`); any other extra segment stays 404.
 */
function withTrailingSlash(path: string): readonly string[] {
  return [path, `${path}/`];
}

function noRoute(c: Context): PushError {
  return new PushError("no_route", `No route for ${c.req.method} ${c.req.path}`);
}

/** The 404 of an admin route while ADMIN_TOKEN is unset: it says what turns the route on. */
function adminOff(c: Context): PushError {
  return new PushError(
    "no_route",
    `No route for ${c.req.method} ${c.req.path}: the admin routes are off because ADMIN_TOKEN ` +
      "is unset; restart the server with ADMIN_TOKEN (16+ characters) to use them",
  );
}

/** `/sysadmin`, `/admin` and everything under `/admin/`. */
function isAdminPath(path: string): boolean {
  return path === "/sysadmin" || path === "/admin" || path.startsWith("/admin/");
}
