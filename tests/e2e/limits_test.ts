import assert from "node:assert/strict";
import type { TokenHasher } from "../../src/channels/tokens.ts";
import {
  action,
  clientFrame,
  createChannel,
  post,
  push,
  readJson,
  TestClient,
} from "../_helpers.ts";
import { CapturingLogger, scrape } from "./_ops.ts";
import { RawWebSocket, text } from "./_raw_ws.ts";
import { e2e } from "./_backends.ts";

const MiB = 1024 * 1024;

/** Sends a raw HTTP/1.1 request head (and optional first body bytes) and reads the status line. */
async function rawRequest(port: number, head: string, body = new Uint8Array(0)): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(head));
  if (body.length > 0) await conn.write(body);
  const reader = conn.readable.getReader();
  let received = "";
  const decoder = new TextDecoder();
  while (!received.includes("\r\n\r\n")) {
    const { done, value } = await reader.read();
    if (done) break;
    received += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  return received;
}

e2e("HTTP body limit", async (t, backend) => {
  await using server = await backend.start();

  await t.step("a 2 GiB streamed body gets 413 after reading about the limit", async () => {
    let pulled = 0;
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled >= 2 * 1024 * MiB) return controller.close();
        pulled += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const reply = await readJson(
      await fetch(`${server.httpUrl}/push`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      }),
    );
    assert.equal(reply.status, 413);
    assert.equal(reply.contentType, "application/json; charset=utf-8");
    assert.equal(reply.body.message, "Payload Too Large");
    assert.match(reply.body.data.errorDetails, /the limit is 1048576/);
    // The client stops being read long before 2 GiB (only socket buffers past the limit).
    assert.ok(pulled < 64 * MiB, `pulled ${pulled} bytes`);
  });

  await t.step("a declared Content-Length of 2 GiB is refused before any body byte", async () => {
    const head = await rawRequest(
      server.httpPort,
      "POST /push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
        "Content-Length: 2147483648\r\n\r\n",
    );
    assert.match(head, /^HTTP\/1\.1 413 /);
  });

  await t.step(
    "exactly MAX_BODY_BYTES is read and parsed (400 for bad JSON, not 413)",
    async () => {
      const reply = await post(`${server.httpUrl}/push`, " ".repeat(MiB - 1) + "x");
      assert.equal(reply.status, 400);
      assert.equal(reply.body.data.errorDetails, "Body is not valid JSON");
    },
  );

  await t.step("one byte over MAX_BODY_BYTES is 413", async () => {
    const reply = await post(`${server.httpUrl}/push`, " ".repeat(MiB + 1));
    assert.equal(reply.status, 413);
  });

  await t.step("the server still answers afterwards", async () => {
    const reply = await readJson(await fetch(`${server.httpUrl}/healthz`));
    assert.equal(reply.status, 200);
  });
});

e2e("push message limit (MAX_MESSAGE_BYTES)", async (t, backend) => {
  await using server = await backend.start({ MAX_MESSAGE_BYTES: "1000" });
  const channelToken = await createChannel(server, "news");

  await t.step("at the limit: 200", async () => {
    const reply = await push(server, { channel: "news", channelToken, message: "a".repeat(1000) });
    assert.equal(reply.status, 200);
  });

  await t.step("over the limit in UTF-8 bytes: 413 naming both sizes", async () => {
    const reply = await push(server, { channel: "news", channelToken, message: "é".repeat(501) });
    assert.equal(reply.status, 413);
    assert.equal(reply.body.code, 413);
    assert.equal(reply.body.data.errorDetails, "message is 1002 bytes; the limit is 1000");
  });

  await t.step("the 413 comes before the token check", async () => {
    const reply = await push(server, {
      channel: "news",
      channelToken: "wrong",
      message: "a".repeat(1001),
    });
    assert.equal(reply.status, 413);
  });
});

