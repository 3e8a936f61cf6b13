/** Persistence across restarts and token secrecy on disk, with a real SQLite file. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { e2e } from "./_backends.ts";
import { action, createChannel, post, push, startTestServer, TestClient } from "../_helpers.ts";

e2e("a restart keeps channels and tokens; subscriptions start empty", async (_t, backend) => {
  const dir = await Deno.makeTempDir({ prefix: "pushserver-restart-" });
  const env = { DB_PATH: join(dir, "nested", "folder", "pushserver.db") };
  try {
    // Single mode restarts on the same SQLite file; cluster mode starts new nodes on the same Redis.
    await using server = await backend.start(env);
    let token: string;
    let deletedToken: string;
    {
      const first = server;
      token = await createChannel(first, "survivor");
      deletedToken = await createChannel(first, "doomed");
      await createChannel(first, "unicode ✓");
      const reply = await post(
        `${first.httpUrl}/channel/delete`,
        action("DELETE_CHANNEL", { channel: "doomed", channelToken: deletedToken }),
      );
      assert.equal(reply.status, 200);
    }
    await server.restart();
    const second = server;
    const ping = await post(
      `${second.httpUrl}/channel/ping`,
      action("PING_CHANNEL", { channel: "survivor", channelToken: token }),
    );
    assert.equal(ping.status, 200, "the token still works after a restart");
    const unicode = await post(
      `${second.httpUrl}/channel/ping`,
      action("PING_CHANNEL", { channel: "unicode ✓", channelToken: null }),
    );
    assert.equal(unicode.status, 200);
    const doomed = await post(
      `${second.httpUrl}/channel/ping`,
      action("PING_CHANNEL", { channel: "doomed", channelToken: null }),
    );
    assert.equal(doomed.status, 404, "a deleted channel stays deleted");
    const conflict = await post(
      `${second.httpUrl}/channel/create`,
      action("CREATE_CHANNEL", { channel: "survivor" }),
    );
    assert.equal(conflict.status, 409);
    await using client = await TestClient.connect(second.wsUrl);
    assert.equal((await client.act("SUBSCRIBE", "survivor")).message, "Subscribed");
    assert.equal(
      (await push(second, { channel: "survivor", channelToken: token, message: "m" })).status,
      200,
    );
    assert.equal((await client.next()).data.pushMessage.message, "m");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// Single node only: it scans the SQLite files themselves.
Deno.test("[e2e][single] no plaintext token is ever written to the database files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pushserver-scan-" });
  const dbPath = join(dir, "pushserver.db");
  try {
    const tokens: string[] = [];
    {
      await using server = await startTestServer({ DB_PATH: dbPath });
      for (let i = 0; i < 20; i++) tokens.push(await createChannel(server, `channel-${i}`));
      // Exercise the verify path too, so a cached digest would show up if it were persisted.
      for (const [i, token] of tokens.entries()) {
        await push(server, { channel: `channel-${i}`, channelToken: token, message: "m" });
      }
      await scan(dir, tokens);
    }
    await scan(dir, tokens);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function scan(dir: string, tokens: string[]): Promise<void> {
  let files = 0;
  let hashes = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile) continue;
    files++;
    const bytes = await Deno.readFile(join(dir, entry.name));
    const text = new TextDecoder("latin1").decode(bytes);
    for (const token of tokens) {
      assert.ok(!text.includes(token), `${entry.name} contains a plaintext token`);
    }
    hashes += text.match(/\$2[aby]\$04\$/g)?.length ?? 0;
  }
  assert.ok(files >= 1);
  // The hashes live in the main file or, before a checkpoint, in the WAL.
  assert.ok(hashes >= tokens.length, "bcrypt hashes are what is stored");
}
