/**
 * The subscriber client's v1.1 features against a real server: stream positions and recovery on
 * history channels, private channels with the `authorize` callback, and revocation. Every
 * scenario runs with v1 frames and with compact frames (`pushserver.compact`).
 */
import assert from "node:assert/strict";
import {
  PushClient,
  type PushClientEvents,
  type PushClientOptions,
  PushError,
  type PushMeta,
} from "../../src/client/pushserver.js";
import { PushPublisher } from "../../src/publisher/publisher.js";
import { startTestServer, type TestServer } from "../_helpers.ts";
import { freePort, Inbox, within } from "./_support.ts";

/** Resolves with the next `name` event of `client`. */
function nextEvent<K extends keyof PushClientEvents>(
  client: PushClient,
  name: K,
  ms = 5000,
): Promise<PushClientEvents[K]> {
  const { promise, resolve } = Promise.withResolvers<PushClientEvents[K]>();
  const off = client.on(name, (event) => {
    off();
    resolve(event);
  });
  return within(ms, promise, `the "${name}" event`).finally(off);
}

/**
 * A WebSocket constructor for the client that the test controls: while `open` is false every
 * connection attempt goes to a port where nothing listens (so the client keeps retrying), and
 * `drop()` closes the current socket as a lost connection would. `compact` offers the
 * `pushserver.compact` subprotocol.
 */
class Gate {
  open = true;
  readonly #deadUrl = `ws://127.0.0.1:${freePort()}`;
  #current: WebSocket | undefined;

  constructor(readonly compact: boolean) {}

  /** The constructor to pass as `options.WebSocket`. */
  get WebSocket(): { new (url: string): WebSocket } {
    // deno-lint-ignore no-this-alias -- the class below needs the gate, not its own instance
    const gate = this;
    return class extends WebSocket {
      constructor(url: string) {
        const target = gate.open ? url : gate.#deadUrl;
        super(target, gate.compact ? ["pushserver.compact"] : []);
        gate.#current = this;
      }
    };
  }

  /** The subprotocol the server accepted on the current socket. */
  get protocol(): string | undefined {
    return this.#current?.protocol;
  }

  /** Closes the client's socket from under it; the client sees a lost connection. */
  drop(): void {
    this.#current?.close(4000, "dropped by the test");
  }
}

/** Client options for a test: fast reconnects through `gate`. */
function clientOptions(gate: Gate, extra: PushClientOptions = {}): PushClientOptions {
  // The gate holds the WebSocket only: no SSE fallback around it.
  return {
    minDelayMs: 20,
    maxDelayMs: 100,
    jitter: 0,
    WebSocket: gate.WebSocket,
    transports: ["websocket"],
    ...extra,
  };
}

/** A file-DB server that can be stopped and started again on the same ports. */
async function restartable(): Promise<
  AsyncDisposable & { start: () => Promise<TestServer>; env: Record<string, string> }
