/**
 * Server-Sent Events in a real browser: a plain `EventSource` with `?channel=`, and the client
 * falling back to SSE on a page whose `WebSocket` constructor throws. Run as a child
 * `deno test -A` by `sse_test.ts` (playwright-core needs /proc).
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_helpers.ts";
import { PushPublisher } from "../../src/publisher/publisher.js";
import { freePort } from "../client/_support.ts";
import { launch, newPage } from "./_chromium.ts";

Deno.test("[browser] SSE in Chromium", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "pushserver_sse_browser_" });
  // The page comes from the HTTP port; the stream is on the subscriber port: cross-origin.
  const httpPort = freePort();
  const origin = `http://127.0.0.1:${httpPort}`;
  await using server = await startTestServer({
    PORT_HTTP: String(httpPort),
    CORS_ORIGINS: origin,
    WS_ORIGINS: origin,
  });
  const publisher = new PushPublisher({ baseUrl: server.httpUrl });
  const { channelToken } = await publisher.createChannel("news");
  const sseUrl = `http://127.0.0.1:${server.wsPort}/sse`;
  const context = await launch(dir);
  const errors: string[] = [];
  try {
    await t.step(
      "a plain EventSource with ?channel= receives Connected, Subscribed, pushes",
      async () => {
        const page = await newPage(context, errors);
        await page.goto(`${server.httpUrl}/healthz`);
        await page.evaluate((url) => {
          const w = window as unknown as { frames_: unknown[]; source: EventSource };
          w.frames_ = [];
          w.source = new EventSource(`${url}?channel=news`);
          w.source.onmessage = (event) => w.frames_.push(JSON.parse(event.data));
        }, sseUrl);
        await page.waitForFunction(() =>
          (window as unknown as { frames_: unknown[] }).frames_.length >= 2
        );
        await publisher.push("news", channelToken, "hello browser");
        await page.waitForFunction(() =>
          (window as unknown as { frames_: unknown[] }).frames_.length >= 3
        );
        const frames = await page.evaluate(() =>
          (window as unknown as { frames_: { message: string; data: Record<string, unknown> }[] })
            .frames_
        );
        assert.equal(frames[0]!.message, "Connected");
        assert.equal(String(frames[0]!.data.session).length, 43);
        assert.equal(frames[1]!.message, "Subscribed");
        assert.deepEqual(frames[1]!.data.subscribedChannels, ["news"]);
        assert.deepEqual(frames[2]!.data.pushMessage, {
          channel: "news",
          message: "hello browser",
        });
        await page.evaluate(() => (window as unknown as { source: EventSource }).source.close());
        await page.close();
      },
    );

    await t.step("with WebSocket blocked, the client falls back to SSE", async () => {
      const page = await newPage(context, errors);
      await page.addInitScript(() => {
        // A page (or network) where WebSocket cannot be created.
        (window as unknown as { WebSocket: unknown }).WebSocket = function () {
          throw new Error("WebSocket is blocked");
        };
      });
      await page.goto(`${server.httpUrl}/healthz`);
      const transport = await page.evaluate(async ({ http, ws }) => {
        const { PushClient } = await import(`${http}/js/pushserver.js`);
        const w = window as unknown as { client: { transport: string }; got: unknown[] };
        w.got = [];
        w.client = await PushClient.connect(ws, { connectTimeoutMs: 5000 });
        await (w.client as unknown as {
          subscribe(c: string, h: (m: unknown) => void): Promise<void>;
        }).subscribe("news", (message) => w.got.push(message));
        return w.client.transport;
      }, { http: server.httpUrl, ws: server.wsUrl });
      assert.equal(transport, "sse");
      await publisher.push("news", channelToken, "fallback works");
      await page.waitForFunction(() => (window as unknown as { got: unknown[] }).got.length >= 1);
      assert.deepEqual(await page.evaluate(() => (window as unknown as { got: unknown[] }).got), [
        "fallback works",
      ]);
      await page.evaluate(() =>
        (window as unknown as { client: { close(): Promise<void> } }).client.close()
      );
      await page.close();
    });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
