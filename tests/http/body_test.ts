import assert from "node:assert/strict";
import { PushError } from "../../src/errors.ts";
import { BodyReader } from "../../src/http/body.ts";

const encoder = new TextEncoder();

/** A body stream that yields `chunks`, then either ends or (with `stall`) never does. */
function body(chunks: string[], options: { stall?: boolean; onCancel?: () => void } = {}) {
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls++;
      const next = chunks.shift();
      if (next !== undefined) controller.enqueue(encoder.encode(next));
      else if (!options.stall) controller.close();
      else return new Promise(() => {}); // never settles: a client that stopped sending
    },
    cancel() {
      options.onCancel?.();
    },
  }, { highWaterMark: 0 }); // pulled only when read, so `pulls` counts reads
  return { stream, pulls: () => pulls };
}

function post(stream: ReadableStream<Uint8Array>, contentLength?: number): Request {
  const headers: Record<string, string> = {};
  if (contentLength !== undefined) headers["content-length"] = String(contentLength);
  // Request would compute no length for a stream; the header is the client's declaration.
  const request = new Request("http://x/push", { method: "POST", body: stream, headers });
  return request;
}

function reader(overrides: Partial<ConstructorParameters<typeof BodyReader>[0]> = {}) {
  return new BodyReader({
    maxBodyBytes: 100,
    maxBodyBytesInFlight: 250,
    requestTimeoutS: 5,
    ...overrides,
  });
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<PushError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PushError, String(error));
    assert.equal(error.code, code);
    return error;
  }
  assert.fail(`expected ${code}`);
}

Deno.test("BodyReader.read() joins a body that arrives in pieces", async () => {
  const bodies = reader();
  assert.equal(await bodies.read(post(body(['{"a":', "1}"]).stream, 7)), '{"a":1}');
  assert.equal(await bodies.read(post(body(["chunked ", "body"]).stream)), "chunked body");
  assert.equal(bodies.reservedBytes, 0);
  bodies.close();
});

Deno.test("BodyReader.read() refuses a declared length over the limit before reading a byte", async () => {
  const source = body(["x"]);
  const bodies = reader();
  const error = await rejectsWith(bodies.read(post(source.stream, 101)), "payload_too_large");
  bodies.close();
  assert.equal(error.details, "body is 101 bytes; the limit is 100");
  assert.equal(source.pulls(), 0);
});

Deno.test("BodyReader.read() stops reading once a body without a length passes the limit", async () => {
  const source = body(["x".repeat(60), "x".repeat(60), "x".repeat(60)]);
  const bodies = reader();
  await rejectsWith(bodies.read(post(source.stream)), "payload_too_large");
  bodies.close();
  assert.ok(source.pulls() <= 3, `${source.pulls()} pulls`);
});

Deno.test("BodyReader.read() answers 503 at once when the declared lengths in flight would pass the budget", async () => {
  const bodies = reader({ requestTimeoutS: 0.2 });
  const first = body(["x"], { stall: true });
  const second = body(["x"], { stall: true });
  const reading = [
    bodies.read(post(first.stream, 100)),
    bodies.read(post(second.stream, 100)),
  ];
  assert.equal(bodies.reservedBytes, 200);
  // 200 + 51 > 250: refused without a pull.
  const third = body(["x"]);
  const error = await rejectsWith(bodies.read(post(third.stream, 51)), "unavailable");
  assert.match(error.details!, /MAX_BODY_BYTES_IN_FLIGHT is 250 bytes/);
  assert.equal(third.pulls(), 0);
  // A body without a length counts as the whole limit (100): 300 > 250.
  await rejectsWith(bodies.read(post(body(["x"]).stream)), "unavailable");
  // 50 still fits.
  assert.equal(await bodies.read(post(body(["y".repeat(50)]).stream, 50)), "y".repeat(50));
  // Errors free the budget too: the stalled reads end with 408.
  for (const outcome of await Promise.allSettled(reading)) {
    assert.equal(outcome.status, "rejected");
  }
  assert.equal(bodies.reservedBytes, 0);
  bodies.close();
});

Deno.test("BodyReader.read() gives up on a stalled body with 408 after the deadline and frees its budget", async (t) => {
  const bodies = reader({ requestTimeoutS: 0.05 });
  for (
    const [kind, length] of [["declared (read whole)", 100], [
      "chunked (streamed)",
      undefined,
    ]] as const
  ) {
    await t.step(kind, async () => {
      const request = post(body(["{"], { stall: true }).stream, length);
      const started = performance.now();
      const error = await rejectsWith(bodies.read(request), "request_timeout");
      assert.ok(performance.now() - started >= 45);
      assert.equal(error.details, "The request body did not arrive within 0.05 s");
      assert.equal(bodies.reservedBytes, 0);
    });
  }
  bodies.close();
});

