/**
 * The single-node backend when its disk fails (PROTOCOL.md "Hardening (v1.2)"): every store write
 * error answers 503, /readyz answers 503 while writes fail, and both recover on their own.
 */
import assert from "node:assert/strict";
import { startLocalBackend } from "../../src/local/backend.ts";
import {
  action,
  createChannel,
  post,
  push,
  readJson,
  startTestServer,
  TestClient,
} from "../_helpers.ts";
import { FullableStore } from "./_full_store.ts";

Deno.test("[local] a full disk answers 503 (never 500) and /readyz 503 until writes work again", async () => {
  const store = new FullableStore(":memory:");
  await using server = await startTestServer({}, {
    backend: (context) => startLocalBackend(context, { open: () => store }),
  });
  const ready = async () => (await fetch(`${server.httpUrl}/readyz`).then(readJson)).status;
  const token = await createChannel(server, "plain");
  const created = await post(
    `${server.httpUrl}/channel/create`,
    action("CREATE_CHANNEL", { channel: "kept", history: { size: 10, ttlSeconds: 60 } }),
  );
  const keptToken = created.body.data.channelToken;
  await using subscriber = await TestClient.connect(server.wsUrl);
  await subscriber.act("SUBSCRIBE", "plain");
  assert.equal(await ready(), 200);

  store.full = true;
  const refusals = [
    await post(`${server.httpUrl}/channel/create`, action("CREATE_CHANNEL", { channel: "new" })),
    await push(server, { channel: "kept", channelToken: keptToken, message: "stored" }),
    await post(
      `${server.httpUrl}/channel/rotate`,
      action("ROTATE_TOKEN", { channel: "plain", channelToken: token }),
    ),
    await post(
      `${server.httpUrl}/channel/delete`,
      action("DELETE_CHANNEL", { channel: "plain", channelToken: token }),
    ),
  ];
  for (const reply of refusals) {
    assert.equal(reply.status, 503, JSON.stringify(reply.body));
    assert.equal(reply.body.message, "Service Unavailable");
    assert.equal(
      reply.body.data.errorDetails,
      "The channel store cannot write (disk full or I/O error); retry shortly",
    );
  }
  assert.equal(await ready(), 503, "/readyz 503 while writes fail");
  // What needs no write still works: a push that is not stored, a ping.
  const live = await push(server, { channel: "plain", channelToken: token, message: "live" });
  assert.equal(live.status, 200);
  assert.equal((await subscriber.next()).data.pushMessage.message, "live");
  assert.equal(await ready(), 503, "still failing: nothing was written");

  store.full = false;
  const deadline = Date.now() + 5000;
  while ((await ready()) !== 200) {
    assert.ok(Date.now() < deadline, "/readyz did not recover once writes worked");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const stored = await push(server, { channel: "kept", channelToken: keptToken, message: "m" });
  assert.equal(stored.status, 200);
  assert.equal(stored.body.data.offset, 1, "the refused push took no offset");
  assert.equal((await createChannel(server, "new")).length > 0, true);
});
