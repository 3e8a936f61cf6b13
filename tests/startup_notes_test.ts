import assert from "node:assert/strict";
import { join } from "node:path";
import type { LogFields, Logger } from "../src/log.ts";
import {
  announceListening,
  isLoopback,
  listeningLine,
  openDefaultWarnings,
  type StartupConfig,
} from "../src/startup_notes.ts";
import { VERSION } from "../src/version.ts";
import { PROTOCOL_VERSION } from "../src/protocol/document.ts";
import { startTestServer } from "./_helpers.ts";
import { ServerProcess } from "./e2e/_process.ts";

const ROOT = new URL("..", import.meta.url).pathname;

const open: StartupConfig = {
  host: "0.0.0.0",
  redisUrl: undefined,
  createToken: undefined,
  wsOrigins: [],
};

/** A logger that keeps every line with its level. */
function capture(): {
  logger: Logger;
  lines: { level: string; msg: string; fields?: LogFields }[];
} {
  const lines: { level: string; msg: string; fields?: LogFields }[] = [];
  const keep = (level: string) => (msg: string, fields?: LogFields) =>
    lines.push({ level, msg, ...(fields ? { fields } : {}) });
  return {
    lines,
    logger: {
      announce: keep("announce"),
      debug: keep("debug"),
      info: keep("info"),
      warn: keep("warn"),
      error: keep("error"),
    },
  };
}

Deno.test("listeningLine() names the mode, and in cluster mode Redis's host:port without the password", () => {
  const ports = { wsPort: 5222, httpPort: 5223 };
  assert.equal(
    listeningLine(open, ports),
    "pushserver listening ws=0.0.0.0:5222 http=0.0.0.0:5223 mode=single",
  );
  const cluster = { ...open, redisUrl: "redis://user:s3cret@redis.internal:6380/2" };
  const line = listeningLine(cluster, ports);
  assert.equal(
    line,
    "pushserver listening ws=0.0.0.0:5222 http=0.0.0.0:5223 mode=cluster redis=redis.internal:6380",
  );
  assert.doesNotMatch(line, /s3cret|user/);
  assert.match(listeningLine({ ...open, redisUrl: "rediss://r" }, ports), / redis=r:6379$/);
});

Deno.test("openDefaultWarnings() gives one line per open default, only beyond loopback", () => {
  const warnings = openDefaultWarnings(open);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /^CREATE_TOKEN is unset and HOST=0\.0\.0\.0: anyone/);
  assert.match(warnings[1]!, /^WS_ORIGINS is unset: a page on any web site/);
  assert.deepEqual(openDefaultWarnings({ ...open, createToken: "x".repeat(16) }).length, 1);
  assert.deepEqual(openDefaultWarnings({ ...open, wsOrigins: ["https://app.example"] }).length, 1);
  for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) {
    assert.ok(isLoopback(host), host);
    assert.deepEqual(openDefaultWarnings({ ...open, host }), [], host);
  }
  for (const host of ["0.0.0.0", "::", "192.168.1.10", "example.org"]) assert.ok(!isLoopback(host));
});

Deno.test("announceListening() writes the line with the version, then each warning at warn level", () => {
  const { logger, lines } = capture();
  announceListening(logger, open, { wsPort: 1, httpPort: 2, fields: { channels: 0 } });
  assert.deepEqual(lines.map((l) => l.level), ["announce", "warn", "warn"]);
  assert.deepEqual(lines[0]!.fields, { version: VERSION, channels: 0 });
});

Deno.test("the software version comes from deno.json", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  assert.equal(VERSION, config.version);
  assert.match(VERSION, /^\d+\.\d+\.\d+$/);
});

Deno.test("[e2e] /docs shows the software and protocol versions; /healthz keeps its v1 body", async () => {
  await using server = await startTestServer();
  const page = await (await fetch(`${server.httpUrl}/docs`)).text();
  assert.ok(
    page.includes(`pushserver ${VERSION} · protocol ${PROTOCOL_VERSION}`),
    "the page names both versions",
  );
  const health = await fetch(`${server.httpUrl}/healthz`);
  assert.equal(await health.text(), '{"status":"ok"}');
});

Deno.test("[e2e] `deno task start` names the mode and version, and knows the open-file limit", async () => {
  // Deno lets a process read /proc/self/limits only with --allow-all; the task passes the
  // shell's `ulimit -n` instead, so the connection caps apply under `deno task start` too.
  const limit = new TextDecoder().decode(
    (await new Deno.Command("sh", { args: ["-c", "ulimit -n"], stdout: "piped" }).output()).stdout,
  ).trim();
  await using server = await ServerProcess.spawn({ NO_COLOR: "1" }, [
    Deno.execPath(),
    "task",
    "--quiet",
    "--config",
    join(ROOT, "deno.json"),
    "start",
  ]);
  const line = server.lines.find((l) => String(l.msg).startsWith("pushserver listening"));
  assert.match(
    line?.msg,
    /^pushserver listening ws=127\.0\.0\.1:\d+ http=127\.0\.0\.1:\d+ mode=single$/,
  );
  assert.equal(line?.version, VERSION);
  assert.equal(line?.openFileLimit, /^\d+$/.test(limit) ? Number(limit) : null);
  // HOST=127.0.0.1 (ServerProcess's default): no open-default warnings.
  assert.deepEqual(server.lines.filter((l) => l.level === "warn"), []);
  server.kill("SIGTERM");
  assert.equal((await server.exit()).code, 0);
});
