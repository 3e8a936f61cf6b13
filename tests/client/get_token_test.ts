/**
 * The client's `getToken(channel)` option (issue 22, PROTOCOL.md "Subscriber tokens"): asked
 * before a channel is subscribed, its answer sent as `data.token` in SUBSCRIBE, and asked again
 * before the token's `exp` so that the subscription is renewed. Against the fake transport.
 */
import assert from "node:assert/strict";
import { PushClient, type PushClientOptions } from "../../src/client/pushserver.js";
import { expiryOf } from "../../src/client/_tokens.js";
import { type ClientFrame, type FakeConnection, FakeTransportServer, Inbox } from "./_support.ts";

/** A JWT-shaped token with these claims (unsigned: the client never verifies). */
function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) =>
    btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}.c2ln`;
}

/** Acks every SUBSCRIBE and UNSUBSCRIBE (compact frames). */
function ackAll(server: FakeTransportServer): void {
  server.reply = (frame: ClientFrame, connection: FakeConnection) => [{
    messageType: "CLIENT_ACK",
    code: 200,
    message: frame.action === "SUBSCRIBE" ? "Subscribed" : "Unsubscribed",
    data: { uuid: connection.uuid, channel: frame.data.channel },
  }];
}

async function connectTo(server: FakeTransportServer, options: PushClientOptions) {
  const client = await PushClient.connect("fake://server", {
    transports: [server.transport()],
    minDelayMs: 1,
    maxDelayMs: 1,
    jitter: 0,
    ...options,
  });
  return { client, connection: await server.nextConnection() };
}

Deno.test("getToken: called before SUBSCRIBE; a string goes as data.token, null sends none", async () => {
  const server = new FakeTransportServer();
  ackAll(server);
  const asked: string[] = [];
  const token = jwt({ channels: ["private"], exp: Date.now() / 1000 + 3600 });
  const { client, connection } = await connectTo(server, {
    getToken: (channel) => {
      asked.push(channel);
      assert.equal(connection.sent.length, asked.length - 1, "asked before the SUBSCRIBE");
      return Promise.resolve(channel === "private" ? token : null);
    },
  });
  await client.subscribe("private", () => {});
  await client.subscribe("public", () => {});
  assert.deepEqual(asked, ["private", "public"]);
  assert.deepEqual(connection.sent.map((f) => f.data), [
    { channel: "private", token },
    { channel: "public" },
  ]);
  await client.close();
});

Deno.test("getToken: asked again before the token's exp; the fresh token renews the subscription", async () => {
  const server = new FakeTransportServer();
  ackAll(server);
  const tokens = new Inbox<string>();
  // The first token has 60 ms left: renewed at half of that. The second lasts an hour.
  const first = jwt({ channels: ["room"], exp: (Date.now() + 60) / 1000 });
  const second = jwt({ channels: ["room"], exp: Date.now() / 1000 + 3600 });
  const answers = [first, second];
  const { client, connection } = await connectTo(server, {
    getToken: () => {
      const token = answers.shift()!;
      tokens.put(token);
      return token;
    },
  });
  await client.subscribe("room", () => {});
  assert.equal(await tokens.take(), first);
  assert.deepEqual((await connection.nextFrame()).data, { channel: "room", token: first });
  // No sleep: the renewal's own SUBSCRIBE is awaited.
  const renewal = await connection.nextFrame();
  assert.equal(await tokens.take(), second);
  assert.equal(renewal.action, "SUBSCRIBE");
  assert.deepEqual(renewal.data, { channel: "room", token: second });
  assert.deepEqual(client.channels, ["room"]);
  // close() stops the second token's renewal timer (the sanitizer checks none is left).
  await client.close();
});

Deno.test("getToken: after a reconnect the resubscribe carries the token", async () => {
  const server = new FakeTransportServer();
  ackAll(server);
  const token = jwt({ channels: ["room"], exp: Date.now() / 1000 + 3600 });
  const { client, connection } = await connectTo(server, { getToken: () => token });
  await client.subscribe("room", () => {});
  const reconnected = Promise.withResolvers<void>();
  client.on("reconnected", () => reconnected.resolve());
  connection.drop(1006, "lost");
  const next = await server.nextConnection();
  await reconnected.promise;
  assert.deepEqual(next.sent.map((f) => f.data), [{ channel: "room", token }]);
  await client.close();
});

Deno.test("getToken: a rejection rejects subscribe() and sends nothing", async () => {
  const server = new FakeTransportServer();
  ackAll(server);
  const { client, connection } = await connectTo(server, {
    getToken: () => Promise.reject(new Error("backend down")),
  });
  await assert.rejects(client.subscribe("room", () => {}), /backend down/);
  assert.deepEqual(connection.sent, []);
  assert.deepEqual(client.channels, []);
  await client.close();
});

Deno.test("getToken must be a function", async () => {
  await assert.rejects(
    PushClient.connect("fake://server", {
      getToken: "token" as unknown as () => string,
      transports: [new FakeTransportServer().transport()],
    }),
    TypeError,
  );
});

Deno.test("expiryOf() reads exp from a JWT's payload, without verifying", () => {
  assert.equal(expiryOf(jwt({ exp: 1_700_000_000 })), 1_700_000_000);
  assert.equal(expiryOf(jwt({ sub: "x" })), undefined);
  assert.equal(expiryOf(jwt({ exp: "soon" })), undefined);
  assert.equal(expiryOf("not a token"), undefined);
  assert.equal(expiryOf("a.%%%.c"), undefined);
  assert.equal(expiryOf(null), undefined);
});
