import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import { EXIT, runCli } from "../src/cli/main.ts";
import { startTestServer, TestClient } from "./_helpers.ts";
import { createWith } from "./e2e/_v11.ts";

const JWT_SECRET = "cli-secret-of-at-least-32-bytes-long!!";

async function cli(args: string[], env: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    env,
    stdin: () => Promise.resolve(""),
  });
  return { code, stdout, stderr };
}

Deno.test("[e2e] CLI token: a minted token subscribes to a private channel", async () => {
  await using server = await startTestServer({ JWT_SECRET });
  await createWith(server, "vip:1", { private: true });
  const minted = await cli(["token", "vip:*", "--ttl", "120"], { JWT_SECRET });
  assert.equal(minted.code, EXIT.ok, minted.stderr);
  const token = minted.stdout.trim();
  const claims = decodeJwt(token);
  assert.deepEqual(claims.channels, ["vip:*"]);
  assert.equal(claims.exp! - claims.iat!, 120);
  await using client = await TestClient.connect(server.wsUrl);
  const ack = await client.act("SUBSCRIBE", "vip:1", {});
  assert.equal(ack.code, 403);
  client.sendRaw(JSON.stringify({
    messageType: "CLIENT_ACTION",
    action: "SUBSCRIBE",
    data: { channel: "vip:1", token },
  }));
  assert.equal((await client.next()).message, "Subscribed");
});

Deno.test("CLI token: usage errors", async () => {
  assert.equal((await cli(["token", "a"], { JWT_SECRET })).code, EXIT.usage);
  assert.equal((await cli(["token", "a", "--ttl", "0"], { JWT_SECRET })).code, EXIT.usage);
  const noSecret = await cli(["token", "a", "--ttl", "5"]);
  assert.equal(noSecret.code, EXIT.usage);
  assert.match(noSecret.stderr, /JWT_SECRET/);
  assert.equal((await cli(["push", "a", "b", "--ttl", "5"])).code, EXIT.usage);
  const json = await cli(["token", "a", "b", "--ttl", "5", "--audience", "push", "--json"], {
    JWT_SECRET,
  });
  assert.equal(json.code, EXIT.ok);
  const parsed = JSON.parse(json.stdout);
  assert.deepEqual(parsed.channels, ["a", "b"]);
  assert.equal(decodeJwt(parsed.token).aud, "push");
});
