/**
 * PROTOCOL.md v1.2: a message with a lone surrogate is 400, like a channel name (issue 18,
 * finding 11: it was delivered live as U+D800 and replayed as U+FFFD after a restart).
 */
import assert from "node:assert/strict";
import { action, createChannel, post, startTestServer, TestClient } from "../_helpers.ts";

Deno.test("[e2e] PUSH_MESSAGE with a lone surrogate in the message → 400, delivered to nobody; a surrogate pair is delivered intact", async () => {
  await using server = await startTestServer();
  const token = await createChannel(server, "news");
  await using client = await TestClient.connect(server.wsUrl);
  assert.equal((await client.act("SUBSCRIBE", "news")).message, "Subscribed");
  const pushOf = (message: string) =>
    post(
      `${server.httpUrl}/push`,
      action("PUSH_MESSAGE", { channel: "news", channelToken: token, recipients: [], message }),
    );
  for (const message of ["a\ud800", "\udc00", "x\udc00\ud83dy"]) {
    const reply = await pushOf(message);
    assert.equal(reply.status, 400, JSON.stringify(message));
    assert.equal(reply.body.message, "Bad Request");
    assert.equal(
      reply.body.data.errorDetails,
      "data.message: must be well-formed Unicode (no lone surrogate)",
    );
  }
  assert.ok(await client.receivedNothing(), "nothing was delivered");
  assert.equal((await pushOf("smile \ud83d\ude00")).status, 200);
  const frame = await client.next();
  assert.equal(frame.data.pushMessage.message, "smile \ud83d\ude00");
});
