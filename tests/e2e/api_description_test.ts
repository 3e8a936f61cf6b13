/**
 * Every v1.1 route and frame once, against a real server. The assertions here are light: the
 * point is that each answer and frame goes through the contract checks of the helpers
 * (tests/_contract.ts), so the server's shutdown fails this test if one of them does not match
 * /openapi.json or /asyncapi.json.
 */
import assert from "node:assert/strict";
import { action, createChannel, post, push, TestClient } from "../_helpers.ts";
import { e2e } from "./_backends.ts";

e2e("v1.1 answers and frames match the API description", async (t, backend) => {
  const admin = "admin-token-of-16-chars";
  await using server = await backend.start({ ADMIN_TOKEN: admin });
  const call = (path: string, name: string, data: Record<string, unknown>) =>
    post(`${server.httpUrl}${path}`, action(name, data));

  let token = "";
  let epoch = "";
  await t.step("create with history and private, ping with the token", async () => {
    const created = await call("/channel/create", "CREATE_CHANNEL", {
      channel: "h",
      history: { size: 10, ttlSeconds: 60 },
      private: true,
    });
    assert.equal(created.status, 200);
    assert.deepEqual(created.body.data.history, { size: 10, ttlSeconds: 60 });
    assert.equal(created.body.data.private, true);
    token = created.body.data.channelToken;
    epoch = created.body.data.epoch;
    const ping = await call("/channel/ping", "PING_CHANNEL", { channel: "h", channelToken: token });
    assert.equal(ping.body.data.private, true);
  });

  await using full = await TestClient.connect(server.wsUrl);
  await using compact = await TestClient.connect(server.wsUrl, ["pushserver.compact"]);
  assert.equal(compact.socket.protocol, "pushserver.compact");

  await t.step("a private channel refuses, authorize lets in, recovery replays", async () => {
    const refused = await full.act("SUBSCRIBE", "h");
    assert.equal(refused.code, 403);
    for (const client of [full, compact]) {
      const granted = await call("/channel/authorize", "AUTHORIZE_SUBSCRIBER", {
        channel: "h",
        channelToken: token,
        uuid: client.uuid,
      });
      assert.equal(granted.status, 200);
    }
    const sent = await push(server, { channel: "h", channelToken: token, message: "one" });
    assert.equal(sent.body.data.offset, 1);
    const subscribed = await full.act("SUBSCRIBE", "h");
    assert.equal(subscribed.data.recovery.recovered, false);
    compact.sendRaw(JSON.stringify({
      messageType: "CLIENT_ACTION",
      action: "SUBSCRIBE",
      data: { channel: "h", since: { offset: 0, epoch } },
    }));
    const resumed = await compact.next();
    assert.deepEqual(resumed.data, {
      uuid: compact.uuid,
      channel: "h",
      recovery: { channel: "h", epoch, offset: 1, recovered: true },
    });
    assert.deepEqual((await compact.next()).data.pushMessage, {
      channel: "h",
      message: "one",
      offset: 1,
      epoch,
    });
  });

  await t.step("pushes reach both forms with their offset", async () => {
    await push(server, { channel: "h", channelToken: token, message: "two" });
    assert.equal((await full.next()).data.pushMessage.offset, 2);
    assert.equal((await compact.next()).data.pushMessage.offset, 2);
  });

  await t.step("revoke, rotate, a wrong old token, an unknown connection", async () => {
    const revoked = await call("/channel/revoke", "REVOKE_SUBSCRIBER", {
      channel: "h",
      channelToken: token,
      uuid: compact.uuid,
    });
    assert.equal(revoked.status, 200);
    assert.equal((await compact.next()).message, "Subscription Revoked");
    const rotated = await call("/channel/rotate", "ROTATE_TOKEN", {
      channel: "h",
      channelToken: token,
    });
    assert.equal(rotated.status, 200);
    const stale = await call("/channel/rotate", "ROTATE_TOKEN", {
      channel: "h",
      channelToken: token,
    });
    assert.equal(stale.status, 403);
    const unknown = await call("/channel/authorize", "AUTHORIZE_SUBSCRIBER", {
      channel: "h",
      channelToken: rotated.body.data.channelToken,
      uuid: crypto.randomUUID(),
    });
    assert.equal(unknown.status, 404);
  });

  await t.step("the admin routes, and delete reaching a compact subscriber", async () => {
    const other = await createChannel(server, "lost");
    assert.ok(other.length > 0);
    await compact.act("SUBSCRIBE", "lost");
    const headers = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
    const rotate = await fetch(`${server.httpUrl}/admin/channel/rotate`, {
      method: "POST",
      headers,
      body: JSON.stringify({ channel: "lost" }),
    });
    assert.equal(rotate.status, 200);
    await rotate.body?.cancel();
    const remove = await fetch(`${server.httpUrl}/admin/channel/delete`, {
      method: "POST",
      headers,
      body: JSON.stringify({ channel: "lost" }),
    });
    assert.equal(remove.status, 200);
    await remove.body?.cancel();
    assert.equal((await compact.next()).message, "Channel Deleted");
    const unauthorized = await fetch(`${server.httpUrl}/admin/channel/delete`, {
      method: "POST",
      body: JSON.stringify({ channel: "lost" }),
    });
    assert.equal(unauthorized.status, 401);
    await unauthorized.body?.cancel();
  });
});
