/**
 * `Subscription` objects and the transport interface, against a scripted server behind a fake
 * transport (no socket, no network): state transitions, the stream position across reconnects,
 * resubscribing, unsubscribing while reconnecting, and transports tried in order.
 */
import assert from "node:assert/strict";
import {
  PushClient,
  type PushClientEvents,
  type PushClientOptions,
  PushError,
  type PushTransport,
  type Subscription,
  type SubscriptionEvents,
  type TransportOpenOptions,
} from "../../src/client/pushserver.js";
import {
  type ClientFrame,
  type FakeConnection,
  FakeTransportServer,
  Inbox,
  within,
} from "./_support.ts";

/** Reconnect at once (one timer tick), without jitter. */
const QUICK: PushClientOptions = { minDelayMs: 1, maxDelayMs: 1, jitter: 0 };

function ack(connection: FakeConnection, message: string, data: Record<string, unknown>) {
  return {
    messageType: "CLIENT_ACK",
    code: 200,
    message,
    data: { uuid: connection.uuid, ...data },
  };
}

function push(channel: string, message: unknown, position?: { offset: number; epoch: string }) {
  return {
    messageType: "CLIENT_PUSH",
    code: 200,
    message: "Push Message",
    data: { pushMessage: { channel, message, ...position } },
  };
}

function notFound(channel: string) {
  return {
    messageType: "ERROR",
    code: 404,
    message: "Not found",
    data: { errorDetails: `Cannot subscribe to "${channel}": no such channel` },
  };
}

/**
 * A compact server with history: channel → its epoch and pushes (offset = index + 1). A
 * SUBSCRIBE with a `since` it can serve is acked `recovered: true` and the missed pushes follow;
 * any other gets the top offset. Channels not listed answer 404.
 */
function historyServer(server: FakeTransportServer, streams: Map<string, [string, unknown[]]>) {
  server.reply = (frame: ClientFrame, connection: FakeConnection) => {
    const { channel, since } = frame.data;
    if (frame.action === "UNSUBSCRIBE") return [ack(connection, "Unsubscribed", { channel })];
    const stream = streams.get(channel);
    if (!stream) return [notFound(channel)];
    const [epoch, pushes] = stream;
    const top = pushes.length;
    const recovered = since !== undefined && since.epoch === epoch && since.offset <= top;
    const replay = recovered ? pushes.slice(since.offset) : [];
    return [
      ack(connection, "Subscribed", {
        channel,
        recovery: { channel, epoch, offset: top, recovered },
      }),
      ...replay.map((message, i) =>
        push(channel, message, { offset: since!.offset + i + 1, epoch })
      ),
    ];
  };
}

function nextEvent<K extends keyof PushClientEvents>(
  client: PushClient,
  name: K,
): Promise<PushClientEvents[K]> {
  const { promise, resolve } = Promise.withResolvers<PushClientEvents[K]>();
  const off = client.on(name, (event) => {
    off();
    resolve(event);
  });
  return within(5000, promise, `the "${name}" event`).finally(off);
}

/** Every event of `subscription`, as `name` or `name:detail`, in order. */
function record(subscription: Subscription): string[] {
  const seen: string[] = [];
  subscription.on("subscribing", () => seen.push("subscribing"));
  subscription.on("subscribed", (e) => seen.push(`subscribed:${e.recovered}`));
  subscription.on("unsubscribed", (e) => seen.push(`unsubscribed:${e.reason}`));
  subscription.on("notRecovered", () => seen.push("notRecovered"));
  return seen;
}

async function connectTo(
  server: FakeTransportServer,
  options: PushClientOptions = {},
): Promise<{ client: PushClient; connection: FakeConnection }> {
  const client = await PushClient.connect("fake://server", {
    transports: [server.transport()],
    ...QUICK,
    ...options,
  });
  return { client, connection: await server.nextConnection() };
}

