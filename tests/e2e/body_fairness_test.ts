/**
 * PROTOCOL.md v1.2 "Body budget shared fairly" (issue 18, finding 3: 64 slow 1 MiB bodies from
 * one address made 89 of 90 pushes from another address answer 503). Sources are told apart
 * through TRUSTED_PROXIES + X-Forwarded-For, which is also what this checks of that setting.
 */
import assert from "node:assert/strict";
import { action, createChannel, startTestServer } from "../_helpers.ts";
import { waitForInFlight } from "./_ops.ts";

const KiB = 1024;
const encoder = new TextEncoder();

/** Sends a request head declaring `length` bytes and one body byte, then nothing more. */
async function slowBody(port: number, forwardedFor: string, length: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(
    `POST /push HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: ${forwardedFor}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n{`,
  ));
  return conn;
}

/** The first response on `conn`, whole enough to hold its status line and short JSON body. */
async function response(conn: Deno.TcpConn): Promise<string> {
  const buffer = new Uint8Array(4096);
  const n = await conn.read(buffer).catch(() => null);
  return n === null ? "" : new TextDecoder().decode(buffer.subarray(0, n));
}

Deno.test("[e2e] 16 slow 64 KiB bodies from one address fill MAX_BODY_BYTES_IN_FLIGHT (1 MiB): another address's 10 pushes all get 200, the slow address's next body 503 with Retry-After", async () => {
  // The smallest budget (1 MiB) and 16 bodies of 64 KiB fill it; before the fix every push of
  // the other address got 503 until the slow bodies timed out.
  await using server = await startTestServer({
    MAX_BODY_BYTES: String(64 * KiB),
    MAX_BODY_BYTES_IN_FLIGHT: String(1024 * KiB),
    TRUSTED_PROXIES: "127.0.0.1",
    REQUEST_TIMEOUT_S: "60",
  });
  const token = await createChannel(server, "news");
  const slow = [];
  for (let i = 0; i < 16; i++) slow.push(await slowBody(server.httpPort, "198.51.100.1", 64 * KiB));
  await waitForInFlight(server.httpUrl, 16);
  try {
    // The slow address itself holds the whole budget: its next body is refused at once.
    const own = await fetch(`${server.httpUrl}/push`, {
      method: "POST",
      headers: { "x-forwarded-for": "198.51.100.1" },
      body: "{}",
    });
    assert.equal(own.status, 503);
    assert.match(own.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
    await own.body?.cancel();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const response = await fetch(`${server.httpUrl}/push`, {
        method: "POST",
        headers: { "x-forwarded-for": "203.0.113.7" },
        body: JSON.stringify(action("PUSH_MESSAGE", {
          channel: "news",
          channelToken: token,
          recipients: [],
          message: `m${i}`,
        })),
      });
      statuses.push(response.status);
      await response.body?.cancel();
    }
    assert.deepEqual(statuses, Array(10).fill(200));
    // The first push made room by giving up the slow address's oldest body (the oldest as the
    // server admitted them), answered 408 at once; that room then served all ten pushes. The
    // other 15 were kept: sent in full now, they are read (and, not being JSON, answered 400).
    const rest = encoder.encode("x".repeat(64 * KiB - 1));
    await Promise.all(slow.map((conn) => conn.write(rest).catch(() => 0)));
    const answers = await Promise.all(slow.map(response));
    const givenUp = answers.filter((a) =>
      /^HTTP\/1\.1 408 /.test(a) && a.includes("The request body was given up")
    );
    const read = answers.filter((a) => /^HTTP\/1\.1 400 /.test(a));
    const shown = JSON.stringify(answers.map((a) => a.slice(0, 12)));
    assert.equal(givenUp.length, 1, shown);
    assert.equal(read.length, 15, shown);
  } finally {
    for (const conn of slow) conn.close();
  }
});
