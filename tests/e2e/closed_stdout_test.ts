/**
 * PROTOCOL.md v1.2 "Logging never fails a request" (issue 18, finding 10): with its stdout closed
 * the server still answers every request, and counts the log lines it could not write.
 */
import assert from "node:assert/strict";
import { action } from "../_helpers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

Deno.test({
  name:
    "[e2e] a server whose stdout pipe was closed answers /healthz, create and push 200, and counts dropped log lines in /metrics",
  ignore: Deno.build.os === "windows",
  async fn() {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN],
      env: {
        HOST: "127.0.0.1",
        PORT_WS: "0",
        PORT_HTTP: "0",
        DB_PATH: ":memory:",
        BCRYPT_COST: "4",
        LOG_LEVEL: "info", // a line per request: every answer writes to the closed pipe
      },
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    try {
      const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      let match: RegExpExecArray | null = null;
      while (match === null) {
        const { value, done } = await lines.read();
        assert.ok(!done, "the server printed its listening line");
        text += value;
        match = /http=[\d.]+:(\d+)/.exec(text);
      }
      // Closing our end of the pipe: every later write of the server fails (EPIPE).
      await lines.cancel();
      const url = `http://127.0.0.1:${match[1]}`;
      const call = async (path: string, body?: unknown) => {
        const response = await fetch(`${url}${path}`, {
          method: body === undefined ? "GET" : "POST",
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return { status: response.status, text: await response.text() };
      };
      assert.equal((await call("/healthz")).status, 200);
      // Before the fix this create answered 500 although the channel had been created.
      const created = await call("/channel/create", action("CREATE_CHANNEL", { channel: "news" }));
      assert.equal(created.status, 200, created.text);
      const token = JSON.parse(created.text).data.channelToken;
      const pushed = await call(
        "/push",
        action("PUSH_MESSAGE", {
          channel: "news",
          channelToken: token,
          recipients: [],
          message: "m",
        }),
      );
      assert.equal(pushed.status, 200, pushed.text);
      const metrics = await call("/metrics");
      assert.equal(metrics.status, 200);
      const dropped = /^pushserver_log_lines_dropped_total (\d+)$/m.exec(metrics.text);
      assert.ok(dropped !== null, "the counter is exposed");
      // At least the request lines of /healthz, create and push, and the "channel created" line.
      assert.ok(Number(dropped[1]) >= 4, metrics.text);
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }
  },
});
