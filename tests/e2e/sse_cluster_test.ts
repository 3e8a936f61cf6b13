/**
 * SSE behind a load balancer (issue 22): a stream lives on one node, its `POST /sse/command`
 * may reach any node. Node B holds the stream; commands go to node A (the same node in single
 * mode, where these are the ordinary SSE rules).
 */
import assert from "node:assert/strict";
import { sha256 } from "@noble/hashes/sha2";
import { clientFrame, type TestServer } from "../_helpers.ts";
import { eventually } from "../cluster/_redis.ts";
import { e2e } from "./_backends.ts";
import { sseBase, SseClient } from "./_sse_client.ts";
import { broadcast, createWith, sleep } from "./_v11.ts";

/** Posts a command body to `node`'s `/sse/command`; resolves with the status and body. */
async function postTo(
  node: TestServer,
  session: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const response = await fetch(`${sseBase(node)}/sse/command`, {
    method: "POST",
    headers: { authorization: `Bearer ${session}`, "content-type": "application/json", ...headers },
    body,
  });
  return { status: response.status, text: await response.text() };
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

e2e("SSE commands may reach any node", async (t, backend) => {
  await using deployment = await backend.start();
  const a = deployment.nodes[0]!;
  const b = deployment.nodes.at(-1)!;
  const { token } = await createWith(deployment, "news");
  await createWith(deployment, "sport");

  await t.step("a stream on B, commands to A: 202, answers on the stream in order", async () => {
    await using client = await SseClient.connect(b);
    const sent = [
      clientFrame("SUBSCRIBE", "news"),
      clientFrame("SUBSCRIBE", "sport"),
      clientFrame("UNSUBSCRIBE", "news"),
      clientFrame("SUBSCRIBE", "missing"),
    ];
    for (const body of sent) assert.equal((await postTo(a, client.session, body)).status, 202);
    const acks = [];
    for (let i = 0; i < sent.length; i++) acks.push(await client.next());
    assert.deepEqual(acks.map((f) => [f.message, f.data?.subscribedChannels ?? f.code]), [
      ["Subscribed", ["news"]],
      ["Subscribed", ["news", "sport"]],
      ["Unsubscribed", ["sport"]],
      ["Not found", 404],
    ]);
  });

  await t.step("commands alternating between A and B keep their order", async () => {
    await using client = await SseClient.connect(b);
    const channels = ["news", "sport"];
    for (let i = 0; i < 10; i++) {
      const node = i % 2 === 0 ? a : b;
      const action = i % 4 < 2 ? "SUBSCRIBE" : "UNSUBSCRIBE";
      const body = clientFrame(action, channels[i % 2]);
      assert.equal((await postTo(node, client.session, body)).status, 202);
    }
    const got = [];
    for (let i = 0; i < 10; i++) got.push((await client.next()).data.subscribedChannels);
    assert.deepEqual(got, [
      ["news"],
      ["news", "sport"],
      ["sport"],
      [],
      ["news"],
      ["news", "sport"],
      ["sport"],
      [],
      ["news"],
      ["news", "sport"],
    ]);
  });

  await t.step("a push via A reaches a stream on B subscribed through A", async () => {
    await using client = await SseClient.connect(b);
    assert.equal((await postTo(a, client.session, clientFrame("SUBSCRIBE", "news"))).status, 202);
    assert.equal((await client.next()).message, "Subscribed");
    await broadcast(a, "news", token, "hello from A");
    assert.equal((await client.next()).data.pushMessage.message, "hello from A");
  });

  await t.step("an unknown session is 404 on every node, whatever the body", async () => {
    const nobody = "x".repeat(43);
    for (const node of [a, b]) {
      const valid = await postTo(node, nobody, clientFrame("SUBSCRIBE", "news"));
      assert.equal(valid.status, 404);
      assert.equal(JSON.parse(valid.text).message, "Not found");
      assert.equal((await postTo(node, nobody, "not json")).status, 404);
      const big = await postTo(node, nobody, "x".repeat(70_000));
      assert.equal(big.status, 404);
    }
  });

  await t.step(
    "a bad body for a stream on B, sent to A: 400 / 413, nothing on the stream",
    async () => {
      await using client = await SseClient.connect(b);
      const bad = await postTo(a, client.session, "not json");
      assert.equal(bad.status, 400);
      assert.equal(JSON.parse(bad.text).message, "Bad JSON");
      const big = await postTo(a, client.session, JSON.stringify({ pad: "x".repeat(70_000) }));
      assert.equal(big.status, 413);
      assert.ok(await client.receivedNothing());
    },
  );

  await t.step("after the stream ends, commands to either node are 404 within 2 s", async () => {
    const client = await SseClient.connect(b);
    const session = client.session;
    assert.equal((await postTo(a, session, clientFrame("SUBSCRIBE", "news"))).status, 202);
    assert.equal((await client.next()).message, "Subscribed");
    await client.close();
    for (const node of [a, b]) {
      await eventually(2000, "a command for a closed stream is 404", async () => {
        const answer = await postTo(node, session, clientFrame("SUBSCRIBE", "sport"));
        return answer.status === 404;
      });
    }
  });

  if (deployment.redis === undefined) return;
  const redis = deployment.redis;

  await t.step("Redis holds the session's SHA-256, never the secret", async () => {
    await using client = await SseClient.connect(b);
    const keys = (await redis.call("KEYS", "*")) as string[];
    const hash = hex(sha256(new TextEncoder().encode(client.session)));
    assert.ok(keys.some((key) => key.endsWith(`sse:${hash}`)), "the session's key");
    assert.ok(!keys.some((key) => key.includes(client.session)), "no key names the secret");
    for (const key of keys.filter((k) => k.includes("sse:"))) {
      const value = await redis.call("GET", key);
      assert.ok(!String(value).includes(client.session));
    }
  });

  await t.step("Redis restarted empty: a stream on B takes commands from A again", async () => {
    await using client = await SseClient.connect(b);
    await redis.stop();
    await redis.start();
    // Once both nodes healed, B's sessions are known again and A's forwards reach B.
    await eventually(30_000, "a command via A reaches B after the heal", async () => {
      const answer = await postTo(a, client.session, clientFrame("SUBSCRIBE", "sport"));
      if (answer.status !== 202) await sleep(200);
      return answer.status === 202;
    });
    const ack = await client.next(10_000);
    assert.equal(ack.message, "Not found", "the channel went with Redis");
  });
});
