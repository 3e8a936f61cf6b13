/** WS_ORIGINS (PROTOCOL.md "Abuse limits (v1.1)"): which pages may open a WebSocket. */
import assert from "node:assert/strict";
import { RawWebSocket, text } from "./_raw_ws.ts";
import { e2e } from "./_backends.ts";

/** Sends an upgrade request with `origin` and reads the whole non-101 answer (status, body). */
async function refusedUpgrade(
  port: number,
  origin: string,
): Promise<{ status: number; headers: string; body: string }> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const key = btoa("0123456789abcdef");
  await conn.write(
    new TextEncoder().encode(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nOrigin: ${origin}\r\n\r\n`,
    ),
  );
  const reader = conn.readable.getReader();
  const decoder = new TextDecoder();
  let received = "";
  for (;;) {
    const end = received.indexOf("\r\n\r\n");
    const length = Number(/content-length: (\d+)/i.exec(received)?.[1] ?? NaN);
    if (end >= 0 && received.startsWith("HTTP/1.1 101")) break; // upgraded: no body follows
    if (end >= 0 && received.length >= end + 4 + length) break;
    const { done, value } = await reader.read();
    if (done) break;
    received += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  const end = received.indexOf("\r\n\r\n");
  return {
    status: Number(received.slice(9, 12)),
    headers: received.slice(0, end),
    body: received.slice(end + 4),
  };
}

/** Opens a raw WebSocket with the given headers and returns its first frame (the Connected ack). */
async function connectedAck(
  port: number,
  headers: Record<string, string>,
): Promise<Record<string, unknown>> {
  await using socket = await RawWebSocket.connect(port, { headers });
  const frame = await socket.nextFrame();
  assert.ok(frame, "the server closed instead of sending Connected");
  return JSON.parse(text(frame));
}

e2e("WS_ORIGINS: only listed origins (and non-browsers) may upgrade", async (t, backend) => {
  await using server = await backend.start({
    WS_ORIGINS: "https://app.example, http://localhost:3000",
  });

  await t.step("a foreign Origin → 403 Forbidden on the upgrade, as a JSON ERROR", async () => {
    for (const origin of ["https://evil.example", "https://app.example.evil.example", "null"]) {
      const reply = await refusedUpgrade(server.wsPort, origin);
      assert.equal(reply.status, 403, origin);
      assert.match(reply.headers, /content-type: application\/json; charset=utf-8/i);
      const body = JSON.parse(reply.body);
      assert.equal(body.messageType, "ERROR");
      assert.equal(body.code, 403);
      assert.equal(body.message, "Forbidden");
      assert.equal(typeof body.data.errorDetails, "string");
    }
  });

  await t.step("a listed Origin connects and gets Connected", async () => {
    for (const origin of ["https://app.example", "http://localhost:3000", "HTTPS://APP.EXAMPLE"]) {
      const hello = await connectedAck(server.wsPort, { Origin: origin });
      assert.equal(hello.message, "Connected", origin);
    }
  });

  await t.step("a request without Origin (not a browser) connects", async () => {
    const hello = await connectedAck(server.wsPort, {});
    assert.equal(hello.message, "Connected");
  });

  await t.step("a refused upgrade is counted as a WS 403", async () => {
    const metrics = await (await fetch(`${server.subscriberNode.httpUrl}/metrics`)).text();
    // (counted by the node whose WS port refused the upgrade)
    assert.match(metrics, /pushserver_errors_total\{transport="ws",code="403"\} 3\b/);
  });
});

e2e("WS_ORIGINS unset: any Origin may upgrade", async (_t, backend) => {
  await using server = await backend.start();
  const hello = await connectedAck(server.wsPort, { Origin: "https://anyone.example" });
  assert.equal(hello.message, "Connected");
});
