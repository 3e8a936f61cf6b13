import assert from "node:assert/strict";
import { createChannel, push, TestClient } from "../_helpers.ts";
import { e2e } from "./_backends.ts";

e2e("a subscriber receives a push on its channel", async (_t, backend) => {
  await using server = await backend.start();
  const token = await createChannel(server, "news");
  await using client = await TestClient.connect(server.wsUrl);
  const ack = await client.act("SUBSCRIBE", "news");
  assert.deepEqual(ack.data.subscribedChannels, ["news"]);
  const reply = await push(server, { channel: "news", channelToken: token, message: "héllo" });
  assert.equal(reply.status, 200);
  const frame = await client.next();
  assert.deepEqual(frame, {
    messageType: "CLIENT_PUSH",
    code: 200,
    message: "Push Message",
    data: {
      uuid: client.uuid,
      subscribedChannels: ["news"],
      pushMessage: { channel: "news", message: "héllo" },
    },
  });
});
