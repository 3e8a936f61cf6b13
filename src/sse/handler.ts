/**
 * Server-Sent Events on the subscriber port (v1.2), for networks that block WebSocket:
 * `GET /sse` opens a stream that carries every frame a WebSocket would get as one `data:`
 * event; `POST /sse/command` with `Authorization: Bearer <session>` feeds it client frames.
 */
import { sha256 } from "@noble/hashes/sha2";
import { newToken } from "../channels/tokens.ts";
import { PushError } from "../errors.ts";
import { clientAck } from "../protocol/outbound.ts";
import { parseInbound } from "../protocol/inbound.ts";
import { errorEnvelope } from "../protocol/outbound.ts";
import { isOriginAllowed } from "../ws/origin.ts";
import type { SseRelay } from "../hub/sse_relay.ts";
import type { Timers } from "../ws/session.ts";
import { SseConnection, type SseConnectionDeps } from "./connection.ts";

/** The keep-alive comment's period. */
export const KEEP_ALIVE_MS = 25_000;

/** What the SSE routes need. */
export interface SseHandlerDeps extends Omit<SseConnectionDeps, "onGone" | "keepAlive"> {
  readonly limits: SseConnectionDeps["limits"] & { readonly maxFrameBytes: number };
  /** `MAX_CONNECTIONS`, shared with WebSocket connections. */
  readonly maxConnections: number;
  /** Open connections of the other transports (counted against `maxConnections`). */
  readonly otherConnections: () => number;
  /** `WS_ORIGINS`: browser origins allowed to open a stream; empty = any. */
  readonly allowedOrigins: readonly string[];
  /** `CORS_ORIGINS`: origins that get CORS headers (`*` = any); empty = none. */
  readonly corsOrigins: readonly string[];
  /** True once shutdown has begun: new streams get 503. */
  readonly isDraining: () => boolean;
  /** Where commands for a session held by another node go (the backend's). */
  readonly relay: SseRelay;
  readonly newId?: () => string;
  /** Keep-alive timers (tests drive their own). */
  readonly keepAliveTimers?: Timers | undefined;
}

/** The SSE routes plus the live streams (for shutdown). */
export interface SseHandler {
  /** Answers `/sse` and `/sse/command`; `undefined` for any other path. */
  readonly handle: (request: Request) => Response | Promise<Response> | undefined;
  readonly connections: ReadonlySet<SseConnection>;
}

const JSON_TYPE = "application/json; charset=utf-8";

function digest(secret: string): string {
  let hex = "";
  for (const byte of sha256(new TextEncoder().encode(secret))) {
    hex += byte.toString(16).padStart(2, "0");
  }
  return hex;
}