Deno.test("Subscription: subscribing until the ack, then subscribed at the stream's top; pushes of any JSON value advance its position", async () => {
  const server = new FakeTransportServer();
  historyServer(server, new Map([["h", ["e1", ["one", "two"]]]]));
  const { client, connection } = await connectTo(server);
  assert.equal(client.transport, "fake");
  const inbox = new Inbox<unknown>();
  const subscribing = client.subscribe("h", inbox.put);
  const subscription = client.getSubscription("h");
  assert.ok(subscription);
  const events = record(subscription);
  assert.equal(subscription.channel, "h");
  assert.equal(subscription.state, "subscribing");
  await subscribing;
  assert.equal(subscription.state, "subscribed");
  assert.deepEqual(subscription.position, { offset: 2, epoch: "e1" });
  assert.deepEqual(client.position("h"), { offset: 2, epoch: "e1" });

  connection.deliver(push("h", { n: 3, tags: ["x"] }, { offset: 3, epoch: "e1" }));
  assert.deepEqual(await inbox.take(), { n: 3, tags: ["x"] });
  connection.deliver(push("h", 4, { offset: 4, epoch: "e1" }));
  assert.equal(await inbox.take(), 4);
  assert.deepEqual(subscription.position, { offset: 4, epoch: "e1" });
  assert.deepEqual(events, ["subscribed:null"]);
  await client.close();
});

Deno.test("Subscription: the position is kept across a reconnect and resumes the stream on the new connection", async () => {
  const server = new FakeTransportServer();
  const streams = new Map<string, [string, unknown[]]>([["h", ["e1", ["one", "two"]]]]);
  historyServer(server, streams);
  const { client, connection } = await connectTo(server);
  const inbox = new Inbox<unknown>();
  await client.subscribe("h", inbox.put);
  await client.subscribe("h", () => {}); // a second handler: no `since` on its SUBSCRIBE
  const subscription = client.getSubscription("h")!;
  const events = record(subscription);
  streams.get("h")![1].push("three");
  connection.deliver(push("h", "three", { offset: 3, epoch: "e1" }));
  assert.equal(await inbox.take(), "three");

  const reconnected = nextEvent(client, "reconnected");
  streams.get("h")![1].push("four", "five"); // pushed while the client is away
  connection.drop();
  assert.equal(client.state, "reconnecting");
  assert.equal(subscription.state, "subscribing");
  assert.deepEqual(subscription.position, { offset: 3, epoch: "e1" });

  const second = await server.nextConnection();
  const resubscribe = await second.nextFrame();
  assert.deepEqual(resubscribe.data, { channel: "h", since: { offset: 3, epoch: "e1" } });
  const event = await reconnected;
  assert.deepEqual(event.recovered, { h: true });
  assert.equal(event.previousUuid, connection.uuid);
  assert.equal(event.uuid, second.uuid);
  assert.equal(await inbox.take(), "four");
  assert.equal(await inbox.take(), "five");
  assert.strictEqual(client.getSubscription("h"), subscription, "the same object throughout");
  assert.equal(subscription.state, "subscribed");
  assert.deepEqual(subscription.position, { offset: 5, epoch: "e1" });
  assert.deepEqual(events, ["subscribing", "subscribed:true"]);
  assert.equal(second.pending, 0, "one SUBSCRIBE per channel on the new connection");
  await client.close();
});

Deno.test("Subscription: a position the server cannot resume from gives notRecovered and restarts at the top", async () => {
  const server = new FakeTransportServer();
  const streams = new Map<string, [string, unknown[]]>([["h", ["e1", ["one"]]]]);
  historyServer(server, streams);
  const { client, connection } = await connectTo(server);
  await client.subscribe("h", () => {});
  const subscription = client.getSubscription("h")!;
  const events = record(subscription);
  const notRecovered = nextEvent(client, "notRecovered");
  streams.set("h", ["e2", ["re-created"]]); // deleted and created again while away
  connection.drop();
  assert.deepEqual(await notRecovered, {
    channel: "h",
    since: { offset: 1, epoch: "e1" },
    position: { offset: 1, epoch: "e2" },
    epochChanged: true,
  });
  assert.deepEqual(subscription.position, { offset: 1, epoch: "e2" });
  assert.deepEqual(events, ["subscribing", "subscribed:false", "notRecovered"]);
  await client.close();
});

