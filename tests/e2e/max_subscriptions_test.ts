/** PROTOCOL.md v1.2 "Subscription state is bounded": `MAX_SUBSCRIPTIONS` over all connections. */
import assert from "node:assert/strict";
import { createChannel, startTestServer, TestClient } from "../_helpers.ts";

Deno.test("[e2e] MAX_SUBSCRIPTIONS=3: the fourth subscription over two connections → ERROR 429, the connection stays open", async () => {
  await using server = await startTestServer({ MAX_SUBSCRIPTIONS: "3" });
  for (const name of ["a", "b"]) await createChannel(server, name);
  await using first = await TestClient.connect(server.wsUrl);
  await using second = await TestClient.connect(server.wsUrl);
  assert.equal((await first.act("SUBSCRIBE", "a")).message, "Subscribed");
  assert.equal((await first.act("SUBSCRIBE", "b")).message, "Subscribed");
  assert.equal((await second.act("SUBSCRIBE", "a")).message, "Subscribed");
  const refused = await second.act("SUBSCRIBE", "b");
  assert.deepEqual(refused, {
    messageType: "ERROR",
    code: 429,
    message: "Too Many Requests",
    data: { errorDetails: "The server holds its maximum of 3 subscriptions (MAX_SUBSCRIPTIONS)" },
  });
  // The first connection's unsubscribe makes room for the second's.
  await first.act("UNSUBSCRIBE", "a");
  const ack = await second.act("SUBSCRIBE", "b");
  assert.deepEqual(ack.data.subscribedChannels, ["a", "b"]);
});
