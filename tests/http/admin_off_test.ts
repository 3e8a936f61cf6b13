import assert from "node:assert/strict";
import { startTestServer } from "../_helpers.ts";

Deno.test("[e2e] without ADMIN_TOKEN, every admin route answers 404 naming ADMIN_TOKEN", async (t) => {
  await using server = await startTestServer();
  const routes: [string, string][] = [
    ["POST", "/admin/channel/rotate"],
    ["POST", "/admin/channel/delete"],
    ["GET", "/admin/channel/rotate"],
    ["GET", "/admin"],
    ["GET", "/admin/api/channels"],
    ["GET", "/sysadmin"],
  ];
  for (const [method, path] of routes) {
    await t.step(`${method} ${path}`, async () => {
      const response = await fetch(`${server.httpUrl}${path}`, {
        method,
        ...(method === "POST" ? { body: "{}" } : {}),
      });
      assert.equal(response.status, 404);
      const body = await response.json();
      assert.match(
        body.data.errorDetails,
        new RegExp(`^No route for ${method} ${path}: .*ADMIN_TOKEN`),
      );
    });
  }
  await t.step("other unknown routes keep the plain 404", async () => {
    const body = await (await fetch(`${server.httpUrl}/nope`)).json();
    assert.equal(body.data.errorDetails, "No route for GET /nope");
  });
});

Deno.test("[e2e] with ADMIN_TOKEN, an unknown admin path is a plain 404", async () => {
  await using server = await startTestServer({ ADMIN_TOKEN: "admin-token-16-chars-plus" });
  const body = await (await fetch(`${server.httpUrl}/admin/nope`)).json();
  assert.equal(body.data.errorDetails, "No route for GET /admin/nope");
});