Deno.test("BodyReader: a streamed body that timed out is cancelled only after the response (finish(), then close())", async () => {
  const bodies = reader({ requestTimeoutS: 0.05 });
  let cancelled = false;
  const request = post(body(["{"], { stall: true, onCancel: () => cancelled = true }).stream);
  await rejectsWith(bodies.read(request), "request_timeout");
  assert.equal(cancelled, false);
  bodies.finish(request);
  assert.equal(cancelled, false);
  bodies.close();
  await Promise.resolve();
  assert.equal(cancelled, true);
});

Deno.test("BodyReader.read() rejects a body that is not UTF-8 with 400", async () => {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array([0x7b, 0xff, 0x7d]));
      controller.close();
    },
  });
  const bodies = reader();
  await rejectsWith(bodies.read(post(stream, 3)), "bad_json");
  bodies.close();
});

Deno.test("BodyReader.finish() closes a body nobody read; a body read to the end is left alone", async () => {
  const bodies = reader();
  let unreadCancelled = false;
  const unread = post(body(["x"], { stall: true, onCancel: () => unreadCancelled = true }).stream);
  bodies.finish(unread);
  let readCancelled = false;
  const read = post(body(["ok"], { onCancel: () => readCancelled = true }).stream, 2);
  assert.equal(await bodies.read(read), "ok");
  bodies.finish(read);
  bodies.finish(new Request("http://x/healthz"));
  bodies.close();
  await Promise.resolve();
  assert.equal(unreadCancelled, true);
  assert.equal(readCancelled, false);
});

Deno.test("BodyReader: when the budget is full, the source holding the most gives up its oldest unfinished body (408) so another source is admitted", async () => {
  const bodies = reader({ maxBodyBytesInFlight: 300, requestTimeoutS: 0.2 });
  // One source fills the budget with three stalled bodies, oldest first.
  const stalled = [0, 1, 2].map(() =>
    bodies.read(post(body(["{"], { stall: true }).stream, 100), "10.0.0.1")
  );
  assert.equal(bodies.reservedBytes, 300);
  // Same source: it already holds the most, so its own newcomer is refused (503).
  await rejectsWith(bodies.read(post(body(["x"]).stream, 50), "10.0.0.1"), "unavailable");
  // Another source: the fair share is 300 / 2 = 150 and 10.0.0.1 holds 300: its oldest body goes.
  const started = performance.now();
  assert.equal(
    await bodies.read(post(body(["y".repeat(50)]).stream, 50), "10.0.0.2"),
    "y".repeat(50),
  );
  const oldest = await rejectsWith(stalled[0]!, "request_timeout");
  assert.ok(performance.now() - started < 150, "given up at once, not at the deadline");
  assert.match(oldest.details!, /^The request body was given up: .*MAX_BODY_BYTES_IN_FLIGHT/);
  assert.equal(bodies.reservedBytes, 200, "the two newer stalled bodies still hold their place");
  // They end at the deadline.
  for (const read of stalled.slice(1)) {
    const error = await rejectsWith(read, "request_timeout");
    assert.equal(error.details, "The request body did not arrive within 0.2 s");
  }
  assert.equal(bodies.reservedBytes, 0);
  bodies.close();
});

Deno.test("BodyReader: a source holding no more than its fair share is never evicted; nothing is evicted when evicting cannot make room", async () => {
  const bodies = reader({ maxBodyBytes: 200, maxBodyBytesInFlight: 300, requestTimeoutS: 0.2 });
  const stalled = () => body(["{"], { stall: true }).stream;
  const a = bodies.read(post(stalled(), 100), "10.0.0.1");
  const b = [0, 1].map(() => bodies.read(post(stalled(), 100), "10.0.0.2"));
  // Full. 10.0.0.2 holds 200, over the fair share of two sources (150): it gives up b[0].
  assert.equal(
    await bodies.read(post(body(["x".repeat(100)]).stream, 100), "10.0.0.1"),
    "x".repeat(100),
  );
  await rejectsWith(b[0]!, "request_timeout");
  const c = bodies.read(post(stalled(), 100), "10.0.0.1");
  // Full again: 10.0.0.1 holds 200 (a, c), 10.0.0.2 holds 100. A third source's fair share is
  // 100: only 10.0.0.1 is over it, and it gives up its oldest (a).
  assert.equal(
    await bodies.read(post(body(["y".repeat(100)]).stream, 100), "10.0.0.3"),
    "y".repeat(100),
  );
  await rejectsWith(a, "request_timeout");
  // 10.0.0.1 holds 100 (c), 10.0.0.2 holds 100 (b[1]): neither is over its share (150 for two
  // sources, 100 for three), so 150 more bytes are refused and nobody is evicted.
  await rejectsWith(bodies.read(post(body(["z"]).stream, 150), "10.0.0.2"), "unavailable");
  await rejectsWith(bodies.read(post(body(["z"]).stream, 150), "10.0.0.3"), "unavailable");
  assert.equal(bodies.reservedBytes, 200);
  for (const read of [c, b[1]!]) {
    const error = await rejectsWith(read, "request_timeout");
    assert.equal(error.details, "The request body did not arrive within 0.2 s");
  }
  bodies.close();
});
