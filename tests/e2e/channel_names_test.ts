/** Black-box tests of channel-name rules that span both ports (PROTOCOL.md v1.1: lone surrogates). */
import assert from "node:assert/strict";
import { action, clientFrame, createChannel, post, push, TestClient } from "../_helpers.ts";
import { e2e } from "./_backends.ts";

/**
 * Names that are not well-formed Unicode. JSON.stringify writes each lone surrogate as a `\uXXXX`
 * escape, so the bytes on the wire are valid UTF-8 and only the decoded string is ill-formed.
 */
const LONE_SURROGATES = ["sur\ud800", "\udc00sur", "sur\udc00\ud800", "\ud83d"];

e2e(
  "a channel name with a lone surrogate is 400 on every route and on SUBSCRIBE",
  async (t, backend) => {
    await using server = await backend.start();
    // SQLite stores a lone surrogate as U+FFFD (the attack: "sur\ud800" was created, stored as
    // "sur\ufffd" and then 404 after a restart). A channel with the replacement character in its
    // name must not be reachable through the ill-formed spelling either.
    const token = await createChannel(server, "sur\ufffd");

    await t.step(
      "JSON.stringify sends the lone surrogate as an escape (the test's premise)",
      () => {
        assert.equal(JSON.stringify("sur\ud800"), '"sur\\ud800"');
      },
    );

    await t.step("create → 400, and nothing is created", async () => {
      for (const channel of LONE_SURROGATES) {
        const reply = await post(
          `${server.httpUrl}/channel/create`,
          action("CREATE_CHANNEL", { channel }),
        );
        assert.equal(reply.status, 400, JSON.stringify(channel));
        assert.equal(reply.body.message, "Bad Request");
        assert.match(reply.body.data.errorDetails, /^data\.channel: /);
      }
      const ping = await post(
        `${server.httpUrl}/channel/ping`,
        action("PING_CHANNEL", { channel: "\ufffdsur", channelToken: null }),
      );
      assert.equal(ping.status, 404, "the U+FFFD spelling of a refused name does not exist");
    });

    await t.step("ping, push and delete → 400 (not 404, not the U+FFFD channel)", async () => {
      const channel = "sur\ud800";
      const ping = await post(
        `${server.httpUrl}/channel/ping`,
        action("PING_CHANNEL", { channel, channelToken: token }),
      );
      assert.equal(ping.status, 400);
      assert.equal(
        (await push(server, { channel, channelToken: token, message: "m" })).status,
        400,
      );
      const del = await post(
        `${server.httpUrl}/channel/delete`,
        action("DELETE_CHANNEL", { channel, channelToken: token }),
      );
      assert.equal(del.status, 400);
      assert.match(del.body.data.errorDetails, /^data\.channel: /);
    });

    await t.step("SUBSCRIBE → ERROR 400 Invalid message; the connection stays usable", async () => {
      await using client = await TestClient.connect(server.wsUrl);
      for (const channel of LONE_SURROGATES) {
        client.sendRaw(clientFrame("SUBSCRIBE", channel));
        const reply = await client.next();
        assert.equal(reply.messageType, "ERROR", JSON.stringify(channel));
        assert.equal(reply.code, 400);
        assert.equal(reply.message, "Invalid message");
      }
      const ok = await client.act("SUBSCRIBE", "sur\ufffd");
      assert.equal(ok.message, "Subscribed");
      assert.deepEqual(ok.data.subscribedChannels, ["sur\ufffd"]);
    });

    await t.step(
      "the U+FFFD channel itself still works, and a surrogate pair is fine",
      async () => {
        const ping = await post(
          `${server.httpUrl}/channel/ping`,
          action("PING_CHANNEL", { channel: "sur\ufffd", channelToken: token }),
        );
        assert.equal(ping.status, 200);
        const pair = await post(
          `${server.httpUrl}/channel/create`,
          action("CREATE_CHANNEL", { channel: "sur\ud83d\ude00" }),
        );
        assert.equal(pair.status, 200);
        assert.equal(pair.body.data.channel, "sur😀");
      },
    );
  },
);