> {
  const dir = await Deno.makeTempDir({ prefix: "pushserver_recovery_" });
  const env = {
    PORT_WS: String(freePort()),
    PORT_HTTP: String(freePort()),
    DB_PATH: `${dir}/push.db`,
  };
  return {
    env,
    start: () => startTestServer(env),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** Collects `[message, meta]` from a subscription. */
function collector(): Inbox<[string, PushMeta]> & { handler: (m: string, meta: PushMeta) => void } {
  const inbox = new Inbox<[string, PushMeta]>();
  return Object.assign(inbox, { handler: (m: string, meta: PushMeta) => inbox.put([m, meta]) });
}

for (const compact of [false, true]) {
  const frames = compact ? "compact frames" : "v1 frames";

  Deno.test(`[e2e] PushClient history: meta offset/epoch and position() (${frames})`, async () => {
    await using server = await startTestServer();
    const publisher = new PushPublisher({ baseUrl: server.httpUrl });
    const { channelToken, epoch } = await publisher.createChannel("feed", {
      history: { size: 10, ttlSeconds: 600 },
    });
    const plain = (await publisher.createChannel("plain")).channelToken;
    await publisher.push("feed", channelToken, "before");
    const gate = new Gate(compact);
    await using client = await PushClient.connect(server.wsUrl, clientOptions(gate));
    assert.equal(gate.protocol, compact ? "pushserver.compact" : "");
    const inbox = collector();
    await client.subscribe("feed", inbox.handler);
    // Subscribing without `since` starts at the current top.
    assert.deepEqual(client.position("feed"), { offset: 1, epoch });

    await publisher.push("feed", channelToken, "one");
    const [message, meta] = await inbox.take();
    assert.equal(message, "one");
    assert.equal(meta.channel, "feed");
    assert.equal(meta.offset, 2);
    assert.equal(meta.epoch, epoch);
    assert.deepEqual(client.position("feed"), { offset: 2, epoch });

    // A targeted push is not stored: no offset, and the position stays.
    await publisher.push("feed", channelToken, "just you", { recipients: [client.uuid] });
    const [, targeted] = await inbox.take();
    assert.equal(targeted.offset, undefined);
    assert.equal(targeted.epoch, undefined);
    assert.deepEqual(client.position("feed"), { offset: 2, epoch });

    // A channel without history has no position and no offsets.
    const plainInbox = collector();
    await client.subscribe("plain", plainInbox.handler);
    await publisher.push("plain", plain, "v1");
    const [, plainMeta] = await plainInbox.take();
    assert.equal("offset" in plainMeta, false);
    assert.equal(client.position("plain"), undefined);

    await client.unsubscribe("feed");
    assert.equal(client.position("feed"), undefined);
  });

  Deno.test(`[e2e] PushClient recovers missed pushes across a server restart (${frames})`, async () => {
    await using env = await restartable();
    const first = await env.start();
    const publisher = new PushPublisher({ baseUrl: first.httpUrl });
    const { channelToken, epoch } = await publisher.createChannel("feed", {
      history: { size: 100, ttlSeconds: 600 },
    });
    const gate = new Gate(compact);
    await using client = await PushClient.connect(first.wsUrl, clientOptions(gate));
    const inbox = collector();
    const notRecovered: unknown[] = [];
    client.on("notRecovered", (event) => notRecovered.push(event));
    await client.subscribe("feed", inbox.handler);
    await publisher.push("feed", channelToken, "m1");
    assert.equal((await inbox.take())[1].offset, 1);

    gate.open = false;
    const disconnected = nextEvent(client, "disconnected");
    await first.shutdown();
    await disconnected;
    await using second = await env.start();
    const again = new PushPublisher({ baseUrl: second.httpUrl });
    for (const message of ["m2", "m3", "m4"]) await again.push("feed", channelToken, message);

    const reconnected = nextEvent(client, "reconnected", 10_000);
    gate.open = true;
    const event = await reconnected;
    assert.deepEqual(event.recovered, { feed: true });
    const replayed = [await inbox.take(), await inbox.take(), await inbox.take()];
    assert.deepEqual(replayed.map(([m, meta]) => [m, meta.offset, meta.epoch]), [
      ["m2", 2, epoch],
      ["m3", 3, epoch],
      ["m4", 4, epoch],
    ]);
    assert.ok(replayed.every(([, meta]) => meta.uuid === event.uuid));
    await again.push("feed", channelToken, "live");
    const [live, liveMeta] = await inbox.take();
    assert.deepEqual([live, liveMeta.offset], ["live", 5]);
    assert.deepEqual(client.position("feed"), { offset: 5, epoch });
    assert.deepEqual(notRecovered, []);
  });

  Deno.test(`[e2e] PushClient emits notRecovered when missed pushes are gone (${frames})`, async (t) => {
    await using server = await startTestServer();
    const publisher = new PushPublisher({ baseUrl: server.httpUrl });
    const small = await publisher.createChannel("small", { history: { size: 2, ttlSeconds: 600 } });
    const full = await publisher.createChannel("full", { history: { size: 50, ttlSeconds: 600 } });
    const gate = new Gate(compact);
    await using client = await PushClient.connect(server.wsUrl, clientOptions(gate));
    const smallInbox = collector();
    const fullInbox = collector();
    await client.subscribe("small", smallInbox.handler);
    await client.subscribe("full", fullInbox.handler);

    /** Cuts the connection, runs `offline` while the client cannot reconnect, lets it back. */
    async function whileDisconnected(offline: () => Promise<void>) {
      gate.open = false;
      const disconnected = nextEvent(client, "disconnected");
      gate.drop();
      await disconnected;
      await offline();
      const reconnected = nextEvent(client, "reconnected", 10_000);
      gate.open = true;
      return await reconnected;
    }

    await t.step("history too short: notRecovered, then live pushes only", async () => {
      const missed = nextEvent(client, "notRecovered", 10_000);
      const event = await whileDisconnected(async () => {
        for (const m of ["a", "b", "c"]) await publisher.push("small", small.channelToken, m);
        await publisher.push("full", full.channelToken, "kept");
      });
      assert.deepEqual(event.recovered, { small: false, full: true });
      assert.deepEqual(await missed, {
        channel: "small",
        since: { offset: 0, epoch: small.epoch },
        position: { offset: 3, epoch: small.epoch },
        epochChanged: false,
      });
      assert.equal((await fullInbox.take())[0], "kept");
      await publisher.push("small", small.channelToken, "d");
      const [message, meta] = await smallInbox.take();
      assert.deepEqual([message, meta.offset], ["d", 4]);
      assert.equal(smallInbox.size, 0);
    });

    await t.step("channel re-created meanwhile: notRecovered with epochChanged", async () => {
      let recreated: { channelToken: string; epoch?: string } = { channelToken: "" };
      const missed = nextEvent(client, "notRecovered", 10_000);
      const event = await whileDisconnected(async () => {
        await publisher.deleteChannel("small", small.channelToken);
        recreated = await publisher.createChannel("small", {
          history: { size: 2, ttlSeconds: 600 },
        });
        await publisher.push("small", recreated.channelToken, "new life");
      });
      assert.notEqual(recreated.epoch, small.epoch);
      assert.deepEqual(event.recovered, { small: false, full: true });
      assert.deepEqual(await missed, {
        channel: "small",
        since: { offset: 4, epoch: small.epoch },
        position: { offset: 1, epoch: recreated.epoch },
        epochChanged: true,
      });
      assert.deepEqual(client.position("small"), { offset: 1, epoch: recreated.epoch });
      assert.equal(smallInbox.size, 0);
    });
  });

  Deno.test(`[e2e] PushClient subscribe({ since }) resumes from a stored position (${frames})`, async () => {
    await using server = await startTestServer();
    const publisher = new PushPublisher({ baseUrl: server.httpUrl });
    const { channelToken, epoch } = await publisher.createChannel("feed", {
      history: { size: 10, ttlSeconds: 600 },
    });
    assert.ok(epoch);
    const plainToken = (await publisher.createChannel("plain")).channelToken;
    // A first "page" reads two pushes and stores its position, then goes away.
    const stored = await (async () => {
      await using page = await PushClient.connect(server.wsUrl, clientOptions(new Gate(compact)));
      const inbox = collector();
      await page.subscribe("feed", inbox.handler);
      await publisher.push("feed", channelToken, "seen 1");
      await publisher.push("feed", channelToken, "seen 2");
      await inbox.take();
      await inbox.take();
      return page.position("feed");
    })();
    assert.deepEqual(stored, { offset: 2, epoch });
    for (const m of ["missed 3", "missed 4"]) await publisher.push("feed", channelToken, m);

    await using reloaded = await PushClient.connect(
      server.wsUrl,
      clientOptions(new Gate(compact)),
    );
    let notRecovered = 0;
    reloaded.on("notRecovered", () => notRecovered++);
    const inbox = collector();
    await reloaded.subscribe("feed", inbox.handler, { since: stored ?? null });
    assert.deepEqual((await inbox.take()).slice(0, 1), ["missed 3"]);
    assert.deepEqual((await inbox.take()).slice(0, 1), ["missed 4"]);
    await publisher.push("feed", channelToken, "live 5");
    assert.equal((await inbox.take())[1].offset, 5);
    assert.equal(notRecovered, 0);

    // A second handler on the channel: `since` is not sent again, nothing is replayed twice.
    const second = collector();
    await reloaded.subscribe("feed", second.handler, { since: { offset: 0, epoch } });
    await publisher.push("feed", channelToken, "live 6");
    assert.equal((await second.take())[0], "live 6");
    assert.equal((await inbox.take())[0], "live 6");
    assert.equal(second.size + inbox.size, 0);
    assert.equal(notRecovered, 0);

    // A stale epoch: notRecovered, and the subscription starts at the top.
    await using stale = await PushClient.connect(server.wsUrl, clientOptions(new Gate(compact)));
    const missed = nextEvent(stale, "notRecovered");
    await stale.subscribe("feed", () => {}, { since: { offset: 1, epoch: "not-the-epoch" } });
    assert.deepEqual(await missed, {
      channel: "feed",
      since: { offset: 1, epoch: "not-the-epoch" },
      position: { offset: 6, epoch },
      epochChanged: true,
    });

    // On a channel without history `since` is ignored.
    const plain = collector();
    await stale.subscribe("plain", plain.handler, { since: { offset: 3, epoch } });
    assert.equal(stale.position("plain"), undefined);
    await publisher.push("plain", plainToken, "v1 push");
    assert.equal((await plain.take())[0], "v1 push");
  });

  Deno.test(`[e2e] PushClient private channels: 403, authorize callback, revoke (${frames})`, async (t) => {
    await using server = await startTestServer();
    const publisher = new PushPublisher({ baseUrl: server.httpUrl });
    const { channelToken } = await publisher.createChannel("room", { private: true });
    const open = (await publisher.createChannel("lobby")).channelToken;

    await t.step("without a grant, subscribe() rejects with the server's 403", async () => {
      await using client = await PushClient.connect(server.wsUrl, clientOptions(new Gate(compact)));
      const error = await client.subscribe("room", () => {}).then(
        () => assert.fail("subscribe should reject"),
        (e: unknown) => e,
      );
      assert.ok(error instanceof PushError);
      assert.equal(error.code, 403);
      assert.equal(error.message, "Forbidden");
      assert.match(error.errorDetails ?? "", /private/);
      assert.deepEqual(client.channels, []);
    });

    await t.step(
      "authorize() is asked once per connection, then again after a reconnect",
      async () => {
        const calls: [string, string][] = [];
        const gate = new Gate(compact);
        await using client = await PushClient.connect(
          server.wsUrl,
          clientOptions(gate, {
            // The app's backend: it checks its user may read the channel, then grants.
            authorize: async (uuid, channel) => {
              calls.push([uuid, channel]);
              await publisher.authorize(channel, channelToken, uuid);
            },
          }),
        );
        const inbox = collector();
        await client.subscribe("room", inbox.handler);
        await client.subscribe("lobby", () => {}); // public: the callback is not involved
        assert.deepEqual(calls, [[client.uuid, "room"]]);
        await publisher.push("room", channelToken, "members only");
        assert.equal((await inbox.take())[0], "members only");

        const reconnected = nextEvent(client, "reconnected", 10_000);
        gate.drop();
        const event = await reconnected;
        assert.deepEqual(calls, [[event.previousUuid, "room"], [event.uuid, "room"]]);
        await publisher.push("room", channelToken, "after reconnect");
        const [message, meta] = await inbox.take();
        assert.equal(message, "after reconnect");
        assert.equal(meta.uuid, event.uuid);
        assert.deepEqual([...client.channels].sort(), ["lobby", "room"]);
      },
    );

    await t.step("a callback that gets no grant: one retry, then the 403", async () => {
      let calls = 0;
      await using client = await PushClient.connect(
        server.wsUrl,
        clientOptions(new Gate(compact), { authorize: () => void calls++ }),
      );
      await assert.rejects(client.subscribe("room", () => {}), (e: unknown) => {
        assert.ok(e instanceof PushError);
        assert.equal(e.code, 403);
        return true;
      });
      assert.equal(calls, 1);
      assert.deepEqual(client.channels, []);
    });

    await t.step("a callback that throws: subscribe() rejects with its error", async () => {
      await using client = await PushClient.connect(
        server.wsUrl,
        clientOptions(new Gate(compact), {
          authorize: () => Promise.reject(new Error("backend said no")),
        }),
      );
      await assert.rejects(client.subscribe("room", () => {}), /backend said no/);
      // A 404 never asks the backend.
      await assert.rejects(client.subscribe("nope", () => {}), (e: unknown) => {
        assert.ok(e instanceof PushError);
        assert.equal(e.code, 404);
        return true;
      });
    });

    await t.step(
      "revoke: subscriptionRevoked, handlers removed, later requests unaffected",
      async () => {
        await using client = await PushClient.connect(
          server.wsUrl,
          clientOptions(new Gate(compact)),
        );
        await publisher.authorize("room", channelToken, client.uuid);
        const inbox = collector();
        await client.subscribe("room", inbox.handler);
        const lobby = collector();
        await client.subscribe("lobby", lobby.handler);
        const revoked = nextEvent(client, "subscriptionRevoked");
        await publisher.revoke("room", channelToken, client.uuid);
        assert.deepEqual(await revoked, { channel: "room" });
        assert.deepEqual(client.channels, ["lobby"]);
        // The revocation did not answer a request of the client's: the next one gets its own ack.
        await client.unsubscribe("lobby");
        await client.subscribe("lobby", lobby.handler);
        await publisher.push("room", channelToken, "not for you");
        await publisher.push("lobby", open, "still here");
        assert.equal((await lobby.take())[0], "still here");
        assert.equal(inbox.size, 0);
        // Revoking a public subscription works the same way.
        const kicked = nextEvent(client, "subscriptionRevoked");
        await publisher.revoke("lobby", open, client.uuid);
        assert.deepEqual(await kicked, { channel: "lobby" });
        assert.deepEqual(client.channels, []);
      },
    );

    await t.step("channelDeleted is emitted once and drops the channel", async () => {
      const doomed = await publisher.createChannel("doomed", {
        history: { size: 5, ttlSeconds: 60 },
      });
      await using client = await PushClient.connect(server.wsUrl, clientOptions(new Gate(compact)));
      await client.subscribe("doomed", () => {});
      await client.subscribe("lobby", () => {});
      const events: string[] = [];
      client.on("channelDeleted", ({ channel }) => events.push(channel));
      const deleted = nextEvent(client, "channelDeleted");
      await publisher.deleteChannel("doomed", doomed.channelToken);
      await deleted;
      await client.unsubscribe("lobby"); // a round trip: any second event would be here by now
      assert.deepEqual(events, ["doomed"]);
      assert.equal(client.position("doomed"), undefined);
    });
  });
}

Deno.test("PushClient rejects a malformed since and a non-function authorize", async () => {
  await assert.rejects(
    async () => {
      const client = new PushClient("ws://127.0.0.1:1", {});
      await client.subscribe("x", () => {}, { since: { offset: -1, epoch: "e" } });
    },
    TypeError,
  );
  await assert.rejects(
    async () => {
      const client = new PushClient("ws://127.0.0.1:1", {});
      await client.subscribe("x", () => {}, { since: { offset: 1, epoch: "" } });
    },
    TypeError,
  );
  assert.throws(
    () =>
      new PushClient("ws://127.0.0.1:1", {
        authorize: "yes" as unknown as () => void,
      }),
    TypeError,
  );
});
