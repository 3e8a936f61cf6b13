/**
 * Subscriber tokens (JWT) end to end, over both transports and both backends: a private
 * channel subscribed with a token, refusals with their reason, expiry and renewal on an
 * injected clock.
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { JWT_LEEWAY_S } from "../../src/channels/subscriber_tokens.ts";
import { broadcast, call, createWith } from "./_v11.ts";
import { connect, FakeTimers, MATRIX, startNodes, subscribe, unsubscribe } from "./_transport.ts";

const JWT_SECRET = "e2e-secret-of-at-least-32-bytes-long!!";

function mint(
  timers: FakeTimers,
  claims: Record<string, unknown>,
  secret = JWT_SECRET,
): Promise<string> {
  const nowS = Math.floor(timers.now() / 1000);
  return new SignJWT({ exp: nowS + 60, ...claims }).setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(secret));
}

for (const { transport, backend } of MATRIX) {
  Deno.test(`[e2e] subscriber tokens over ${transport} (${backend})`, async (t) => {
    const timers = new FakeTimers();
    await using nodes = await startNodes(backend, { JWT_SECRET, JWT_AUDIENCE: "push" }, {
      timers,
    });
    const { a, b } = nodes;
    const vip = await createWith(b, "vip", {
      private: true,
      history: { size: 10, ttlSeconds: 3600 },
    });
    await createWith(b, "open");
    await using client = await connect(a, transport);

    await t.step("a token naming the channel subscribes as if granted", async () => {
      const token = await mint(timers, { channels: ["vip"], aud: "push" });
      const ack = await subscribe(client, "vip", { token });
      assert.equal(ack.message, "Subscribed", JSON.stringify(ack));
      assert.deepEqual(ack.data.subscribedChannels, ["vip"]);
      await broadcast(b, "vip", vip.token, "hello");
      const frame = await client.next();
      assert.equal(frame.data.pushMessage.message, "hello");
    });

    await t.step("refusals say why, and nothing happens", async () => {
      const cases: [string, Promise<string>][] = [
        [
          "bad signature",
          mint(
            timers,
            { channels: ["vip"], aud: "push" },
            "a-different-secret-of-32-bytes-or-more",
          ),
        ],
        ["expired", mint(timers, { channels: ["vip"], aud: "push", exp: 1 })],
        [
          "not yet valid",
          mint(timers, {
            channels: ["vip"],
            aud: "push",
            nbf: Math.floor(timers.now() / 1000) + 600,
          }),
        ],
        ["channel not in token", mint(timers, { channels: ["other", "v*x"], aud: "push" })],
        ["wrong audience", mint(timers, { channels: ["vip"], aud: "elsewhere" })],
      ];
      await unsubscribe(client, "vip");
      for (const [reason, token] of cases) {
        const answer = await subscribe(client, "vip", { token: await token });
        assert.equal(answer.messageType, "ERROR", reason);
        assert.equal(answer.code, 403);
        assert.equal(answer.message, "Forbidden");
        assert.match(answer.data.errorDetails, new RegExp(`${reason}$`));
      }
      const none = await subscribe(client, "vip");
      assert.equal(none.code, 403);
      assert.match(none.data.errorDetails, /not authorized/);
      assert.equal(await client.receivedNothing(), true);
    });

    await t.step("a token that is not a string is 400 Invalid message", async () => {
      for (const token of [42, null, { jwt: "x" }]) {
        const answer = await client.refused(JSON.stringify({
          messageType: "CLIENT_ACTION",
          action: "SUBSCRIBE",
          data: { channel: "vip", token },
        }));
        assert.equal(answer.code, 400);
        assert.equal(answer.message, "Invalid message");
        assert.match(answer.data.errorDetails, /token/);
      }
    });

    await t.step("a token on a public channel is ignored", async () => {
      const ack = await subscribe(client, "open", { token: "not even a JWT" });
      assert.equal(ack.message, "Subscribed");
      await unsubscribe(client, "open");
    });

    await t.step("the subscription ends at expiry with Subscription Expired", async () => {
      const token = await mint(timers, { channels: ["v*"], aud: "push", exp: 0 });
      // exp in the past but within the leeway: accepted, ends when the leeway runs out.
      const nowS = Math.floor(timers.now() / 1000);
      const lenient = await mint(timers, { channels: ["v*"], aud: "push", exp: nowS - 5 });
      assert.equal((await subscribe(client, "vip", { token })).code, 403);
      const ack = await subscribe(client, "vip", { token: lenient });
      assert.equal(ack.message, "Subscribed");
      timers.advance((JWT_LEEWAY_S - 10) * 1000);
      assert.equal(await client.receivedNothing(), true);
      timers.advance(10_000);
      const expired = await client.next();
      assert.equal(expired.messageType, "CLIENT_ACK");
      assert.equal(expired.message, "Subscription Expired");
      assert.deepEqual(expired.data.subscribedChannels, []);
      await broadcast(b, "vip", vip.token, "after expiry");
      assert.equal(await client.receivedNothing(), true);
    });

    await t.step("a fresh token renews: same ack, nothing replayed, no expiry", async () => {
      const first = await mint(timers, { channels: ["vip"], aud: "push" });
      const ack = await subscribe(client, "vip", { token: first });
      assert.equal(ack.data.recovery.recovered, false);
      await broadcast(b, "vip", vip.token, "live");
      assert.equal((await client.next()).data.pushMessage.message, "live");
      timers.advance(30_000);
      const second = await mint(timers, { channels: ["vip"], aud: "push", exp: 0 });
      assert.equal((await subscribe(client, "vip", { token: second })).code, 403);
      const renewed = await subscribe(client, "vip", {
        token: await mint(timers, { channels: ["vip"], aud: "push" }),
        since: { offset: 0, epoch: vip.epoch },
      });
      assert.equal(renewed.message, "Subscribed");
      assert.deepEqual(renewed.data.subscribedChannels, ["vip"]);
      assert.equal(renewed.data.recovery.recovered, false);
      assert.equal(await client.receivedNothing(), true, "a renewal replays nothing");
      // Past the first token's end: still subscribed.
      timers.advance(80_000);
      assert.equal(await client.receivedNothing(), true);
      await broadcast(b, "vip", vip.token, "still here");
      assert.equal((await client.next()).data.pushMessage.message, "still here");
      // Past the renewed token's end: expired.
      timers.advance(20_000);
      assert.equal((await client.next()).message, "Subscription Expired");
    });

    await t.step("an unsubscribe cancels the expiry; grants work without a token", async () => {
      const token = await mint(timers, { channels: ["vip"], aud: "push" });
      assert.equal((await subscribe(client, "vip", { token })).message, "Subscribed");
      assert.equal((await unsubscribe(client, "vip")).message, "Unsubscribed");
      const granted = await call(b, "AUTHORIZE_SUBSCRIBER", {
        channel: "vip",
        channelToken: vip.token,
        uuid: client.uuid,
      });
      assert.equal(granted.status, 200);
      assert.equal((await subscribe(client, "vip")).message, "Subscribed");
      timers.advance(3_600_000);
      assert.equal(await client.receivedNothing(), true);
      // Only the SSE keep-alive is left: no expiry timer.
      assert.equal(timers.pending, transport === "sse" ? 1 : 0);
    });
  });
}
