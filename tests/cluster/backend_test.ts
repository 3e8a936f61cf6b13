/**
 * The cluster backend when Redis refuses writes (out of memory, as a disk fills): store write
 * errors answer 503 like a single node's full disk, /readyz answers 503 while they fail, and
 * both recover on their own (PROTOCOL.md "Hardening (v1.2)").
 */
import assert from "node:assert/strict";
import { action, createChannel, post, push, readJson, startTestServer } from "../_helpers.ts";
import { eventually, RedisServer } from "./_redis.ts";

Deno.test("[cluster] Redis out of memory: writes answer 503 (never 500), /readyz 503, then recover", async () => {
  await using redis = await RedisServer.start();
  await using server = await startTestServer({ REDIS_URL: redis.url });
  const ready = async () => (await fetch(`${server.httpUrl}/readyz`).then(readJson)).status;
  const token = await createChannel(server, "plain");
  assert.equal(await ready(), 200);

  await redis.call("CONFIG", "SET", "maxmemory-policy", "noeviction");
  await redis.call("CONFIG", "SET", "maxmemory", "1");
  const refusals = [
    await post(`${server.httpUrl}/channel/create`, action("CREATE_CHANNEL", { channel: "new" })),
    await post(
      `${server.httpUrl}/channel/rotate`,
      action("ROTATE_TOKEN", { channel: "plain", channelToken: token }),
    ),
  ];
  for (const reply of refusals) {
    assert.equal(reply.status, 503, JSON.stringify(reply.body));
    assert.equal(reply.body.message, "Service Unavailable");
  }
  // The heartbeat is a write too: the node reports itself unready within a tick or two.
  await eventually(
    3000,
    "/readyz 503 while Redis refuses writes",
    async () => (await ready()) === 503,
  );

  await redis.call("CONFIG", "SET", "maxmemory", "0");
  await eventually(3000, "/readyz 200 once writes work", async () => (await ready()) === 200);
  assert.equal(
    (await push(server, { channel: "plain", channelToken: token, message: "m" })).status,
    200,
  );
  assert.ok((await createChannel(server, "new")).length > 0);
});
