/**
 * `/docs` in a real Chromium with every request that does not go to the server blocked: the page,
 * Swagger UI and the document all come from the server's own origin. Runs in a child
 * `deno test -A` started by `docs_test.ts` (playwright-core probes /proc when it loads).
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_helpers.ts";
import { launch, newPage } from "./_chromium.ts";

Deno.test("[browser] /docs renders every route offline, from the server's own origin", async (t) => {
  await using server = await startTestServer();
  const origin = new URL(server.httpUrl).origin;
  const dir = await Deno.makeTempDir({ prefix: "pushserver_docs_" });
  const context = await launch(dir);
  const errors: string[] = [];
  const blocked: string[] = [];
  const served: string[] = [];
  try {
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (new URL(url).origin === origin) {
        served.push(new URL(url).pathname);
        return route.continue();
      }
      blocked.push(url);
      return route.abort("blockedbyclient");
    });
    const page = await newPage(context, errors);
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });

    await t.step("Swagger UI shows every path of the document", async () => {
      await page.goto(`${server.httpUrl}/docs`);
      await page.locator(".opblock").first().waitFor();
      const document = await (await fetch(`${server.httpUrl}/openapi.json`)).json();
      const shown = await page.locator(".opblock-summary-path").allTextContents();
      const paths = shown.map((text) => text.replace(/\u200b/g, "").trim());
      for (const path of Object.keys(document.paths)) {
        assert.ok(paths.includes(path), `${path} is shown (shown: ${paths.join(", ")})`);
      }
      assert.match(await page.locator(".info .title").textContent() ?? "", /pushserver/);
    });

    await t.step("an operation opens with its responses, 413 and 503 included", async () => {
      await page.locator("#operations-Push-pushMessage .opblock-summary").click();
      const codes = page.locator(
        "#operations-Push-pushMessage .responses-table .response-col_status",
      );
      await codes.first().waitFor();
      const listed = (await codes.allTextContents()).map((text) => text.trim());
      for (const code of ["200", "400", "401", "403", "404", "405", "413", "429", "500", "503"]) {
        assert.ok(listed.includes(code), `${code} in ${listed.join(", ")}`);
      }
    });

    assert.deepEqual(blocked, [], "the page asked for nothing outside the server");
    for (
      const path of ["/docs", "/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/openapi.json"]
    ) {
      assert.ok(served.includes(path), `${path} was loaded (loaded: ${served.join(", ")})`);
    }
    assert.deepEqual(errors, [], "no page error, no console error (a CSP violation is one)");
  } finally {
    await context.close();
    await Deno.remove(dir, { recursive: true });
  }
});
