/**
 * Browser-facing routes on the HTTP port: the client modules under `/js/`, the `/demo` page, and
 * CORS for the publisher action routes (`CORS_ORIGINS`).
 */
import type { Hono } from "hono";
import { cors } from "hono/cors";
import { createHash } from "node:crypto";
import { PushError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { errorEnvelope } from "../protocol/outbound.ts";

/** What the browser routes need. */
export interface StaticRoutesDeps {
  /** Origins allowed to call the publisher actions from a browser; `*` allows any; empty: none. */
  readonly corsOrigins?: readonly string[];
  /** The real subscriber port, known once it listens; the demo page connects to it. */
  readonly wsPort?: () => number | undefined;
  /** Told when a file is missing (a `deno compile` without the `--include`s of the compile task). */
  readonly logger?: Logger;
  /** Reads a shipped file (tests replace it). */
  readonly readTextFile?: (url: URL) => string;
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

/**
 * Reads a file shipped next to the sources, once. A missing file (a binary compiled without the
 * compile task's `--include`s) is logged and its route answers 500: the push service itself
 * must not fail to start over a demo page.
 */
function asset(relative: string, deps: StaticRoutesDeps): Asset | undefined {
  const { logger, readTextFile = Deno.readTextFileSync } = deps;
  let body: string;
  try {
    body = readTextFile(new URL(relative, import.meta.url));
  } catch (error) {
    logger?.error("browser asset missing; its route will answer 500", {
      file: relative.replace(/^\.\.\//, "src/"),
      hint: "deno compile needs the --include flags of the compile task in deno.json",
      error,
    });
    return undefined;
  }
  const digest = createHash("sha256").update(body).digest("base64url").slice(0, 27);
  return { body, etag: `"${digest}"` };
}

/** A route whose file is missing: a 500 like any internal failure (the details were logged). */
function missing(): never {
  throw new PushError("internal", null);
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

  const scripts: Record<string, Asset | undefined> = {
    "/js/pushserver.js": asset("../client/pushserver.js", deps),
    "/js/publisher.js": asset("../publisher/publisher.js", deps),
    "/js/demo.js": asset("../client/demo.js", deps),
  };
  for (const [path, script] of Object.entries(scripts)) {
    get(app, path, (request) =>
      cached(request, script ?? missing(), {
        "content-type": "text/javascript; charset=utf-8",
        // Pages on other origins import the client as a module, which needs CORS.
        "access-control-allow-origin": "*",
        "cache-control": "no-cache",
        "x-content-type-options": "nosniff",
      }));
  }

  const demo = asset("../client/demo.html", deps);
  get(app, "/demo", () => {
    if (demo === undefined) return missing();
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
