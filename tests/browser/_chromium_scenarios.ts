/**
 * Real-browser scenarios: Debian's Chromium driven by playwright-core. They run in a child
 * `deno test -A` started by `demo_test.ts`, because playwright-core probes /proc when it loads,
 * which Deno allows only with --allow-all. Without Chromium they FAIL (they never skip).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createChannel, push, startTestServer, type TestServer } from "../_helpers.ts";
import { PushPublisher } from "../../src/publisher/publisher.js";
import { freePort, TcpGate } from "../client/_support.ts";
import { launch, newPage } from "./_chromium.ts";

Deno.test("[browser] the demo page subscribes, shows pushes live, and reconnects after a restart", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "pushserver_browser_" });
  // Fixed ports and a file DB, so the restarted server is the same server to the page.
  const env = {
    PORT_WS: String(freePort()),
    PORT_HTTP: String(freePort()),
    DB_PATH: join(dir, "push.db"),
  };
  let server: TestServer = await startTestServer(env);
  const context = await launch(dir);
  const errors: string[] = [];
  try {
    const page = await newPage(context, errors);
    const version = context.browser()?.version() ??
      (await page.evaluate(() => navigator.userAgent));
    assert.match(version, /\d+\.\d+/);

    await t.step("the page connects and shows its UUID", async () => {
      await page.goto(`${server.httpUrl}/demo?channel=news`);
      await page.locator('#status[data-state="open"]').waitFor();
      assert.match(
        (await page.locator("#status").textContent()) ?? "",
        /^connected as [0-9a-f-]{36}$/,
      );
      assert.equal(await page.locator("#ws-url").textContent(), server.wsUrl);
    });

    let token = "";
    await t.step("'Create this channel' puts the new token into the push form", async () => {
      await page.click("#create-button");
      await page.locator("#push-result", { hasText: 'created "news"' }).waitFor();
      token = await page.inputValue("#push-token");
      assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    });

    await t.step("subscribing lists the channel", async () => {
      await page.click("#subscribe-button");
      await page.locator("#subscriptions", { hasText: "news" }).waitFor();
    });

    await t.step("a push over HTTP appears in the DOM", async () => {
      const reply = await push(server, {
        channel: "news",
        channelToken: token,
        message: "<b>live</b>",
      });
      assert.equal(reply.status, 200);
      const item = page.locator("#messages li", { hasText: "<b>live</b>" });
      await item.waitFor();
      assert.equal(await item.locator(".channel").textContent(), "news");
      // Shown as text, never parsed as HTML.
      assert.equal(await page.locator("#messages b").count(), 0);
    });

    await t.step("the push form pushes with the typed-in token", async () => {
      await page.fill("#push-message", "typed in the form");
      await page.click("#push-button");
      await page.locator("#push-result", { hasText: "sent" }).waitFor();
      await page.locator("#messages li", { hasText: "typed in the form" }).waitFor();
      await page.fill("#push-token", "wrong");
      await page.click("#push-button");
      await page.locator("#push-result", { hasText: "403 Forbidden" }).waitFor();
    });

    await t.step(
      "killed and restarted, the server gets the page back with a new UUID",
      async () => {
        const before = (await page.locator("#status").textContent())?.replace("connected as ", "");
        await server.shutdown();
        await page.locator('#status[data-state="reconnecting"]').waitFor();
        server = await startTestServer(env);
        await page.locator("#status", { hasText: "reconnected as" }).waitFor({ timeout: 15_000 });
        const after = (await page.locator("#status").textContent())?.replace("reconnected as ", "");
        assert.match(after ?? "", /^[0-9a-f-]{36}$/);
        assert.notEqual(after, before);

        const reply = await push(server, {
          channel: "news",
          channelToken: token,
          message: "after restart",
        });
        assert.equal(reply.status, 200);
        await page.locator("#messages li", { hasText: "after restart" }).waitFor();
      },
    );

    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("[browser] the client recovers missed pushes across a server restart; the demo shows offsets and a recovered badge", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "pushserver_browser_" });
  const env = {
    PORT_WS: String(freePort()),
    PORT_HTTP: String(freePort()),
    DB_PATH: join(dir, "push.db"),
  };
  let server: TestServer = await startTestServer(env);
  // The page reaches the WebSocket port through a relay the test can close, so that pushes
  // can be made while the page is disconnected and the restarted server already runs.
  const gate = new TcpGate(server.wsPort);
  const context = await launch(dir);
  const errors: string[] = [];
  try {
    const publisher = () => new PushPublisher({ baseUrl: server.httpUrl });
    const feed = await publisher().createChannel("feed", {
      history: { size: 100, ttlSeconds: 600 },
    });
    // Keeps only the newest push: what a reconnect missed cannot all be replayed.
    const short = await publisher().createChannel("short", {
      history: { size: 1, ttlSeconds: 600 },
    });
    const page = await newPage(context, errors);
    const wsUrl = `ws://127.0.0.1:${gate.port}`;
    await page.goto(`${server.httpUrl}/demo?channel=feed&ws=${encodeURIComponent(wsUrl)}`);
    await page.locator('#status[data-state="open"]').waitFor();

    await t.step("pushes on a history channel show their offset", async () => {
      await page.click("#subscribe-button");
      await page.locator("#subscriptions", { hasText: "feed" }).waitFor();
      await page.fill("#subscribe-channel", "short");
      await page.click("#subscribe-button");
      await page.locator("#subscriptions", { hasText: "feed, short" }).waitFor();
      assert.deepEqual(await publisher().push("feed", feed.channelToken, "first"), {
        channel: "feed",
        offset: 1,
        epoch: feed.epoch,
      });
      const item = page.locator("#messages li", { hasText: "first" });
      await item.waitFor();
      assert.equal(await item.locator(".offset").textContent(), "#1");
    });

    await t.step("pushes made while it was away arrive after the restart, in order", async () => {
      gate.open = false;
      await server.shutdown();
      await page.locator('#status[data-state="reconnecting"]').waitFor();
      server = await startTestServer(env);
      for (const message of ["away one", "away two"]) {
        await publisher().push("feed", feed.channelToken, message);
      }
      for (const message of ["short one", "short two"]) {
        await publisher().push("short", short.channelToken, message);
      }
      gate.open = true;
      await page.locator("#status", { hasText: "reconnected as" }).waitFor({ timeout: 20_000 });
      const missed = page.locator("#messages li", { hasText: "away" });
      await page.locator("#messages li", { hasText: "away two" }).waitFor();
      // Newest first in the list.
      assert.deepEqual(await missed.locator(".message").allTextContents(), [
        "away two",
        "away one",
      ]);
      assert.deepEqual(await missed.locator(".offset").allTextContents(), ["#3", "#2"]);
    });

    await t.step("the badges say which channel recovered", async () => {
      const recovered = page.locator('#recovery .badge[data-channel="feed"]');
      assert.equal(await recovered.textContent(), "feed: recovered");
      assert.equal(await recovered.getAttribute("class"), "badge recovered");
      const lost = page.locator('#recovery .badge[data-channel="short"]');
      assert.equal(await lost.textContent(), "short: not recovered");
      assert.equal(await lost.getAttribute("class"), "badge not-recovered");
      await page.locator("#messages li", { hasText: "missed pushes are lost" }).waitFor();
      assert.equal(await page.locator("#messages li", { hasText: "short one" }).count(), 0);
    });

    await t.step("live pushes continue after the replay", async () => {
      await publisher().push("feed", feed.channelToken, "live again");
      const item = page.locator("#messages li", { hasText: "live again" });
      await item.waitFor();
      assert.equal(await item.locator(".offset").textContent(), "#4");
      await publisher().push("short", short.channelToken, "short three");
      const next = page.locator("#messages li", { hasText: "short three" });
      await next.waitFor();
      assert.equal(await next.locator(".offset").textContent(), "#3");
    });

    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await gate[Symbol.asyncDispose]();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("[browser] the README quick start works verbatim from another origin", async () => {
  const docs = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const example = docs.match(/```html\n([\s\S]*?)```/)?.[1];
  assert.ok(example, "README.md has no html quick start");
  assert.ok(example.split("\n").length <= 25, "the quick start should stay short");

  await using server = await startTestServer();
  const token = await createChannel(server, "news");
  const html = example
    .replace("http://localhost:5223", server.httpUrl)
    .replace("ws://localhost:5222", server.wsUrl);
  // The page's own origin differs from the pushserver's (another port), as in a real app.
  await using site = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } }),
  );
  const dir = await Deno.makeTempDir({ prefix: "pushserver_browser_" });
  const context = await launch(dir);
  const errors: string[] = [];
  try {
    const page = await newPage(context, errors);
    await page.goto(`http://127.0.0.1:${site.addr.port}/`);
    await page.waitForFunction("document.title.startsWith('subscribed as ')");
    const reply = await push(server, {
      channel: "news",
      channelToken: token,
      message: "Hello, browser",
    });
    assert.equal(reply.status, 200);
    await page.locator("#messages li", { hasText: "news: Hello, browser" }).waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await Deno.remove(dir, { recursive: true });
  }
});
