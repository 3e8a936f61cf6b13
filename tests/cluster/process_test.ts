/** Cluster mode with real `main.ts` processes: start-up without Redis, and a node that dies. */
import assert from "node:assert/strict";
import { action, createChannel, post, startTestServer, TestClient } from "../_helpers.ts";
import { freePort } from "../client/_support.ts";
import { ServerProcess } from "../e2e/_process.ts";
import { eventually, RedisServer } from "./_redis.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

Deno.test("[cluster] Redis unreachable at start: one line naming REDIS_URL, exit 1", async () => {
  const port = freePort();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env: {
      PORT_WS: "0",
      PORT_HTTP: "0",
      REDIS_URL: `redis://user:s3cret-pass@127.0.0.1:${port}`,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 1);
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, /REDIS_URL/);
  assert.match(lines[0]!, new RegExp(`127\\.0\\.0\\.1:${port}`));
  assert(!stderr.includes("s3cret-pass"), "the password is never printed");
});

Deno.test("[cluster] a node that dies: its connections are unknown to authorize within 5 s", async () => {
  await using redis = await RedisServer.start();
  await using survivor = await startTestServer({ REDIS_URL: redis.url });
  const doomed = await ServerProcess.spawn({ REDIS_URL: redis.url, LOG_LEVEL: "warn" });
  try {
    const created = await post(
      `${survivor.httpUrl}/channel/create`,
      action("CREATE_CHANNEL", { channel: "vip", private: true }),
    );
    const token = created.body.data.channelToken;
    const client = await TestClient.connect(doomed.wsUrl);
    const authorize = () =>
      post(
        `${survivor.httpUrl}/channel/authorize`,
        action("AUTHORIZE_SUBSCRIBER", { channel: "vip", channelToken: token, uuid: client.uuid }),
      );
    assert.equal((await authorize()).status, 200);
    doomed.kill("SIGKILL");
    await client.closed;
    const killed = Date.now();
    await eventually(6000, "authorize answers 404", async () => (await authorize()).status === 404);
    assert(Date.now() - killed <= 5000, `unknown after ${Date.now() - killed} ms`);
  } finally {
    await doomed[Symbol.asyncDispose]();
  }
  // The survivor still serves.
  await createChannel(survivor, "after");
});

Deno.test("[cluster] `pushserver migrate-to-redis` is reachable through main.ts", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "migrate-to-redis", "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0);
  assert.match(new TextDecoder().decode(output.stdout), /--from FILE/);
  const missing = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "migrate-to-redis"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(missing.code, 2);
});
