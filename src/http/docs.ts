/**
 * The API descriptions and their interactive reference: `GET /openapi.json`, `/asyncapi.json`,
 * `/docs` (Swagger UI) and Swagger UI's files. Everything comes from this origin: the documents
 * are generated in-process, and Swagger UI's files are text imports from the `swagger-ui-dist`
 * package, so they are part of the module graph that `deno compile` and the Docker image carry.
 */
import type { Logger } from "../log.ts";
import { PushError } from "../errors.ts";
import { asyncApiDocument } from "../protocol/asyncapi.ts";
import { PROTOCOL_VERSION } from "../protocol/document.ts";
import { openApiDocument } from "../protocol/openapi.ts";
import { VERSION } from "../version.ts";
import initScript from "../client/docs.js" with { type: "text" };
import { type Asset, type BrowserRoute, cached, textAsset, withoutSourceMap } from "./static.ts";

/** Swagger UI's files that `/docs` serves. */
export type SwaggerFile = "swagger-ui-bundle.js" | "swagger-ui.css";

/** What the docs routes need. */
export interface DocsRoutesDeps {
  /** Told when a Swagger UI file cannot be loaded (its route then answers 500). */
  readonly logger?: Logger;
  /** Loads a Swagger UI file (tests replace it). */
  readonly loadSwaggerFile?: (file: SwaggerFile) => Promise<string>;
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pushserver API reference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<p style="font-family: sans-serif; margin: 1em 20px 0">
<span id="versions">pushserver ${VERSION} · protocol ${PROTOCOL_VERSION}</span> ·
Machine-readable: <a href="openapi.json">OpenAPI 3.1</a> (this page) ·
<a href="asyncapi.json">AsyncAPI 3.0</a> (the WebSocket protocol)
</p>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
`;

const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  // Swagger UI sets style attributes, and its style sheet inlines its icons as data: URLs.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  // The documents, and "Try it out" requests to this same port.
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const JSON_HEADERS = {
  "content-type": "application/json; charset=utf-8",
  // Public descriptions: tools on other origins (editors, generators) may fetch them.
  "access-control-allow-origin": "*",
  "cache-control": "no-cache",
  "x-content-type-options": "nosniff",
};

/** Swagger UI's files, as text imports: statically named, so `deno compile` embeds them. */
async function importSwaggerFile(file: SwaggerFile): Promise<string> {
  const module = file === "swagger-ui-bundle.js"
    ? await import("swagger-ui-dist/swagger-ui-bundle.js", { with: { type: "text" } })
    : await import("swagger-ui-dist/swagger-ui.css", { with: { type: "text" } });
  return module.default;
}

/** `/openapi.json`, `/asyncapi.json`, `/docs` and its files; each built or loaded once. */
export function docsRoutes(deps: DocsRoutesDeps = {}): BrowserRoute[] {
  const once = <T>(make: () => T): () => T => {
    let value: { v: T } | undefined;
    return () => (value ??= { v: make() }).v;
  };
  const openApi = once(() => textAsset(JSON.stringify(openApiDocument())));
  const asyncApi = once(() => textAsset(JSON.stringify(asyncApiDocument())));
  const init = textAsset(initScript);
  const page = textAsset(PAGE);

  const routes: BrowserRoute[] = [
    { path: "/openapi.json", handle: (request) => cached(request, openApi(), JSON_HEADERS) },
    { path: "/asyncapi.json", handle: (request) => cached(request, asyncApi(), JSON_HEADERS) },
    {
      path: "/docs",
      handle: (request) =>
        cached(request, page, {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-cache",
          "content-security-policy": PAGE_CSP,
          "x-content-type-options": "nosniff",
          "referrer-policy": "no-referrer",
        }),
    },
    { path: "/docs/init.js", handle: (request) => cached(request, init, scriptHeaders()) },
  ];
  const load = deps.loadSwaggerFile ?? importSwaggerFile;
  for (const file of ["swagger-ui-bundle.js", "swagger-ui.css"] as const) {
    // Loaded on first use: the bundle is 1.7 MB.
    const asset = once(() => loadSwaggerFile(file, load, deps.logger));
    const headers = file.endsWith(".css")
      ? { ...scriptHeaders(), "content-type": "text/css; charset=utf-8" }
      : scriptHeaders();
    routes.push({
      path: `/docs/${file}`,
      handle: async (request) => {
        const loaded = await asset();
        if (loaded === undefined) throw new PushError("internal", null);
        return cached(request, loaded, headers);
      },
    });
  }
  return routes;
}

function scriptHeaders(): Record<string, string> {
  return {
    "content-type": "text/javascript; charset=utf-8",
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
  };
}

async function loadSwaggerFile(
  file: SwaggerFile,
  load: (file: SwaggerFile) => Promise<string>,
  logger: Logger | undefined,
): Promise<Asset | undefined> {
  try {
    // The source maps are not shipped: drop the comment that would make browsers ask for them.
    return textAsset(withoutSourceMap(await load(file)));
  } catch (error) {
    logger?.error("swagger-ui-dist file missing; its route will answer 500", { file, error });
    return undefined;
  }
}
