/**
 * closeRedis() leaves nothing running, whatever state the connection is in (issue 19: a bare
 * ioredis `disconnect()` left a `disconnectTimeout` timer behind, which the sanitizers of these
 * tests would report as a leak).
 */
import assert from "node:assert/strict";
import { ConfigError } from "../../src/config.ts";
import { closeRedis, openRedis } from "../../src/cluster/redis.ts";
import { freePort } from "../client/_support.ts";
import { eventually, RedisServer } from "./_redis.ts";

Deno.test("[cluster] closeRedis() on a ready connection resolves once it has ended", async () => {
  await using server = await RedisServer.start();
  const redis = await openRedis(server.url, "test");
  assert.equal(await redis.ping(), "PONG");
  await closeRedis(redis);
  assert.equal(redis.status, "end");
  await closeRedis(redis); // a second close is a no-op
});

Deno.test("[cluster] closeRedis() on a connection waiting to reconnect stops it, no timer left", async () => {
  await using server = await RedisServer.start();
  const redis = await openRedis(server.url, "test");
  await server.stop();
  await eventually(
    5000,
    "the connection waits to reconnect",
    () => redis.status === "reconnecting",
  );
  await closeRedis(redis);
  assert.notEqual(redis.status, "ready");
  assert.notEqual(redis.status, "connecting");
});

Deno.test("[cluster] openRedis() to a closed port is a ConfigError naming REDIS_URL, no timer left", async () => {
  await assert.rejects(
    () => openRedis(`redis://127.0.0.1:${freePort()}`, "test"),
    (error: unknown) =>
      error instanceof ConfigError && /^REDIS_URL: cannot connect/.test(error.message),
  );
});
