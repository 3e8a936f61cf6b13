import assert from "node:assert/strict";
import { clientFrame, createChannel, push, TestClient } from "../_helpers.ts";
import { CapturingLogger, scrape } from "./_ops.ts";
import { RawWebSocket, text } from "./_raw_ws.ts";
import { e2e } from "./_backends.ts";

e2e(
  "heartbeat: a client that stops answering pings is closed and its subscriptions dropped",
  async (_t, backend) => {
    const logger = new CapturingLogger();
    await using server = await backend.start({ WS_IDLE_TIMEOUT_S: "1" }, { logger });
    const channelToken = await createChannel(server, "news");

    // A well-behaved client (the runtime answers pings for it) on the same channel stays.
    await using alive = await TestClient.connect(server.wsUrl);
    await alive.act("SUBSCRIBE", "news");

    await using mute = await RawWebSocket.connect(server.wsPort);
    const uuid = JSON.parse(text((await mute.nextFrame())!)).data.uuid;
    await mute.sendText(
      clientFrame("SUBSCRIBE", "news"),
    );
    assert.equal(JSON.parse(text((await mute.nextFrame())!)).message, "Subscribed");
    assert.equal((await scrape(server.subscriberNode.httpUrl)).get("pushserver_subscriptions"), 2);

    // It reads, but never answers: first a ping, then the server gives up on it.
    const opcodes: number[] = [];
    const code = await mute.closeCode((frame) => opcodes.push(frame.opcode));
    assert.ok(opcodes.includes(0x9), `a ping was sent (saw opcodes ${opcodes})`);
    assert.equal(code, 1001);
    await logger.waitFor((r) => r.msg === "connection closed" && r.fields.uuid === uuid);

    const metrics = await scrape(server.subscriberNode.httpUrl);
    assert.equal(metrics.get("pushserver_connections"), 1);
    assert.equal(metrics.get("pushserver_subscriptions"), 1);
    const reply = await push(server, { channel: "news", channelToken, message: "still here" });
    assert.equal(reply.status, 200);
    assert.equal((await alive.next()).data.pushMessage.message, "still here");
    assert.equal(
      (await scrape(server.subscriberNode.httpUrl)).get("pushserver_dropped_messages_total"),
      0,
    );
  },
);
