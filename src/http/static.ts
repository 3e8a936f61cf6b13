/**
 * Browser-facing routes on the HTTP port: the client modules under `/js/`, the `/demo` page, and
 * CORS for the publisher action routes (`CORS_ORIGINS`).
 */
import type { Hono } from "hono";
import { cors } from "hono/cors";
import { createHash } from "node:crypto";
import { PushError } from "../errors.ts";
import { errorEnvelope } from "../protocol/outbound.ts";

/** What the browser routes need. */
export interface StaticRoutesDeps {
  /** Origins allowed to call the publisher actions from a browser; `*` allows any; empty: none. */
  readonly corsOrigins?: readonly string[];
  /** The real subscriber port, known once it listens; the demo page connects to it. */
  readonly wsPort?: () => number | undefined;
}

/** Publisher action routes that CORS applies to. */
const ACTION_PATHS = ["/channel/create", "/channel/ping", "/channel/delete", "/push"] as const;

/** Placeholder in demo.html replaced with the WebSocket port. */
const WS_PORT_PLACEHOLDER = "{{WS_PORT}}";

const DEMO_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  // The subscriber port differs from the page's, so WebSocket URLs cannot be 'self'.
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

interface Asset {
  readonly body: string;
  readonly etag: string;
}

/** Reads a file shipped next to the sources (embedded with `deno compile --include`). */
function asset(relative: string): Asset {
  const body = Deno.readTextFileSync(new URL(relative, import.meta.url));
  const digest = createHash("sha256").update(body).digest("base64url").slice(0, 27);
  return { body, etag: `"${digest}"` };
}

/**
 * Adds CORS to the publisher actions, then `GET /js/pushserver.js`, `GET /js/publisher.js`,
 * `GET /demo.js` and `GET /demo`. Call it before the action routes are registered, so that
 * CORS preflights are answered before they reach the 405 handler.
 */
export function mountStaticRoutes(app: Hono, deps: StaticRoutesDeps = {}): void {
  const origins = deps.corsOrigins ?? [];
  if (origins.length > 0) {
    const middleware = cors({
      origin: origins.includes("*") ? "*" : [...origins],
      allowMethods: ["POST", "OPTIONS"],
      allowHeaders: ["content-type"],
      maxAge: 600,
    });
    for (const path of ACTION_PATHS) app.use(path, middleware);
  }

  const scripts: Record<string, Asset> = {
    "/js/pushserver.js": asset("../client/pushserver.js"),
    "/js/publisher.js": asset("../publisher/publisher.js"),
    "/js/demo.js": asset("../client/demo.js"),
  };
  for (const [path, script] of Object.entries(scripts)) {
    get(app, path, (request) =>
      cached(request, script, {
        "content-type": "text/javascript; charset=utf-8",
        // Pages on other origins import the client as a module, which needs CORS.
        "access-control-allow-origin": "*",
        "cache-control": "no-cache",
        "x-content-type-options": "nosniff",
      }));
  }

  const demo = asset("../client/demo.html");
  get(app, "/demo", () => {
    const port = deps.wsPort?.();
    return new Response(
      demo.body.replace(WS_PORT_PLACEHOLDER, port === undefined ? "" : String(port)),
      {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-cache",
          "content-security-policy": DEMO_CSP,
          "x-content-type-options": "nosniff",
          "referrer-policy": "no-referrer",
        },
      },
    );
  });
}

function get(app: Hono, path: string, handle: (request: Request) => Response): void {
  app.get(path, (c) => handle(c.req.raw));
  app.all(path, (c) => {
    const error = new PushError(
      "method_not_allowed",
      `${c.req.method} is not allowed on ${path}; use GET`,
    );
    return new Response(errorEnvelope(error), {
      status: error.status,
      headers: { "content-type": "application/json; charset=utf-8", allow: "GET, HEAD" },
    });
  });
}

/** 304 when the browser already holds this version, else the full body. */
function cached(request: Request, asset: Asset, headers: Record<string, string>): Response {
  const all = { ...headers, etag: asset.etag };
  const match = request.headers.get("if-none-match");
  if (match !== null && match.split(",").some((tag) => tag.trim() === asset.etag)) {
    return new Response(null, { status: 304, headers: all });
  }
  return new Response(asset.body, { headers: all });
}
