/**
 * Browser-facing parts of the HTTP port: the client modules under `/js/`, the `/demo` page, and
 * CORS for the publisher action routes (`CORS_ORIGINS`). The app registers the routes, so their
 * 405s and error counts are the same as every other route's.
 */
import type { Hono } from "hono";
import { cors } from "hono/cors";
import { createHash } from "node:crypto";
import { PushError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { CLIENT_MODULES } from "../protocol/client_modules.ts";
import { ACTION_ROUTES } from "../protocol/routes.ts";

/** What the browser routes need. */
export interface StaticRoutesDeps {
  /** The real subscriber port, known once it listens; the demo page connects to it. */
  readonly wsPort?: () => number | undefined;
  /** Told when a file is missing (a `deno compile` without the `--include`s of the compile task). */
  readonly logger?: Logger;
  /** Reads a shipped file (tests replace it). */
  readonly readTextFile?: (url: URL) => string;
}

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

/** A file's text and its ETag. */
export interface Asset {
  readonly body: string;
  readonly etag: string;
  /** UTF-8 length of `body`, sent as content-length (also on HEAD, which has no body to count). */
  readonly length: number;
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
  return textAsset(body);
}

const SOURCE_MAP_COMMENT = /\n\/[/*]# sourceMappingURL=\S+\s*(\*\/)?\s*$/;

/** A vendored script or style without its trailing source map comment (the map is not served). */
export function withoutSourceMap(text: string): string {
  return text.replace(SOURCE_MAP_COMMENT, "\n");
}

/** An {@link Asset} for `body`, its ETag a digest of it. */
export function textAsset(body: string): Asset {
  const digest = createHash("sha256").update(body).digest("base64url").slice(0, 27);
  return { body, etag: `"${digest}"`, length: byteLength(body) };
}

/** A route whose file is missing: a 500 like any internal failure (the details were logged). */
function missing(): never {
  throw new PushError("internal", null);
}

/** One GET route serving a browser file. */
export interface BrowserRoute {
  readonly path: string;
  readonly handle: (request: Request) => Response | Promise<Response>;
}

/**
 * Adds CORS to the publisher actions when `origins` is not empty. Call it before the action
 * routes are registered, so that CORS preflights are answered before they reach the 405 handler.
 */
export function applyCors(app: Hono, origins: readonly string[]): void {
  if (origins.length === 0) return;
  const middleware = cors({
    origin: origins.includes("*") ? "*" : [...origins],
    allowMethods: ["POST", "OPTIONS"],
    allowHeaders: ["content-type"],
    maxAge: 600,
  });
  // With one trailing slash too, as the action routes answer it.
  for (const { path } of ACTION_ROUTES) app.use(path, middleware).use(`${path}/`, middleware);
}

/**
 * `GET /js/pushserver.js` (and its modules, {@link CLIENT_MODULES}), `/js/publisher.js`, their
 * type declarations (`.d.ts`: the modules name them with `@ts-self-types`, so Deno fetches them
 * next to an imported module), `/js/demo.js` and `/demo`; files are read once.
 */
export function browserRoutes(deps: StaticRoutesDeps = {}): BrowserRoute[] {
  const scripts: Record<string, Asset | undefined> = {
    "/js/pushserver.js": asset("../client/pushserver.js", deps),
    ...Object.fromEntries(
      CLIENT_MODULES.map((name) => [`/js/${name}`, asset(`../client/${name}`, deps)]),
    ),
    "/js/pushserver.d.ts": asset("../client/pushserver.d.ts", deps),
    "/js/publisher.js": asset("../publisher/publisher.js", deps),
    "/js/publisher.d.ts": asset("../publisher/publisher.d.ts", deps),
    "/js/demo.js": asset("../client/demo.js", deps),
  };
  const routes: BrowserRoute[] = Object.entries(scripts).map(([path, script]) => ({
    path,
    handle: (request) =>
      cached(request, script ?? missing(), {
        "content-type": path.endsWith(".d.ts")
          ? "application/typescript; charset=utf-8"
          : "text/javascript; charset=utf-8",
        // Pages on other origins import the client as a module, which needs CORS.
        "access-control-allow-origin": "*",
        "cache-control": "no-cache",
        "x-content-type-options": "nosniff",
      }),
  }));

  const demo = asset("../client/demo.html", deps);
  routes.push({
    path: "/demo",
    handle: () => {
      if (demo === undefined) return missing();
      const port = deps.wsPort?.();
      const body = demo.body.replace(WS_PORT_PLACEHOLDER, port === undefined ? "" : String(port));
      return new Response(
        body,
        {
          headers: {
            "content-length": String(byteLength(body)),
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-cache",
            "content-security-policy": DEMO_CSP,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
          },
        },
      );
    },
  });
  return routes;
}

/** 304 when the browser already holds this version, else the full body. */
export function cached(request: Request, asset: Asset, headers: Record<string, string>): Response {
  const all = { ...headers, etag: asset.etag };
  const match = request.headers.get("if-none-match");
  if (match !== null && match.split(",").some((tag) => tag.trim() === asset.etag)) {
    return new Response(null, { status: 304, headers: all });
  }
  return new Response(asset.body, { headers: { ...all, "content-length": String(asset.length) } });
}

const encoder = new TextEncoder();

function byteLength(text: string): number {
  return encoder.encode(text).length;
}