Deno.test("Subscription: after a reconnect every wanted channel is subscribed again in order; one gone ends as refused", async () => {
  const server = new FakeTransportServer();
  const streams = new Map<string, [string, unknown[]]>([
    ["a", ["e", []]],
    ["b", ["e", []]],
    ["c", ["e", []]],
  ]);
  historyServer(server, streams);
  const { client, connection } = await connectTo(server);
  for (const channel of ["a", "b", "c"]) await client.subscribe(channel, () => {});
  const b = client.getSubscription("b")!;
  const events = record(b);
  const unsubscribed = Promise.withResolvers<SubscriptionEvents["unsubscribed"]>();
  b.on("unsubscribed", unsubscribed.resolve);
  const failed = nextEvent(client, "error");
  const reconnected = nextEvent(client, "reconnected");
  streams.delete("b");
  connection.drop();

  const second = await server.nextConnection();
  const sent = [await second.nextFrame(), await second.nextFrame(), await second.nextFrame()];
  assert.deepEqual(sent.map((frame) => [frame.action, frame.data.channel]), [
    ["SUBSCRIBE", "a"],
    ["SUBSCRIBE", "b"],
    ["SUBSCRIBE", "c"],
  ]);
  const { error, channel } = await failed;
  assert.equal(channel, "b");
  assert.ok(error instanceof PushError && error.code === 404);
  const ended = await unsubscribed.promise;
  assert.equal(ended.reason, "refused");
  assert.strictEqual(ended.error, error);
  assert.deepEqual((await reconnected).channels, ["a", "c"]);
  assert.deepEqual(client.channels, ["a", "c"]);
  assert.equal(client.getSubscription("b"), undefined);
  assert.equal(b.state, "unsubscribed");
  assert.deepEqual(events, ["subscribing", "unsubscribed:refused"]);
  assert.equal(client.getSubscription("a")?.state, "subscribed");
  await client.close();
});

Deno.test("Subscription: unsubscribing while reconnecting ends it at once and sends nothing for it on the next connection", async () => {
  const server = new FakeTransportServer();
  const streams = new Map<string, [string, unknown[]]>([
    ["a", ["e", []]],
    ["b", ["e", []]],
    ["c", ["e", []]],
  ]);
  historyServer(server, streams);
  const { client, connection } = await connectTo(server);
  const unsubscribeA = await client.subscribe("a", () => {});
  await client.subscribe("b", () => {});
  const a = client.getSubscription("a")!;
  const b = client.getSubscription("b")!;
  const eventsA = record(a);
  const reconnected = nextEvent(client, "reconnected");
  connection.drop();
  assert.equal(client.state, "reconnecting");

  const unsubscribedA = unsubscribeA();
  assert.equal(a.state, "unsubscribed");
  assert.equal(a.position, undefined);
  const unsubscribedB = b.unsubscribe();
  assert.equal(b.state, "unsubscribed");
  assert.deepEqual(client.channels, []);
  // A subscribe made meanwhile waits, and is answered by the resubscribe.
  const subscribedC = client.subscribe("c", () => {});
  assert.equal(client.getSubscription("c")?.state, "subscribing");
  // And one made and taken back meanwhile is settled without a frame.
  const subscribedD = client.subscribe("d", () => {});
  const unsubscribedD = client.unsubscribe("d");

  await within(5000, reconnected, "the reconnect");
  await within(
    5000,
    Promise.all([unsubscribedA, unsubscribedB, subscribedC, subscribedD, unsubscribedD]),
    "the requests",
  );
  const second = server.connections[1]!;
  assert.deepEqual(second.sent.map((frame) => [frame.action, frame.data.channel]), [
    ["SUBSCRIBE", "c"],
  ]);
  assert.equal(client.getSubscription("c")?.state, "subscribed");
  assert.deepEqual(eventsA, ["subscribing", "unsubscribed:unsubscribed"]);
  await client.close();
});