e2e("WebSocket frame limit", async (t, backend) => {
  await using server = await backend.start();
  await createChannel(server, "news");

  await t.step("a 64 KiB frame is read (and answered), the socket stays open", async () => {
    await using client = await TestClient.connect(server.wsUrl);
    client.sendRaw("x".repeat(64 * 1024));
    const reply = await client.next();
    assert.equal(reply.code, 400);
    assert.equal(reply.message, "Bad JSON");
    assert.equal((await client.act("SUBSCRIBE", "news")).message, "Subscribed");
  });

  await t.step("a frame of 64 KiB + 1 closes the connection with 1009", async () => {
    const client = await TestClient.connect(server.wsUrl);
    client.sendRaw("x".repeat(64 * 1024 + 1));
    const closed = await client.closed;
    assert.equal(closed.code, 1009);
  });

  await t.step("a binary frame over the limit also closes with 1009", async () => {
    const client = await TestClient.connect(server.wsUrl);
    client.sendRaw(new Uint8Array(64 * 1024 + 1));
    assert.equal((await client.closed).code, 1009);
  });
});

e2e("MAX_CONNECTIONS: past it upgrades get 503 and are counted", async (_t, backend) => {
  const logger = new CapturingLogger();
  await using server = await backend.start({ MAX_CONNECTIONS: "3" }, { logger });
  const clients = await Promise.all([1, 2, 3].map(() => TestClient.connect(server.wsUrl)));
  await assert.rejects(RawWebSocket.connect(server.wsPort), /handshake refused: HTTP\/1\.1 503/);
  // Connections are counted (and capped) by the node that holds them.
  let metrics = await scrape(server.subscriberNode.httpUrl);
  assert.equal(metrics.get("pushserver_connections"), 3);
  assert.equal(metrics.get("pushserver_connections_rejected_total"), 1);
  assert.equal(metrics.get('pushserver_errors_total{transport="ws",code="503"}'), 1);

  const leaving = clients.pop()!;
  const gone = logger.waitFor((r) =>
    r.msg === "connection closed" && r.fields.uuid === leaving.uuid
  );
  await leaving.close();
  await gone;
  await using again = await TestClient.connect(server.wsUrl);
  assert.match(again.uuid, /^[0-9a-f-]{36}$/);
  metrics = await scrape(server.subscriberNode.httpUrl);
  assert.equal(metrics.get("pushserver_connections"), 3);
  assert.equal(metrics.get("pushserver_connections_opened_total"), 4);
  for (const client of clients) await client.close();
});

e2e("MAX_SUBSCRIPTIONS_PER_CONNECTION: past it ERROR 429", async (_t, backend) => {
  await using server = await backend.start({ MAX_SUBSCRIPTIONS_PER_CONNECTION: "2" });
  for (const name of ["a", "b", "c"]) await createChannel(server, name);
  await using client = await TestClient.connect(server.wsUrl);
  await client.act("SUBSCRIBE", "a");
  await client.act("SUBSCRIBE", "b");
  const refused = await client.act("SUBSCRIBE", "c");
  assert.deepEqual(refused, {
    messageType: "ERROR",
    code: 429,
    message: "Too Many Requests",
    data: { errorDetails: "A connection may subscribe to at most 2 channels" },
  });
  // Still open and still subscribed to the first two; room again after an unsubscribe.
  await client.act("UNSUBSCRIBE", "a");
  const ack = await client.act("SUBSCRIBE", "c");
  assert.deepEqual(ack.data.subscribedChannels, ["b", "c"]);
});

