/** `migrate-to-redis`: a single node's SQLite file copied into Redis, then served by a cluster node. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runMigration } from "../src/migrate_to_redis.ts";
import { action, post, push, startTestServer, TestClient } from "./_helpers.ts";
import { RedisServer } from "./cluster/_redis.ts";

async function migrate(args: string[], env: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const code = await runMigration(args, {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    env,
  });
  return { code, stdout, stderr };
}

Deno.test("[cluster] migrate-to-redis copies every channel, token, option and history", async (t) => {
  await using redis = await RedisServer.start();
  const dir = await Deno.makeTempDir({ prefix: "migrate-" });
  const file = join(dir, "pushserver.db");
  const created: Record<string, { token: string; epoch?: string }> = {};

  // A single node with a channel of each kind, and three pushes in the history channel.
  {
    await using single = await startTestServer({ DB_PATH: file });
    for (
      const [channel, extra] of [
        ["plain", {}],
        ["secret", { private: true }],
        ["log", { history: { size: 2, ttlSeconds: 3600 } }],
      ] as const
    ) {
      const reply = await post(
        `${single.httpUrl}/channel/create`,
        action("CREATE_CHANNEL", { channel, ...extra }),
      );
      created[channel] = { token: reply.body.data.channelToken, epoch: reply.body.data.epoch };
    }
    for (const message of ["one", "two", "three"]) {
      await push(single, { channel: "log", channelToken: created.log!.token, message });
    }
  }

  await t.step("usage errors exit 2", async () => {
    assert.equal((await migrate([])).code, 2);
    assert.equal((await migrate(["--from", file])).code, 2);
  });

  await t.step("copies every channel and reports how many", async () => {
    const run = await migrate(["--from", file], { REDIS_URL: redis.url });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /copied 3 channel\(s\)/);
  });

  await using clustered = await startTestServer({ REDIS_URL: redis.url });

  await t.step("every token works on the cluster; options are kept", async () => {
    for (const [channel, { token }] of Object.entries(created)) {
      const ping = await post(
        `${clustered.httpUrl}/channel/ping`,
        action("PING_CHANNEL", { channel, channelToken: token }),
      );
      assert.equal(ping.status, 200, channel);
    }
    const secret = await post(
      `${clustered.httpUrl}/channel/ping`,
      action("PING_CHANNEL", { channel: "secret", channelToken: created.secret!.token }),
    );
    assert.equal(secret.body.data.private, true);
  });

  await t.step("history: the retained entries and the offsets carry on", async () => {
    const { token, epoch } = created.log!;
    await using client = await TestClient.connect(clustered.wsUrl);
    const ack = await client.act("SUBSCRIBE", "log", {
      data: { channel: "log", since: { offset: 1, epoch } },
    });
    assert.deepEqual(ack.data.recovery, { channel: "log", epoch, offset: 3, recovered: true });
    assert.equal((await client.next()).data.pushMessage.message, "two");
    assert.equal((await client.next()).data.pushMessage.message, "three");
    const next = await push(clustered, { channel: "log", channelToken: token, message: "four" });
    assert.equal(next.body.data.offset, 4);
    assert.equal(next.body.data.epoch, epoch);
  });

  await t.step("a second run copies nothing again", async () => {
    const run = await migrate(["--from", file, "--to", redis.url]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /copied 0 channel\(s\).*3 already there/);
  });

  await t.step("a name taken by another channel in Redis is reported, exit 1", async () => {
    await post(
      `${clustered.httpUrl}/channel/delete`,
      action("DELETE_CHANNEL", { channel: "plain", channelToken: created.plain!.token }),
    );
    await post(
      `${clustered.httpUrl}/channel/create`,
      action("CREATE_CHANNEL", { channel: "plain" }),
    );
    const run = await migrate(["--from", file, "--to", redis.url]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /"plain"/);
  });

  await t.step("a missing file exits 1", async () => {
    assert.equal((await migrate(["--from", join(dir, "nope.db"), "--to", redis.url])).code, 1);
  });

  await Deno.remove(dir, { recursive: true });
});
