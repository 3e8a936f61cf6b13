/** Server-Sent Events specifics: the stream, sessions, commands, CORS, keep-alive, limits. */
import assert from "node:assert/strict";
import { broadcast, createWith } from "./_v11.ts";
import { FakeTimers } from "./_transport.ts";
import { EventReader, sseBase, SseClient } from "./_sse_client.ts";
import { clientFrame, startTestServer } from "../_helpers.ts";
import { eventually } from "../cluster/_redis.ts";

Deno.test("[e2e] GET /sse", async (t) => {
  const timers = new FakeTimers();
  await using server = await startTestServer({}, { timers });
  const base = sseBase(server);
  await createWith(server, "a");
  await createWith(server, "b");

  await t.step("200 text/event-stream; Connected carries a 43-character session", async () => {
    const response = await fetch(`${base}/sse`, { headers: { accept: "text/event-stream" } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /^text\/event-stream/);
    assert.equal(response.headers.get("cache-control"), "no-store");
    assert.equal(response.headers.get("x-accel-buffering"), "no");
    const reader = new EventReader(response.body!);
    while (reader.events.length === 0) await reader.changed(5000);
    const first = reader.events[0]!;
    assert.equal(first.event, "message");
    assert.ok(!first.data.includes("\n"), "one data line");
    const hello = JSON.parse(first.data);
    assert.equal(hello.messageType, "CLIENT_ACK");
    assert.equal(hello.message, "Connected");
    assert.deepEqual(hello.data.subscribedChannels, []);
    assert.match(hello.data.session, /^[A-Za-z0-9_-]{43}$/);
    await reader.cancel();
  });

  await t.step("?channel=a&channel=b subscribes at connect, acks in order", async () => {
    await using client = await SseClient.connect(server, { query: "channel=a&channel=b" });
    const first = await client.next();
    const second = await client.next();
    assert.deepEqual(first.data.subscribedChannels, ["a"]);
    assert.deepEqual(second.data.subscribedChannels, ["a", "b"]);
    const missing = await SseClient.connect(server, { query: "channel=zzz" });
    assert.equal((await missing.next()).code, 404);
    await missing.close();
  });

  await t.step("?compact=1: compact frames, Connected is {uuid, session}", async () => {
    await using client = await SseClient.connect(server, { compact: true });
    assert.equal(client.session.length, 43);
    await client.send(clientFrame("SUBSCRIBE", "a"));
    assert.deepEqual((await client.next()).data, { uuid: client.uuid, channel: "a" });
  });

  await t.step("commands: 404 for an unknown session, 400 for a bad body", async () => {
    await using client = await SseClient.connect(server);
    const unknown = await client.post(clientFrame("SUBSCRIBE", "a"), "x".repeat(43));
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).message, "Not found");
    const none = await fetch(`${base}/sse/command`, { method: "POST", body: "{}" });
    assert.equal(none.status, 404);
    await none.body?.cancel();
    for (const [body, message] of [["nope", "Bad JSON"], ["{}", "Invalid message"]]) {
      const bad = await client.post(body!);
      assert.equal(bad.status, 400);
      assert.match(bad.headers.get("content-type")!, /application\/json/);
      assert.equal((await bad.json()).message, message);
    }
    const huge = await client.post(clientFrame("SUBSCRIBE", "a".repeat(70_000)));
    assert.equal(huge.status, 413);
    assert.equal((await huge.json()).message, "Payload Too Large");
    assert.equal(await client.receivedNothing(), true);
    const accepted = await client.post(clientFrame("SUBSCRIBE", "a"));
    assert.equal(accepted.status, 202);
    await accepted.body?.cancel();
    assert.equal((await client.next()).message, "Subscribed");
    const session = client.session;
    await client.close();
    // The session ends with its stream (once the server sees the stream cancelled).
    await eventually(5000, "the closed stream's session is unknown", async () => {
      const gone = await client.post(clientFrame("SUBSCRIBE", "a"), session);
      await gone.body?.cancel();
      return gone.status === 404;
    });
  });

  await t.step("a keep-alive comment every 25 s", async () => {
    await using client = await SseClient.connect(server);
    const before = client.reader.comments.length;
    timers.advance(24_000);
    assert.equal(await client.receivedNothing(), true);
    assert.equal(client.reader.comments.length, before);
    timers.advance(1_000);
    while (client.reader.comments.length === before) await client.reader.changed(5000);
    assert.equal(client.reader.comments.at(-1), "keep-alive");
    timers.advance(25_000);
    while (client.reader.comments.length === before + 1) await client.reader.changed(5000);
  });

  await t.step("other methods are 405", async () => {
    const response = await fetch(`${base}/sse`, { method: "POST", body: "x" });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "GET, OPTIONS");
    await response.body?.cancel();
  });

  await t.step("metrics count SSE connections and errors with transport=sse", async () => {
    await using client = await SseClient.connect(server);
    const bad = await client.post("nope");
    await bad.body?.cancel();
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    assert.match(metrics, /pushserver_transport_connections\{transport="sse"\} [1-9]/);
    assert.match(metrics, /pushserver_transport_connections_opened_total\{transport="sse"\} [1-9]/);
    assert.match(metrics, /pushserver_errors_total\{transport="sse",code="400"\} [1-9]/);
  });

  await t.step("shutdown ends the stream with a close event 1001", async () => {
    const client = await SseClient.connect(server);
    await server.shutdown();
    assert.deepEqual(await client.ended(), { code: 1001, reason: "Going Away" });
    await client.close();
  });
});

Deno.test("[e2e] SSE CORS follows CORS_ORIGINS; WS_ORIGINS applies to /sse", async () => {
  await using server = await startTestServer({
    CORS_ORIGINS: "https://app.example",
    WS_ORIGINS: "https://app.example",
  });
  const base = sseBase(server);
  const preflight = await fetch(`${base}/sse/command`, {
    method: "OPTIONS",
    headers: {
      origin: "https://app.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization",
    },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "https://app.example");
  assert.match(preflight.headers.get("access-control-allow-headers")!, /authorization/);
  assert.match(preflight.headers.get("access-control-allow-methods")!, /POST/);
  await preflight.body?.cancel();

  await using client = await SseClient.connect(server, {
    headers: { origin: "https://app.example" },
  });
  const command = await client.post(clientFrame("SUBSCRIBE", "nope"));
  assert.equal(command.status, 202);
  await command.body?.cancel();

  const forbidden = await fetch(`${base}/sse`, { headers: { origin: "https://evil.example" } });
  assert.equal(forbidden.status, 403);
  assert.equal(forbidden.headers.get("access-control-allow-origin"), null);
  await forbidden.body?.cancel();
});

Deno.test("[e2e] a slow SSE reader is cut off like a slow WebSocket", async () => {
  await using server = await startTestServer({
    MAX_BUFFERED_BYTES: "65536",
    MAX_MESSAGE_BYTES: "60000",
  });
  const flood = await createWith(server, "flood");
  const response = await fetch(`${sseBase(server)}/sse?channel=flood`);
  // Read nothing: the kernel's socket buffers fill, then the stream's own queue.
  const body = response.body!;
  const message = "x".repeat(59_000);
  let cut = false;
  for (let i = 0; i < 2000 && !cut; i++) {
    await broadcast(server, "flood", flood.token, message);
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    cut = /pushserver_slow_consumer_closes_total [1-9]/.test(metrics) &&
      /pushserver_transport_connections\{transport="sse"\} 0/.test(metrics);
  }
  assert.ok(cut, "the slow reader was not cut off");
  await body.cancel();
});