e2e("default frame rate limit: a flooder gets 429, then close 1008", async (_t, backend) => {
  await using server = await backend.start();
  await using client = await RawWebSocket.connect(server.wsPort);
  await client.nextFrame(); // Connected
  const frame = clientFrame("UNSUBSCRIBE", "x");
  // Burst 200 plus 200 refused frames, sent at once; then one frame at a time until the close.
  // (A peer that is still sending when the server closes sees a TCP reset instead of the close
  // frame, because the runtime drops the unread input; pacing the tail keeps the 1008 visible.)
  for (let i = 0; i < 400; i++) await client.sendText(frame);
  // deno-lint-ignore no-explicit-any -- replies are arbitrary JSON
  const replies: any[] = [];
  for (let i = 0; i < 400; i++) replies.push(JSON.parse(text((await client.nextFrame())!)));
  let closeCode: number | undefined;
  for (let i = 0; i < 1000 && closeCode === undefined; i++) {
    await client.sendText(frame);
    const next = await client.nextFrame();
    assert.ok(next !== null, "the connection ended without a close frame");
    if (next.opcode === 0x8) closeCode = (next.payload[0]! << 8) | next.payload[1]!;
    else replies.push(JSON.parse(text(next)));
  }
  assert.equal(closeCode, 1008);
  assert.ok(replies.slice(0, 200).every((r) => r.message === "Unsubscribed"));
  const refused = replies.filter((r) => r.code === 429);
  assert.ok(refused.length >= 200, `${refused.length} refusals`);
  assert.equal(refused[0].message, "Too Many Requests");
  assert.match(refused[0].data.errorDetails, /100 per second \(burst 200\)/);
  const metrics = await scrape(server.subscriberNode.httpUrl);
  assert.equal(metrics.get('pushserver_errors_total{transport="ws",code="429"}'), refused.length);
});

e2e(
  "wrong channel tokens: one bcrypt check runs per verify worker, MAX_TOKEN_CHECKS more wait, past it 429",
  async (_t, backend) => {
    const gate = Promise.withResolvers<void>();
    const twoStarted = Promise.withResolvers<void>();
    let started = 0;
    const hasher: TokenHasher = {
      hash: (token) => Promise.resolve(`hash:${token}`),
      async verify(token, hash) {
        if (++started === 2) twoStarted.resolve();
        await gate.promise;
        return hash === `hash:${token}`;
      },
      close() {},
    };
    await using server = await backend.start({ MAX_TOKEN_CHECKS: "2" }, { hasher });
    await createChannel(server, "news");
    // Different wrong tokens: the same token twice in flight would share one check.
    const wrong = (n: number) => ({
      channel: "news",
      channelToken: `not-the-token-${n}`,
      message: "hi",
    });
    // Two run (one per verify worker), two wait (PROTOCOL.md v1.2: MAX_TOKEN_CHECKS bounds the
    // waiting checks); this address then has the most waiting, so its fifth is refused at once.
    const admitted = [1, 2, 3, 4].map((n) => push(server, wrong(n)));
    await twoStarted.promise;
    for (let scrapes = 0;; scrapes++) {
      assert.ok(scrapes < 500, "four checks in the gate after 500 scrapes");
      if ((await scrape(server.httpUrl)).get("pushserver_token_checks") === 4) break;
    }
    const fifth = await push(server, wrong(5));
    assert.equal(fifth.status, 429);
    assert.equal(fifth.body.message, "Too Many Requests");
    assert.equal(
      fifth.body.data.errorDetails,
      "Too many channel token checks in progress; retry shortly",
    );
    assert.equal(fifth.headers.get("retry-after"), "1");
    gate.resolve();
    for (const reply of await Promise.all(admitted)) assert.equal(reply.status, 403);
    assert.equal(started, 4);
    // The places are released: a sixth wrong token is checked again (403, not 429).
    assert.equal((await push(server, wrong(6))).status, 403);
    const ping = await post(
      `${server.httpUrl}/channel/ping`,
      action("PING_CHANNEL", { channel: "news", channelToken: "not-the-token-7" }),
    );
    assert.equal(ping.status, 403);
  },
);

e2e(
  "wrong channel tokens: past 10 failures (TOKEN_FAILURE_BURST=10) an address gets 429 without bcrypt",
  async (_t, backend) => {
    let verifications = 0;
    const hasher: TokenHasher = {
      hash: (token) => Promise.resolve(`hash:${token}`),
      verify(token, hash) {
        verifications++;
        return Promise.resolve(hash === `hash:${token}`);
      },
      close() {},
    };
    await using server = await backend.start({ TOKEN_FAILURE_BURST: "10" }, { hasher });
    const channelToken = await createChannel(server, "news");
    for (let i = 0; i < 10; i++) {
      const reply = await push(server, {
        channel: "news",
        channelToken: `wrong-${i}`,
        message: "x",
      });
      assert.equal(reply.status, 403);
    }
    assert.equal(verifications, 10);
    const refused = await push(server, { channel: "news", channelToken: "wrong-10", message: "x" });
    assert.equal(refused.status, 429);
    assert.match(
      refused.body.data.errorDetails,
      /^Too many wrong channel tokens from this address; retry in \d s$/,
    );
    assert.equal(verifications, 10, "no bcrypt for the refused one");
    // The right token, already verified at create, does not go through the budget at all.
    assert.equal((await push(server, { channel: "news", channelToken, message: "x" })).status, 200);
  },
);

