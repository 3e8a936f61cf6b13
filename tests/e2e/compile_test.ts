/**
 * `deno compile` needs Deno's runtime base (denort), which it downloads; this machine has no
 * internet, so the test runs only when DENORT_BIN points at a local denort binary and is reported
 * as ignored (never as passed) otherwise.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ServerProcess } from "./_process.ts";

const denort = Deno.env.get("DENORT_BIN");
const ROOT = new URL("../../", import.meta.url).pathname;

// The compiled binary starts like main.ts (single only: a build check, not a backend one).
Deno.test({
  name:
    "[e2e][single] the compiled binary serves both ports, hashes tokens and embeds the client and the API docs (needs DENORT_BIN)",
  ignore: denort === undefined || denort === "",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pushserver-compile-" });
    try {
      const binary = join(dir, "pushserver");
      const compiled = await new Deno.Command(Deno.execPath(), {
        args: await compileArgs(binary),
        cwd: ROOT,
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.equal(compiled.code, 0, new TextDecoder().decode(compiled.stderr));
      await using server = await ServerProcess.spawn({ DB_PATH: join(dir, "p.db") }, [binary]);
      const created = await fetch(`${server.httpUrl}/channel/create`, {
        method: "POST",
        body: JSON.stringify({
          messageType: "SERVER_ACTION",
          action: "CREATE_CHANNEL",
          data: { channel: "c" },
        }),
      });
      assert.equal(created.status, 200);
      assert.match((await created.json()).data.channelToken, /^[A-Za-z0-9_-]{43}$/);
      for (
        const path of [
          "/js/pushserver.js",
          "/js/publisher.js",
          "/js/publisher.d.ts",
          "/openapi.json",
          "/asyncapi.json",
          "/docs",
          "/docs/swagger-ui-bundle.js",
        ]
      ) {
        const file = await fetch(`${server.httpUrl}${path}`);
        assert.equal(file.status, 200, `${path} is embedded`);
        assert.ok((await file.text()).length > 100, path);
      }
      server.kill("SIGTERM");
      assert.equal((await server.exit()).code, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** The `compile` task's own flags (so the test builds what users build), writing to `output`. */
async function compileArgs(output: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  const words: string[] = String(config.tasks.compile).split(/\s+/).slice(1); // drop "deno"
  const at = words.indexOf("--output");
  assert.ok(at > 0, "the compile task names its --output");
  words[at + 1] = output;
  return words;
}
