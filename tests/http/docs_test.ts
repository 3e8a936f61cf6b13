import assert from "node:assert/strict";
import { Hono } from "hono";
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "text" };
import { docsRoutes } from "../../src/http/docs.ts";
import type { Logger } from "../../src/log.ts";
import { asyncApiDocument } from "../../src/protocol/asyncapi.ts";
import { openApiDocument } from "../../src/protocol/openapi.ts";
import { startTestServer } from "../_helpers.ts";

Deno.test("[e2e] GET /openapi.json and /asyncapi.json serve the generated documents", async (t) => {
  await using server = await startTestServer();
  for (
    const [path, document] of [
      ["/openapi.json", openApiDocument()],
      ["/asyncapi.json", asyncApiDocument()],
    ] as const
  ) {
    await t.step(path, async () => {
      const response = await fetch(`${server.httpUrl}${path}`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
      assert.equal(response.headers.get("access-control-allow-origin"), "*");
      assert.deepEqual(await response.json(), document);
      const etag = response.headers.get("etag");
      assert.ok(etag !== null);
      const again = await fetch(`${server.httpUrl}${path}`, { headers: { "if-none-match": etag } });
      assert.equal(again.status, 304);
      assert.equal(await again.text(), "");
    });
  }
  await t.step("they describe v1.1 too", () => {
    const openApi = openApiDocument();
    assert.equal(openApi.openapi, "3.1.0");
    assert.ok("/channel/rotate" in (openApi.paths as object));
    assert.equal(asyncApiDocument().asyncapi, "3.0.0");
  });
});

Deno.test("[e2e] GET /docs is a page that loads only files of its own origin, under a strict CSP", async (t) => {
  await using server = await startTestServer();
  const response = await fetch(`${server.httpUrl}/docs`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
  const csp = response.headers.get("content-security-policy") ?? "";
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /connect-src 'self'(;|$)/);
  const html = await response.text();
  const urls = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
  assert.deepEqual(urls, [
    "data:,",
    "docs/swagger-ui.css",
    "openapi.json",
    "asyncapi.json",
    "docs/swagger-ui-bundle.js",
    "docs/init.js",
  ]);
  assert.doesNotMatch(html, /<script>|<script [^s]/, "no inline script");

  for (
    const [path, type, check] of [
      ["/docs/swagger-ui-bundle.js", "text/javascript", (body: string) => body.length > 1e6],
      ["/docs/swagger-ui.css", "text/css", (body: string) => body.includes(".swagger-ui")],
      ["/docs/init.js", "text/javascript", (body: string) => body.includes("openapi.json")],
    ] as const
  ) {
    await t.step(`${path} is served as ${type}`, async () => {
      const file = await fetch(`${server.httpUrl}${path}`);
      assert.equal(file.status, 200);
      assert.equal(file.headers.get("content-type"), `${type}; charset=utf-8`);
      const body = await file.text();
      assert.ok(check(body));
      assert.doesNotMatch(
        body,
        /sourceMappingURL/,
        "no request for a source map that is not shipped",
      );
      const etag = file.headers.get("etag")!;
      const again = await fetch(`${server.httpUrl}${path}`, { headers: { "if-none-match": etag } });
      assert.equal(again.status, 304);
      await again.body?.cancel();
    });
  }
  await t.step("other methods get 405", async () => {
    const post = await fetch(`${server.httpUrl}/docs`, { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
  });
});

Deno.test("docsRoutes() answers 500 for a Swagger UI file it cannot load, logging it once", async () => {
  const logged: string[] = [];
  const log = (msg: string) => logged.push(msg);
  const logger: Logger = { debug: log, info: log, warn: log, error: log };
  const app = new Hono();
  app.onError(() => new Response(null, { status: 500 }));
  let loads = 0;
  const routes = docsRoutes({
    logger,
    loadSwaggerFile: (file) => {
      loads++;
      return file === "swagger-ui.css"
        ? Promise.resolve(swaggerCss)
        : Promise.reject(new Error("not embedded"));
    },
  });
  for (const route of routes) app.get(route.path, (c) => route.handle(c.req.raw));
  assert.equal(loads, 0, "nothing is loaded before it is asked for");
  for (let i = 0; i < 2; i++) {
    const bundle = await app.request("/docs/swagger-ui-bundle.js");
    assert.equal(bundle.status, 500);
  }
  assert.deepEqual(logged, ["swagger-ui-dist file missing; its route will answer 500"]);
  const css = await app.request("/docs/swagger-ui.css");
  assert.equal(css.status, 200);
  assert.equal(
    await css.text(),
    swaggerCss.replace(/\n\/\*# sourceMappingURL=\S+\s*\*\/\s*$/, "\n"),
  );
  assert.equal(loads, 2);
});
