/** The client over Server-Sent Events, and its fallback from WebSocket, against a real server. */
import assert from "node:assert/strict";
import { PushClient } from "../../src/client/pushserver.js";
import { PushPublisher } from "../../src/publisher/publisher.js";
import { startTestServer } from "../_helpers.ts";
import { Inbox } from "./_support.ts";

/** A WebSocket constructor that always throws, as on a network or page that blocks it. */
class BlockedWebSocket {
  constructor() {
    throw new Error("WebSocket is blocked here");
  }
}

/** A WebSocket that never opens (a proxy that swallows the upgrade). */
class SilentWebSocket extends EventTarget {
  readyState = 0;
  protocol = "";
  onopen = null;
  onmessage = null;
  onerror = null;
  onclose = null;
  close(): void {
    this.readyState = 3;
  }
  send(): void {}
}

for (const compact of [false, true]) {
  Deno.test(`[e2e] PushClient over SSE only: subscribe, pushes, recovery data, unsubscribe (compact ${compact})`, async () => {
    await using server = await startTestServer();
    const publisher = new PushPublisher({ baseUrl: server.httpUrl });
    const { channelToken } = await publisher.createChannel("feed", {
      history: { size: 10, ttlSeconds: 600 },
    });
    await using client = await PushClient.connect(server.wsUrl, {
      transports: ["sse"],
      compact,
    });
    assert.equal(client.transport, "sse");
    assert.match(client.uuid, /^[0-9a-f-]{36}$/);
    const inbox = new Inbox<[unknown, { offset?: number }]>();
    await client.subscribe("feed", (message, meta) => inbox.put([message, meta]));
    await publisher.push("feed", channelToken, "one");
    await publisher.push("feed", channelToken, "two");
    const [first, second] = [await inbox.take(), await inbox.take()];
    assert.deepEqual([first[0], first[1].offset], ["one", 1]);
    assert.deepEqual([second[0], second[1].offset], ["two", 2]);
    await assert.rejects(client.subscribe("missing", () => {}), /Not found/);
    await client.unsubscribe("feed");
    await publisher.push("feed", channelToken, "three");
    assert.equal(inbox.size, 0);
  });
}

Deno.test("[e2e] PushClient falls back to SSE when the WebSocket cannot be created", async () => {
  await using server = await startTestServer();
  const publisher = new PushPublisher({ baseUrl: server.httpUrl });
  const { channelToken } = await publisher.createChannel("news");
  await using client = await PushClient.connect(server.wsUrl, {
    WebSocket: BlockedWebSocket as unknown as typeof WebSocket,
  });
  assert.equal(client.transport, "sse");
  const inbox = new Inbox<unknown>();
  await client.subscribe("news", (message) => inbox.put(message));
  await publisher.push("news", channelToken, "via sse");
  assert.equal(await inbox.take(), "via sse");
});

Deno.test("[e2e] PushClient falls back to SSE when the WebSocket does not open within connectTimeoutMs", async () => {
  await using server = await startTestServer();
  await using client = await PushClient.connect(server.wsUrl, {
    WebSocket: SilentWebSocket as unknown as typeof WebSocket,
    connectTimeoutMs: 300,
  });
  assert.equal(client.transport, "sse");
});

Deno.test("[e2e] PushClient prefers WebSocket when it works", async () => {
  await using server = await startTestServer();
  await using client = await PushClient.connect(server.wsUrl);
  assert.equal(client.transport, "websocket");
});
