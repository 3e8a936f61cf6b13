/** The subscriber port: refuses plain HTTP with 426, then upgrades to a {@link Connection}. */
import { PushError } from "../errors.ts";
import { errorResponse } from "../protocol/outbound.ts";
import { Connection, type ConnectionDeps } from "./connection.ts";
import { isOriginAllowed } from "./origin.ts";

/** The subprotocol that selects compact frames. */
export const COMPACT_PROTOCOL = "pushserver.compact";

function offersCompact(header: string | null): boolean {
  return header !== null && header.split(",").some((p) => p.trim() === COMPACT_PROTOCOL);
}

/** What the WebSocket handler needs. */
export interface WsHandlerDeps extends Omit<ConnectionDeps, "onGone"> {
  readonly idleTimeoutS: number;
  readonly maxConnections: number;
  /** Open connections of the other transports (SSE), counted against `maxConnections`. */
  readonly otherConnections?: () => number;
  /** `WS_ORIGINS`: browser origins allowed to connect; empty = any. */
  readonly allowedOrigins?: readonly string[];
  /** True once shutdown has begun: new upgrades get 503. */
  readonly isDraining: () => boolean;
  readonly newId?: () => string;
  /** The real publisher port once it listens: a plain HTTP request here is told where to go. */
  readonly httpPort?: () => number | undefined;
}

/** The handler plus the set of live connections (for shutdown). */
export interface WsHandler {
  readonly handle: (request: Request) => Response;
  readonly connections: ReadonlySet<Connection>;
}

/** Builds the request handler for the WebSocket port. */
export function createWsHandler(deps: WsHandlerDeps): WsHandler {
  const connections = new Set<Connection>();
  const newId = deps.newId ?? (() => crypto.randomUUID());
  const connectionDeps: ConnectionDeps = {
    ...deps,
    onGone: (connection) => connections.delete(connection),
  };

  function refuse(error: PushError, headers: Record<string, string> = {}): Response {
    deps.metrics.countError("ws", error.status);
    return errorResponse(error, headers);
  }

  function handle(request: Request): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      const httpPort = deps.httpPort?.();
      const elsewhere = httpPort === undefined
        ? ""
        : `; the publisher HTTP API is on port ${httpPort} (PORT_HTTP)`;
      return refuse(
        new PushError(
          "upgrade_required",
          `This port only accepts WebSocket connections${elsewhere}`,
        ),
        { upgrade: "websocket", connection: "Upgrade" },
      );
    }
    if (!isOriginAllowed(deps.allowedOrigins ?? [], request.headers.get("origin"))) {
      return refuse(
        new PushError("origin_forbidden", "This Origin may not open WebSocket connections here"),
      );
    }
    if (deps.isDraining()) {
      deps.metrics.rejectedConnections++;
      return refuse(new PushError("unavailable", "The server is shutting down"));
    }
    if (connections.size + (deps.otherConnections?.() ?? 0) >= deps.maxConnections) {
      deps.metrics.rejectedConnections++;
      return refuse(new PushError("unavailable", "The server has reached its connection limit"));
    }
    // Compact frames are opt-in: the client offers the subprotocol, the server accepts it.
    const compact = offersCompact(request.headers.get("sec-websocket-protocol"));
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(request, {
        idleTimeout: deps.idleTimeoutS,
        ...(compact ? { protocol: COMPACT_PROTOCOL } : {}),
      });
    } catch {
      return refuse(new PushError("invalid_request", "The WebSocket upgrade request is malformed"));
    }
    const { socket, response } = upgraded;
    connections.add(new Connection(socket, newId(), connectionDeps, compact));
    deps.metrics.connectionsOpened++;
    return response;
  }

  return { handle, connections };
}
