/**
 * `deno compile` needs Deno's runtime base (denort), which it downloads; this machine has no
 * internet, so the test runs only when DENORT_BIN points at a local denort binary and is reported
 * as ignored (never as passed) otherwise.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const denort = Deno.env.get("DENORT_BIN");
const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test({
  name: "[e2e] the compiled binary serves both ports and hashes tokens (needs DENORT_BIN)",
  ignore: denort === undefined || denort === "",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pushserver-compile-" });
    try {
      const binary = join(dir, "pushserver");
      const compiled = await new Deno.Command(Deno.execPath(), {
        args: [
          "compile",
          "--allow-net",
          "--allow-env",
          "--allow-read",
          "--allow-write",
          "--include",
          "src/channels/_bcrypt_worker.ts",
          "--output",
          binary,
          "main.ts",
        ],
        cwd: ROOT,
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.equal(compiled.code, 0, new TextDecoder().decode(compiled.stderr));
      const child = new Deno.Command(binary, {
        env: {
          HOST: "127.0.0.1",
          PORT_WS: "0",
          PORT_HTTP: "0",
          DB_PATH: join(dir, "p.db"),
          BCRYPT_COST: "4",
        },
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      let match: RegExpMatchArray | null = null;
      while (match === null) {
        const { value, done } = await reader.read();
        if (done) throw new Error("binary exited before listening");
        text += value;
        match = text.match(/http=127\.0\.0\.1:(\d+)/);
      }
      const created = await fetch(`http://127.0.0.1:${match[1]}/channel/create`, {
        method: "POST",
        body: JSON.stringify({
          messageType: "SERVER_ACTION",
          action: "CREATE_CHANNEL",
          data: { channel: "c" },
        }),
      });
      assert.equal(created.status, 200);
      assert.match((await created.json()).data.channelToken, /^[A-Za-z0-9_-]{43}$/);
      child.kill("SIGTERM");
      assert.equal((await child.status).code, 0);
      await reader.cancel();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
