import assert from "node:assert/strict";
import fc from "fast-check";
import { clientFrame, createChannel, push, startTestServer, TestClient } from "../_helpers.ts";
import { CapturingLogger, scrape } from "../e2e/_ops.ts";
import { encodeFrame, RawWebSocket, text } from "../e2e/_raw_ws.ts";
import { hostileText } from "./_arbitraries.ts";
import { utf8ByteLength } from "../../src/protocol/fields.ts";

/** Frames sent by the property, and in the one-socket storm; the README's Reliability section counts these. */
export const WS_RUNS = 3000;
export const STORM_FRAMES = 10_000;
export const SOCKETS = 500;

/** Raise the frame rate limit: these tests are about parsing, not flooding. */
const UNLIMITED = { WS_FRAME_RATE: "1000000", WS_FRAME_BURST: "1000000" };

const frameText = hostileText.filter((text) => utf8ByteLength(text) <= 64 * 1024);

// deno-lint-ignore no-explicit-any -- replies are arbitrary JSON
function assertReply(reply: any, uuid: string): void {
  if (reply.messageType === "CLIENT_ACK") {
    assert.equal(reply.code, 200);
    assert.ok(["Subscribed", "Unsubscribed"].includes(reply.message), reply.message);
    assert.equal(reply.data.uuid, uuid);
    assert.ok(Array.isArray(reply.data.subscribedChannels));
  } else {
    assert.equal(reply.messageType, "ERROR", JSON.stringify(reply));
    assert.ok([400, 403, 404, 429].includes(reply.code), `code ${reply.code}`);
    assert.equal(typeof reply.message, "string");
    assert.equal(typeof reply.data.errorDetails, "string");
  }
}

Deno.test("[fuzz] subscriber WebSocket: any frame in, one valid reply out, the socket stays open", async (t) => {
  await using server = await startTestServer(UNLIMITED);
  const channelToken = await createChannel(server, "news");
  await using client = await TestClient.connect(server.wsUrl);

  await t.step(`${WS_RUNS} generated text frames, one at a time`, async () => {
    // A raw client with TCP_NODELAY: Deno's WebSocket client leaves Nagle on, and each
    // multi-segment frame then waits ~40 ms for a delayed ACK.
    await using raw = await RawWebSocket.connect(server.wsPort);
    const uuid = JSON.parse(text((await raw.nextFrame())!)).data.uuid;
    await fc.assert(
      fc.asyncProperty(frameText, async (frame) => {
        await raw.sendText(frame);
        const reply = await raw.nextFrame();
        assert.ok(reply !== null && reply.opcode === 0x1, "a text reply");
        assertReply(JSON.parse(text(reply)), uuid);
      }),
      { numRuns: WS_RUNS },
    );
  });

  await t.step("random binary frames: 400 Invalid message", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 2048 }), async (bytes) => {
        client.sendRaw(bytes);
        const reply = await client.next();
        assert.equal(reply.code, 400);
        assert.equal(reply.message, "Invalid message");
      }),
      { numRuns: 200 },
    );
  });

  await t.step(`${STORM_FRAMES} frames on one socket at once`, async () => {
    const frames = fc.sample(frameText, { numRuns: STORM_FRAMES, seed: 4 });
    for (const frame of frames) client.sendRaw(frame);
    for (let i = 0; i < frames.length; i++) assertReply(await client.next(), client.uuid);
    assert.equal(client.socket.readyState, WebSocket.OPEN);
  });

  await t.step("the socket and the channel still work", async () => {
    await client.act("UNSUBSCRIBE", "news");
    const ack = await client.act("SUBSCRIBE", "news");
    assert.deepEqual(ack.data.subscribedChannels.at(-1), "news");
    assert.equal((await push(server, { channel: "news", channelToken, message: "m" })).status, 200);
    assert.equal((await client.next()).data.pushMessage.message, "m");
    const metrics = await scrape(server.httpUrl);
    assert.equal(metrics.get("pushserver_channels"), 1);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

Deno.test("[fuzz] invalid UTF-8 in a text frame drops that socket (and its subscriptions) only", async () => {
  const logger = new CapturingLogger();
  await using server = await startTestServer({}, { logger });
  await createChannel(server, "news");
  await using bystander = await TestClient.connect(server.wsUrl);
  for (const bad of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0x7b, 0xe2, 0x82]]) {
    await using raw = await RawWebSocket.connect(server.wsPort);
    const uuid = JSON.parse(text((await raw.nextFrame())!)).data.uuid;
    await raw.sendText(
      clientFrame("SUBSCRIBE", "news"),
    );
    await raw.nextFrame();
    await raw.conn.write(encodeFrame(0x1, new Uint8Array(bad)));
    // The runtime rejects the frame and ends the connection (1007, or a plain TCP close).
    const code = await raw.closeCode();
    assert.ok(code === 1007 || code === null, `close code ${code}`);
    await logger.waitFor((r) => r.msg === "connection closed" && r.fields.uuid === uuid);
  }
  const metrics = await scrape(server.httpUrl);
  assert.equal(metrics.get("pushserver_connections"), 1);
  assert.equal(metrics.get("pushserver_subscriptions"), 0);
  assert.equal((await bystander.act("SUBSCRIBE", "news")).message, "Subscribed");
});

Deno.test(`[fuzz] ${SOCKETS} sockets open, subscribe and close at once: no leak, no lost channel`, async () => {
  const logger = new CapturingLogger();
  await using server = await startTestServer({}, { logger });
  const channelToken = await createChannel(server, "news");
  const half = SOCKETS / 2;
  const clients = await Promise.all(
    Array.from({ length: half }, () => TestClient.connect(server.wsUrl)),
  );
  const raws = await Promise.all(
    Array.from({ length: half }, () => RawWebSocket.connect(server.wsPort)),
  );
  await Promise.all(clients.map((c) => c.act("SUBSCRIBE", "news")));
  await Promise.all(raws.map(async (raw) => {
    await raw.nextFrame();
    await raw.sendText(
      clientFrame("SUBSCRIBE", "news"),
    );
    await raw.nextFrame();
  }));
  let metrics = await scrape(server.httpUrl);
  assert.equal(metrics.get("pushserver_connections"), SOCKETS);
  assert.equal(metrics.get("pushserver_subscriptions"), SOCKETS);

  // Half close politely, half just drop the TCP connection, all at the same moment.
  let gone = 0;
  const allGone = logger.waitFor((r) => r.msg === "connection closed" && ++gone === SOCKETS);
  for (const raw of raws) raw.close();
  await Promise.all(clients.map((c) => c.close()));
  await allGone;

  metrics = await scrape(server.httpUrl);
  assert.equal(metrics.get("pushserver_connections"), 0);
  assert.equal(metrics.get("pushserver_subscriptions"), 0);
  assert.equal(metrics.get("pushserver_channels"), 1);
  await using late = await TestClient.connect(server.wsUrl);
  await late.act("SUBSCRIBE", "news");
  const reply = await push(server, { channel: "news", channelToken, message: "after" });
  assert.equal(reply.status, 200);
  assert.equal((await late.next()).data.pushMessage.message, "after");
});