Deno.test("Subscription: a deleted or revoked channel ends with that reason; close() ends the rest", async () => {
  const server = new FakeTransportServer();
  historyServer(server, new Map([["a", ["e", []]], ["b", ["e", []]], ["c", ["e", []]]]));
  const { client, connection } = await connectTo(server);
  for (const channel of ["a", "b", "c"]) await client.subscribe(channel, () => {});
  const [a, b, c] = ["a", "b", "c"].map((channel) => client.getSubscription(channel)!);
  const events = [a, b, c].map((subscription) => record(subscription!));

  const deleted = nextEvent(client, "channelDeleted");
  connection.deliver(ack(connection, "Channel Deleted", { channel: "a" }));
  assert.deepEqual(await deleted, { channel: "a" });
  const revoked = nextEvent(client, "subscriptionRevoked");
  connection.deliver(ack(connection, "Subscription Revoked", { channel: "b" }));
  assert.deepEqual(await revoked, { channel: "b" });
  assert.deepEqual(client.channels, ["c"]);

  await client.close();
  assert.equal(c!.state, "unsubscribed");
  assert.deepEqual(events, [
    ["unsubscribed:channelDeleted"],
    ["unsubscribed:subscriptionRevoked"],
    ["unsubscribed:closed"],
  ]);
  // The position outlives close(), so that an app can store it and resume later.
  assert.deepEqual(c!.position, { offset: 0, epoch: "e" });
  assert.deepEqual(client.position("c"), { offset: 0, epoch: "e" });
  assert.equal(a!.position, undefined);
  // Ended is final: nothing is sent for it.
  await c!.unsubscribe();
  assert.deepEqual(connection.sent.map((frame) => frame.action), [
    "SUBSCRIBE",
    "SUBSCRIBE",
    "SUBSCRIBE",
  ]);
});

/** A transport that cannot connect (e.g. WebSocket blocked by a proxy). */
function blocked(name: string, opened: string[]): PushTransport {
  return {
    name,
    open: () => {
      opened.push(name);
      return Promise.reject(new PushError(0, "Connection failed", `${name} is blocked`));
    },
  };
}

Deno.test("PushClient tries its transports in order, on every connect and reconnect", async () => {
  const server = new FakeTransportServer();
  historyServer(server, new Map([["a", ["e", []]]]));
  const opened: string[] = [];
  const second = server.transport("second");
  const client = await PushClient.connect("fake://server", {
    ...QUICK,
    transports: [blocked("first", opened), {
      name: "second",
      open: (url: string, options: TransportOpenOptions) => {
        opened.push("second");
        return second.open(url, options);
      },
    }],
  });
  assert.equal(client.transport, "second");
  await client.subscribe("a", () => {});
  const reconnected = nextEvent(client, "reconnected");
  (await server.nextConnection()).drop();
  await reconnected;
  assert.deepEqual(opened, ["first", "second", "first", "second"]);
  await client.close();

  await assert.rejects(
    PushClient.connect("fake://server", { transports: [blocked("one", []), blocked("two", [])] }),
    (error: unknown) => error instanceof PushError && error.errorDetails === "two is blocked",
  );
  assert.throws(() => new PushClient("fake://server", { transports: [] }), TypeError);
  assert.throws(
    () => new PushClient("fake://server", { transports: [{ name: "x" } as never] }),
    TypeError,
  );
});

Deno.test("PushClient.close() while reconnecting aborts the transport's attempt and resolves once it gave up", async () => {
  const server = new FakeTransportServer();
  historyServer(server, new Map([["a", ["e", []]]]));
  const first = server.transport();
  const hanging = Promise.withResolvers<TransportOpenOptions>();
  let attempts = 0;
  const client = await PushClient.connect("fake://server", {
    ...QUICK,
    transports: [{
      name: "fake",
      open: (url, options) => {
        if (attempts++ === 0) return first.open(url, options);
        hanging.resolve(options);
        return new Promise((_, reject) => {
          options.signal.addEventListener("abort", () => {
            reject(new PushError(0, "Connection failed", "aborted"));
          });
        });
      },
    }],
  });
  const subscribed = client.subscribe("a", () => {});
  await subscribed;
  (await server.nextConnection()).drop();
  const options = await within(5000, hanging.promise, "the second attempt");
  assert.equal(options.signal.aborted, false);
  await client.close();
  assert.equal(options.signal.aborted, true);
  assert.equal(client.state, "closed");
  assert.equal(client.getSubscription("a")?.state, "unsubscribed");
});
