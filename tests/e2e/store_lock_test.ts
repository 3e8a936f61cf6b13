/** A SQLite file locked by another process (issue 12, item 9; PROTOCOL.md "Store unavailable"). */
import assert from "node:assert/strict";
import { join } from "node:path";
import { action, post, readJson, startTestServer } from "../_helpers.ts";

const LOCKER = new URL("./_sqlite_locker.ts", import.meta.url).pathname;

// Another process locks the SQLite file (single only: there is no file in cluster mode).
Deno.test("[e2e][single] while another process holds BEGIN EXCLUSIVE: creates get 503 within 1 s, /healthz stays under 200 ms; once released, creates work", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pushserver-lock-" });
  const dbPath = join(dir, "p.db");
  try {
    await using server = await startTestServer({ DB_PATH: dbPath });
    const locker = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", LOCKER, dbPath],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const lines = locker.stdout.pipeThrough(new TextDecoderStream()).values();
    assert.equal((await lines.next()).value?.trim(), "locked");

    const create = (channel: string) =>
      post(`${server.httpUrl}/channel/create`, action("CREATE_CHANNEL", { channel }));
    // Five creates at once (each would have blocked the event loop for 5 s before), and /healthz
    // asked every 20 ms meanwhile: it is answered between the creates' short busy waits.
    const started = performance.now();
    let creating = true;
    const creates = Promise.all(["a", "b", "c", "d", "e"].map(async (channel) => {
      const reply = await create(channel);
      return { reply, ms: performance.now() - started };
    })).finally(() => creating = false);
    const health: number[] = [];
    while (creating) {
      const asked = performance.now();
      const reply = await readJson(await fetch(`${server.httpUrl}/healthz`));
      assert.equal(reply.status, 200);
      health.push(performance.now() - asked);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const { reply, ms } of await creates) {
      assert.equal(reply.status, 503);
      assert.equal(reply.body.message, "Service Unavailable");
      assert.equal(
        reply.body.data.errorDetails,
        "The channel store is locked by another process; retry shortly",
      );
      assert.ok(ms < 1000, `a create answered after ${Math.round(ms)} ms`);
    }
    assert.ok(health.length >= 5, `${health.length} health checks`);
    const slowest = Math.max(...health);
    assert.ok(slowest < 200, `/healthz took up to ${Math.round(slowest)} ms`);

    await locker.stdin.close();
    assert.equal((await lines.next()).value?.trim(), "released");
    await lines.return?.();
    assert.equal((await locker.status).code, 0);
    const after = await create("a");
    assert.equal(after.status, 200);
    assert.equal(after.body.message, "Created");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
