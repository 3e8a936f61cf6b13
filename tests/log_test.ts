import assert from "node:assert/strict";
import { announce, jsonLogger, LOG_LEVELS } from "../src/log.ts";
import { action, post, startTestServer, TestClient } from "./_helpers.ts";

Deno.test("jsonLogger() writes one JSON object per line with ts, level, msg and fields", () => {
  const lines: string[] = [];
  const logger = jsonLogger("debug", { write: (line) => lines.push(line), now: () => 0 });
  logger.info("hello", { channel: "news", count: 2 });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.endsWith("\n"));
  assert.equal(lines[0]!.indexOf("\n"), lines[0]!.length - 1, "exactly one line");
  assert.deepEqual(JSON.parse(lines[0]!), {
    ts: "1970-01-01T00:00:00.000Z",
    level: "info",
    msg: "hello",
    channel: "news",
    count: 2,
  });
});

Deno.test("jsonLogger() drops lines below its level", () => {
  for (const level of LOG_LEVELS) {
    const seen: string[] = [];
    const logger = jsonLogger(level, { write: (line) => seen.push(JSON.parse(line).level) });
    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    logger.error("e");
    assert.deepEqual(seen, LOG_LEVELS.slice(LOG_LEVELS.indexOf(level)));
  }
});

Deno.test("jsonLogger() serializes errors and keeps newlines inside one line", () => {
  const lines: string[] = [];
  const logger = jsonLogger("info", { write: (line) => lines.push(line) });
  logger.error("boom", { error: new TypeError("bad\nthing") });
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.split("\n").length, 2, "one line plus the trailing newline");
  const record = JSON.parse(lines[0]!);
  assert.equal(record.error.name, "TypeError");
  assert.equal(record.error.message, "bad\nthing");
  assert.equal(typeof record.error.stack, "string");
});

Deno.test("[e2e] logs: a request line per publisher call; never a token, never a message body", async () => {
  const lines: string[] = [];
  const logger = jsonLogger("debug", { write: (line) => lines.push(line) });
  const adminToken = "admin-token-that-must-not-leak";
  await using server = await startTestServer({ ADMIN_TOKEN: adminToken }, { logger });
  const url = server.httpUrl;
  const secretMessage = "secret-message-body-7d1f";

  const created = await post(
    `${url}/channel/create`,
    action("CREATE_CHANNEL", { channel: "news" }),
  );
  const token: string = created.body.data.channelToken;
  await using client = await TestClient.connect(server.wsUrl);
  await client.act("SUBSCRIBE", "news");
  const calls: [string, unknown, number][] = [
    [
      "/push",
      action("PUSH_MESSAGE", {
        channel: "news",
        channelToken: token,
        recipients: [],
        message: secretMessage,
      }),
      200,
    ],
    [
      "/push",
      action("PUSH_MESSAGE", {
        channel: "news",
        channelToken: `${token}x`,
        recipients: [],
        message: secretMessage,
      }),
      403,
    ],
    [
      "/push",
      `{"messageType":"SERVER_ACTION","data":{"channelToken":"${token}","message":"${secretMessage}"`,
      400,
    ],
    ["/channel/ping", action("PING_CHANNEL", { channel: "news", channelToken: token }), 200],
    ["/channel/delete", action("DELETE_CHANNEL", { channel: "news", channelToken: token }), 200],
  ];
  for (const [path, body, status] of calls) {
    assert.equal((await post(`${url}${path}`, body)).status, status);
  }
  await (await fetch(`${url}/sysadmin`, { headers: { authorization: `Bearer ${adminToken}` } }))
    .body
    ?.cancel();
  await (await fetch(`${url}/sysadmin`, { headers: { authorization: `Bearer ${adminToken}!` } }))
    .body?.cancel();
  await client.next(); // the push
  await client.next(); // Channel Deleted

  const records = lines.map((line) => JSON.parse(line));
  for (const record of records) {
    assert.equal(typeof record.ts, "string");
    assert.ok(!Number.isNaN(Date.parse(record.ts)));
    assert.ok((LOG_LEVELS as readonly string[]).includes(record.level));
    assert.equal(typeof record.msg, "string");
  }
  const requests = records.filter((r) => r.msg === "request");
  assert.deepEqual(
    requests.map((r) => [r.method, r.path, r.status]),
    [
      ["POST", "/channel/create", 200],
      ...calls.map(([path, , status]) => ["POST", path, status]),
      ["GET", "/sysadmin", 200],
      ["GET", "/sysadmin", 401],
    ],
  );
  for (const r of requests) assert.ok(typeof r.durationMs === "number" && r.durationMs >= 0);
  const everything = lines.join("");
  assert.ok(!everything.includes(token), "a channel token was logged");
  assert.ok(!everything.includes(token.slice(0, 20)), "part of a channel token was logged");
  assert.ok(!everything.includes(secretMessage), "a message body was logged");
  assert.ok(!everything.includes(adminToken), "the admin token was logged");
});

Deno.test("announce() writes lifecycle lines at every level, as info", () => {
  const lines: string[] = [];
  const logger = jsonLogger("error", { write: (line) => lines.push(line), now: () => 0 });
  announce(logger, "pushserver listening ws=a:1 http=a:2", { channels: 3 });
  logger.info("not this one");
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]!), {
    ts: "1970-01-01T00:00:00.000Z",
    level: "info",
    msg: "pushserver listening ws=a:1 http=a:2",
    channels: 3,
  });
  const calls: string[] = [];
  announce({ debug() {}, info: (msg) => calls.push(msg), warn() {}, error() {} }, "fallback");
  assert.deepEqual(calls, ["fallback"], "loggers without announce() fall back to info");
});

Deno.test("jsonLogger() never throws: a line that cannot be written or built is dropped and counted", () => {
  let failing = true;
  const written: string[] = [];
  const logger = jsonLogger("info", {
    write: (line) => {
      if (failing) throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
      written.push(line);
    },
  });
  assert.equal(logger.droppedLines?.(), 0);
  logger.info("a");
  logger.error("b", { error: new Error("x") });
  announce(logger, "c");
  assert.equal(logger.droppedLines?.(), 3);
  failing = false;
  // A field JSON cannot serialize (a BigInt) is dropped too, not thrown at the caller.
  logger.info("d", { big: 1n });
  assert.equal(logger.droppedLines?.(), 4);
  logger.info("e");
  assert.equal(written.length, 1);
  assert.equal(JSON.parse(written[0]!).msg, "e");
});
