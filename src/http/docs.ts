/**
 * The API descriptions and their interactive reference: `GET /openapi.json`, `/asyncapi.json`,
 * `/docs` (Swagger UI) and Swagger UI's files. Everything comes from this origin: the documents
 * are generated in-process, and Swagger UI's files are text imports from the `swagger-ui-dist`
 * package, so they are part of the module graph that `deno compile` and the Docker image carry.
 */
import type { Logger } from "../log.ts";
import { PushError } from "../errors.ts";
import { asyncApiDocument, openApiDocument } from "../protocol/describe.ts";
import initScript from "../client/docs.js" with { type: "text" };
import { type Asset, type BrowserRoute, cached, textAsset } from "./static.ts";

/** What the docs routes need. */
export interface DocsRoutesDeps {
  /** Told when a Swagger UI file cannot be loaded (its route then answers 500). */
  readonly logger?: Logger;
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

/** Swagger UI's files, loaded on first use (the bundle is 1.7 MB). */
const SWAGGER_FILES: Readonly<Record<string, () => Promise<{ default: string }>>> = {
  "/docs/swagger-ui-bundle.js": () =>
    import("swagger-ui-dist/swagger-ui-bundle.js", { with: { type: "text" } }),
  "/docs/swagger-ui.css": () =>
    import("swagger-ui-dist/swagger-ui.css", { with: { type: "text" } }),
};

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
  for (const [path, load] of Object.entries(SWAGGER_FILES)) {
    const asset = once(() => loadSwaggerFile(path, load, deps.logger));
    const headers = path.endsWith(".css")
      ? { ...scriptHeaders(), "content-type": "text/css; charset=utf-8" }
      : scriptHeaders();
    routes.push({
      path,
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
  path: string,
  load: () => Promise<{ default: string }>,
  logger: Logger | undefined,
): Promise<Asset | undefined> {
  try {
    // The source maps are not shipped: drop the comment that would make browsers ask for them.
    const text = (await load()).default.replace(
      /\n\/[/*]# sourceMappingURL=\S+\s*(\*\/)?\s*$/,
      "\n",
    );
    return textAsset(text);
  } catch (error) {
    logger?.error("swagger-ui-dist file missing; its route will answer 500", { path, error });
    return undefined;
  }
}