/** Builds the SSE routes of the subscriber port. */
export function createSseHandler(deps: SseHandlerDeps): SseHandler {
  const connections = new Set<SseConnection>();
  // Keyed by the secret's SHA-256: a map lookup never compares secrets themselves.
  const bySecret = new Map<string, SseConnection>();
  const newId = deps.newId ?? (() => crypto.randomUUID());
  const connectionDeps: SseConnectionDeps = {
    ...deps,
    keepAlive: { periodMs: KEEP_ALIVE_MS, timers: deps.keepAliveTimers },
    onGone(connection) {
      connections.delete(connection);
      const key = digest(connection.secret);
      if (bySecret.delete(key)) deps.relay.unregister(key);
    },
  };
  // Commands another node got for a stream held here (cluster mode).
  deps.relay.attach((key, text) => {
    const connection = bySecret.get(key);
    if (connection === undefined || connection.gone) return false;
    connection.command(text);
    return true;
  });

  function cors(request: Request): Record<string, string> {
    const origin = request.headers.get("origin");
    const allowed = deps.corsOrigins;
    if (origin === null || allowed.length === 0) return {};
    if (allowed.includes("*")) return { "access-control-allow-origin": "*" };
    if (!allowed.includes(origin)) return { vary: "Origin" };
    return { "access-control-allow-origin": origin, vary: "Origin" };
  }

  function refuse(request: Request, error: PushError, headers: Record<string, string> = {}) {
    deps.metrics.countError("sse", error.status);
    return new Response(errorEnvelope(error), {
      status: error.status,
      headers: { "content-type": JSON_TYPE, ...cors(request), ...headers },
    });
  }

  function preflight(request: Request, methods: string): Response {
    const headers = cors(request);
    if (headers["access-control-allow-origin"] !== undefined) {
      Object.assign(headers, {
        "access-control-allow-methods": methods,
        "access-control-allow-headers": "authorization, content-type, last-event-id",
        "access-control-max-age": "600",
      });
    }
    return new Response(null, { status: 204, headers });
  }

  function open(request: Request, url: URL): Response {
    if (!isOriginAllowed(deps.allowedOrigins, request.headers.get("origin"))) {
      return refuse(
        request,
        new PushError("origin_forbidden", "This Origin may not open event streams here"),
      );
    }
    if (deps.isDraining()) {
      deps.metrics.rejectedConnections++;
      return refuse(request, new PushError("unavailable", "The server is shutting down"));
    }
    if (connections.size + deps.otherConnections() >= deps.maxConnections) {
      deps.metrics.rejectedConnections++;
      return refuse(
        request,
        new PushError("unavailable", "The server has reached its connection limit"),
      );
    }
    const compact = url.searchParams.get("compact") === "1";
    const id = newId();
    const secret = newToken();
    const connection = new SseConnection(id, secret, connectionDeps, compact);
    connections.add(connection);
    const key = digest(secret);
    bySecret.set(key, connection);
    deps.metrics.connectionsOpened++;
    deps.metrics.sseConnectionsOpened++;
    // `Connected` (which hands out the secret) waits until every node can find the stream.
    const registered = deps.relay.register(key);
    connection.open(
      compact
        ? JSON.stringify({
          messageType: "CLIENT_ACK",
          code: 200,
          message: "Connected",
          data: { uuid: id, session: secret },
        })
        : connectedFrame(id, secret),
      registered,
    );
    // `?channel=a&channel=b`: as if SUBSCRIBE frames had been sent in that order.
    for (const channel of url.searchParams.getAll("channel")) {
      connection.command(
        JSON.stringify({ messageType: "CLIENT_ACTION", action: "SUBSCRIBE", data: { channel } }),
      );
    }
    return new Response(connection.stream, {
      status: 200,
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        // nginx: pass events through as they come.
        "x-accel-buffering": "no",
        ...cors(request),
      },
    });
  }

  async function command(request: Request): Promise<Response> {
    const auth = request.headers.get("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    const unknown = () =>
      refuse(request, new PushError("unknown_connection", "No open event stream has this session"));
    if (match === null) {
      await request.body?.cancel();
      return unknown();
    }
    const key = digest(match[1]!);
    const local = bySecret.get(key);
    // Not held here: another node may hold it (cluster mode), else it is a 404 as before.
    const here = local !== undefined && !local.gone;
    // A bad body is answered here, before any forwarding, and nothing goes on the stream —
    // but only for a session some node holds: for any other, the answer is 404.
    const bad = async (error: PushError) => {
      if (!here) {
        try {
          if (!(await deps.relay.known(key))) return unknown();
        } catch (fault) {
          return refuse(request, asPushError(fault));
        }
      }
      return refuse(request, error);
    };
    const tooLarge = () =>
      bad(
        new PushError(
          "payload_too_large",
          `The command is larger than ${deps.limits.maxFrameBytes} bytes`,
        ),
      );
    const declared = Number(request.headers.get("content-length") ?? "0");
    if (declared > deps.limits.maxFrameBytes) {
      await request.body?.cancel();
      return tooLarge();
    }
    // Read at most MAX_FRAME_BYTES (a chunked body has no declared length).
    const text = await readCapped(request, deps.limits.maxFrameBytes);
    if (text === undefined) return tooLarge();
    if (text === null) {
      return bad(new PushError("invalid_frame", "The command body could not be read"));
    }
    const parsed = parseInbound(text);
    if (!parsed.ok) return bad(parsed.error);
    if (here) {
      local.command(text);
    } else {
      let delivered: boolean;
      try {
        delivered = await deps.relay.forward(key, text);
      } catch (fault) {
        return refuse(request, asPushError(fault));
      }
      if (!delivered) return unknown();
    }
    return new Response(null, { status: 202, headers: cors(request) });
  }

  function handle(request: Request): Response | Promise<Response> | undefined {
    const url = new URL(request.url);
    if (url.pathname === "/sse") {
      if (request.method === "OPTIONS") return preflight(request, "GET, OPTIONS");
      if (request.method === "GET") return open(request, url);
      return refuse(request, new PushError("method_not_allowed", "Use GET /sse"), {
        allow: "GET, OPTIONS",
      });
    }
    if (url.pathname === "/sse/command") {
      if (request.method === "OPTIONS") return preflight(request, "POST, OPTIONS");
      if (request.method === "POST") return command(request);
      return refuse(request, new PushError("method_not_allowed", "Use POST /sse/command"), {
        allow: "POST, OPTIONS",
      });
    }
    return undefined;
  }

  return { handle, connections };
}

/**
 * The body as text when it has at most `max` bytes; `undefined` when it has more (reading stops
 * there), `null` when it could not be read.
 */
async function readCapped(request: Request, max: number): Promise<string | undefined | null> {
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel();
        return undefined;
      }
      chunks.push(value);
    }
  } catch {
    return null;
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/** A relay failure as the catalog's error (the backend hands out PushErrors already). */
function asPushError(fault: unknown): PushError {
  if (fault instanceof PushError) return fault;
  return new PushError("unavailable", "Could not reach the node holding this event stream");
}

/** The v1 `Connected` frame plus the session secret. */
function connectedFrame(uuid: string, session: string): string {
  const v1 = clientAck("Connected", { uuid, channels: [] });
  return `${v1.slice(0, -2)},"session":${JSON.stringify(session)}}}`;
}