e2e(
  "slow consumer: one subscriber that never reads is closed with 4008; 50 readers get all 20 MiB in order",
  async (_t, backend) => {
    const logger = new CapturingLogger();
    await using server = await backend.start({ MAX_BUFFERED_BYTES: String(MiB) }, { logger });
    const channelToken = await createChannel(server, "feed");

    // The slow one: a raw socket that subscribes, then never reads again.
    await using slow = await RawWebSocket.connect(server.wsPort);
    const hello = JSON.parse(text((await slow.nextFrame())!));
    await slow.sendText(clientFrame("SUBSCRIBE", "feed"));
    assert.equal(JSON.parse(text((await slow.nextFrame())!)).message, "Subscribed");

    const readers = await Promise.all(
      Array.from({ length: 50 }, () => TestClient.connect(server.wsUrl)),
    );
    for (const reader of readers) await reader.act("SUBSCRIBE", "feed");

    const COUNT = 328; // 328 × 64,000 bytes ≈ 20 MiB
    const WINDOW = 4; // pushes in flight ahead of the slowest reader
    const padding = "x".repeat(64_000 - 6);
    const received = readers.map(() => 0);
    let progress = Promise.withResolvers<void>();
    const reading = readers.map(async (reader, r) => {
      for (let i = 0; i < COUNT; i++) {
        const frame = await reader.next(15_000);
        assert.equal(frame.messageType, "CLIENT_PUSH");
        assert.equal(frame.data.pushMessage.message.slice(0, 6), String(i).padStart(6, "0"));
        received[r] = i + 1;
        progress.resolve();
      }
    });
    const rssBefore = Deno.memoryUsage().rss;
    for (let i = 0; i < COUNT; i++) {
      while (Math.min(...received) < i - WINDOW) {
        await progress.promise;
        progress = Promise.withResolvers<void>();
      }
      const message = String(i).padStart(6, "0") + padding;
      const reply = await push(server, { channel: "feed", channelToken, message });
      assert.equal(reply.status, 200);
    }
    await Promise.all(reading);
    const rssGrowth = Deno.memoryUsage().rss - rssBefore;

    await logger.waitFor((r) =>
      r.msg === "closing slow consumer" && r.fields.uuid === hello.data.uuid
    );
    // Sockets are counted by the node that holds them, accepted pushes by the one that took them.
    const metrics = await scrape(server.subscriberNode.httpUrl);
    assert.equal(metrics.get("pushserver_slow_consumer_closes_total"), 1);
    assert.equal(metrics.get("pushserver_connections"), 50);
    assert.equal(metrics.get("pushserver_subscriptions"), 50);
    const published = await scrape(server.publisherNode.httpUrl);
    assert.equal(published.get("pushserver_pushes_total"), COUNT);
    assert.ok((metrics.get("pushserver_dropped_messages_total") ?? 0) >= 1);
    // Everything the test process allocated (50 readers' copies included) stays far below what
    // unbounded buffering would cost; the server's share for the slow one is MAX_BUFFERED_BYTES.
    assert.ok(rssGrowth < 1024 * MiB, `rss grew by ${Math.round(rssGrowth / MiB)} MiB`);
    // Reading the slow socket now shows what it was sent before being cut off, then the 4008.
    let pushes = 0;
    const code = await slow.closeCode((frame) => {
      if (frame.opcode === 1) pushes++;
    });
    assert.equal(code, 4008);
    assert.ok(pushes < COUNT, `the slow consumer got ${pushes} pushes`);
    for (const reader of readers) await reader.close();
  },
);
