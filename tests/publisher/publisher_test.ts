import assert from "node:assert/strict";
import { PushApiError, PushPublisher } from "../../src/publisher/publisher.js";
import { startTestServer, TestClient } from "../_helpers.ts";

/** Runs `promise`, expecting a PushApiError with `code`; returns it for more checks. */
async function apiError(promise: Promise<unknown>, code: number): Promise<PushApiError> {
  const error = await promise.then(
    () => assert.fail(`expected a ${code} PushApiError`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof PushApiError, `not a PushApiError: ${error}`);
  assert.equal(error.code, code);
  return error;
}

Deno.test("[e2e] PushPublisher against a real server", async (t) => {
  await using server = await startTestServer();
  const publisher = new PushPublisher({ baseUrl: `${server.httpUrl}/` });
  let token = "";

  await t.step("baseUrl drops a trailing slash", () => {
    assert.equal(publisher.baseUrl, server.httpUrl);
  });

  await t.step("createChannel() resolves with the channel and its token", async () => {
    const created = await publisher.createChannel("news");
    assert.equal(created.channel, "news");
    assert.match(created.channelToken, /^[A-Za-z0-9_-]{43}$/);
    token = created.channelToken;
  });

  await t.step("createChannel() on a taken name throws 409 Conflict", async () => {
    const error = await apiError(publisher.createChannel("news"), 409);
    assert.equal(error.message, "Conflict");
    assert.equal(error.errorDetails, 'A channel called "news" already exists');
  });

  await t.step("ping() answers for existence, or for the token when one is given", async () => {
    assert.deepEqual(await publisher.ping("news"), { channel: "news" });
    assert.deepEqual(await publisher.ping("news", token), { channel: "news" });
    await apiError(publisher.ping("news", "wrong"), 403);
    const missing = await apiError(publisher.ping("nope"), 404);
    assert.equal(missing.message, "Not found");
  });

  await t.step("push() delivers to subscribers; recipients narrows it", async () => {
    await using a = await TestClient.connect(server.wsUrl);
    await using b = await TestClient.connect(server.wsUrl);
    await a.act("SUBSCRIBE", "news");
    await b.act("SUBSCRIBE", "news");
    assert.deepEqual(await publisher.push("news", token, "to all"), { channel: "news" });
    assert.equal((await a.next()).data.pushMessage.message, "to all");
    assert.equal((await b.next()).data.pushMessage.message, "to all");
    await publisher.push("news", token, "to b", { recipients: [b.uuid] });
    assert.equal((await b.next()).data.pushMessage.message, "to b");
    assert.equal(await a.receivedNothing(), true);
  });

  await t.step("push() with a bad token or bad recipients throws the server's error", async () => {
    const forbidden = await apiError(publisher.push("news", "wrong", "x"), 403);
    assert.equal(forbidden.errorDetails, "Channel token is invalid");
    const bad = await apiError(publisher.push("news", token, "x", { recipients: ["nope"] }), 400);
    assert.equal(bad.errorDetails, "data.recipients[0]: invalid UUID");
    await apiError(publisher.push("nope", token, "x"), 404);
  });

  await t.step("push() of an oversized message throws 413", async () => {
    await apiError(publisher.push("news", token, "x".repeat(70_000)), 413);
  });

  await t.step("deleteChannel() removes the channel", async () => {
    await apiError(publisher.deleteChannel("news", "wrong"), 403);
    assert.deepEqual(await publisher.deleteChannel("news", token), { channel: "news" });
    await apiError(publisher.ping("news"), 404);
  });

  await t.step("a signal aborts the request", async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      publisher.createChannel("aborted", { signal: controller.signal }),
      (e: unknown) => e instanceof DOMException && e.name === "AbortError",
    );
  });
});

Deno.test("[e2e] PushPublisher v1.1: history, private channels, grants, rotation", async (t) => {
  await using server = await startTestServer();
  const publisher = new PushPublisher({ baseUrl: server.httpUrl });

  await t.step("createChannel() without options returns exactly the v1 fields", async () => {
    const created = await publisher.createChannel("plain");
    assert.deepEqual(Object.keys(created).sort(), ["channel", "channelToken"]);
    assert.deepEqual(await publisher.push("plain", created.channelToken, "x"), {
      channel: "plain",
    });
  });

  await t.step("createChannel({ history }) returns the retention and an epoch", async () => {
    const history = { size: 5, ttlSeconds: 60 };
    const created = await publisher.createChannel("feed", { history });
    assert.equal(created.channel, "feed");
    assert.deepEqual(created.history, history);
    assert.equal(typeof created.epoch, "string");
    assert.ok((created.epoch ?? "").length > 0);
    assert.equal(created.private, undefined);
    const token = created.channelToken;

    const first = await publisher.push("feed", token, "one");
    const second = await publisher.push("feed", token, "two");
    assert.deepEqual(first, { channel: "feed", offset: 1, epoch: created.epoch });
    assert.deepEqual(second, { channel: "feed", offset: 2, epoch: created.epoch });
    // A targeted push is not stored, so it has no position.
    await using subscriber = await TestClient.connect(server.wsUrl);
    await subscriber.act("SUBSCRIBE", "feed");
    assert.deepEqual(
      await publisher.push("feed", token, "just you", { recipients: [subscriber.uuid] }),
      { channel: "feed" },
    );
    assert.deepEqual(await publisher.ping("feed", token), {
      channel: "feed",
      private: false,
      history,
    });
    assert.deepEqual(await publisher.ping("feed"), { channel: "feed" });
  });

  await t.step("createChannel() with a bad history size throws 400", async () => {
    const error = await apiError(
      publisher.createChannel("bad", { history: { size: 0, ttlSeconds: 60 } }),
      400,
    );
    assert.match(error.errorDetails ?? "", /history\.size/);
  });

  await t.step(
    "private: subscribe refused, authorize() lets one connection in, revoke() ends it",
    async () => {
      const created = await publisher.createChannel("room", { private: true });
      assert.equal(created.private, true);
      assert.equal(created.epoch, undefined);
      const token = created.channelToken;
      assert.deepEqual(await publisher.ping("room", token), {
        channel: "room",
        private: true,
        history: null,
      });
      await using member = await TestClient.connect(server.wsUrl);
      await using outsider = await TestClient.connect(server.wsUrl);
      const refused = await member.act("SUBSCRIBE", "room");
      assert.equal(refused.code, 403);

      assert.deepEqual(await publisher.authorize("room", token, member.uuid), {
        channel: "room",
        uuid: member.uuid,
      });
      assert.equal((await member.act("SUBSCRIBE", "room")).message, "Subscribed");
      assert.equal((await outsider.act("SUBSCRIBE", "room")).code, 403);

      // revoke() unsubscribes the connection and tells it.
      assert.deepEqual(await publisher.revoke("room", token, member.uuid), {
        channel: "room",
        uuid: member.uuid,
      });
      const told = await member.next();
      assert.equal(told.message, "Subscription Revoked");
      assert.deepEqual(told.data.subscribedChannels, []);
      assert.equal((await member.act("SUBSCRIBE", "room")).code, 403);
    },
  );

  await t.step("authorize()/revoke() map the server's errors", async () => {
    const token = (await publisher.createChannel("guarded", { private: true })).channelToken;
    const stranger = crypto.randomUUID();
    const unknown = await apiError(publisher.authorize("guarded", token, stranger), 404);
    assert.match(unknown.errorDetails ?? "", new RegExp(stranger));
    await apiError(publisher.authorize("guarded", "wrong", stranger), 403);
    await apiError(publisher.authorize("missing", token, stranger), 404);
    await apiError(publisher.authorize("guarded", token, "not-a-uuid"), 400);
    // Revoking a UUID that is not connected is fine.
    assert.deepEqual(await publisher.revoke("guarded", token, stranger), {
      channel: "guarded",
      uuid: stranger,
    });
    await apiError(publisher.revoke("guarded", "wrong", stranger), 403);
  });

  await t.step("rotateToken() returns a new token; the old one is refused at once", async () => {
    const old = (await publisher.createChannel("rotating")).channelToken;
    const rotated = await publisher.rotateToken("rotating", old);
    assert.equal(rotated.channel, "rotating");
    assert.match(rotated.channelToken, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(rotated.channelToken, old);
    await apiError(publisher.push("rotating", old, "x"), 403);
    await apiError(publisher.rotateToken("rotating", old), 403);
    assert.deepEqual(await publisher.push("rotating", rotated.channelToken, "x"), {
      channel: "rotating",
    });
    await apiError(publisher.rotateToken("nope", old), 404);
  });
});

Deno.test("[e2e] PushPublisher.createChannel() past MAX_CHANNELS throws 507", async () => {
  await using server = await startTestServer({ MAX_CHANNELS: "1" });
  const publisher = new PushPublisher({ baseUrl: server.httpUrl });
  await publisher.createChannel("only");
  const full = await apiError(publisher.createChannel("second"), 507);
  assert.equal(full.message, "Insufficient Storage");
  // A taken name is still 409.
  await apiError(publisher.createChannel("only"), 409);
});

Deno.test("[e2e] PushPublisher sends CREATE_TOKEN through the headers option", async () => {
  const createToken = "create-token-of-16+chars";
  await using server = await startTestServer({ CREATE_TOKEN: createToken });
  const anonymous = new PushPublisher({ baseUrl: server.httpUrl });
  await apiError(anonymous.createChannel("news"), 401);
  const allowed = new PushPublisher({
    baseUrl: server.httpUrl,
    headers: { authorization: `Bearer ${createToken}` },
  });
  assert.equal((await allowed.createChannel("news")).channel, "news");
});

Deno.test("PushPublisher turns a reply that is not an envelope into a PushApiError", async () => {
  const requests: Request[] = [];
  const publisher = new PushPublisher({
    baseUrl: "http://push.invalid",
    headers: { "x-proxy-key": "k" },
    fetch: (input, init) => {
      requests.push(new Request(input, init));
      return Promise.resolve(
        new Response("<html>Bad Gateway</html>", { status: 502, statusText: "Bad Gateway" }),
      );
    },
  });
  const error = await apiError(publisher.ping("news"), 502);
  assert.equal(error.message, "Bad Gateway");
  assert.equal(
    error.errorDetails,
    "/channel/ping answered HTTP 502 without a pushserver envelope",
  );
  const [request] = requests;
  assert.ok(request);
  assert.equal(request.url, "http://push.invalid/channel/ping");
  assert.equal(request.headers.get("x-proxy-key"), "k");
  assert.equal(request.headers.get("content-type"), "application/json");
  assert.deepEqual(await request.json(), {
    messageType: "SERVER_ACTION",
    action: "PING_CHANNEL",
    data: { channel: "news", channelToken: null },
  });
});

Deno.test("new PushPublisher() without a baseUrl throws a TypeError", () => {
  assert.throws(
    () => new PushPublisher({} as unknown as { baseUrl: string }),
    (e: unknown) => e instanceof TypeError && /baseUrl/.test(e.message),
  );
});

Deno.test("[e2e] the SDK and the client run unchanged in Node", async () => {
  // Node ≥ 18 has fetch; Node 20 needs --experimental-websocket for a global WebSocket (22+ has it).
  const node = await new Deno.Command("node", { args: ["--version"], stdout: "piped" })
    .output()
    .catch(() => undefined);
  assert.ok(node?.success, "node is not installed; CI installs Deno through npm, so it should be");
  await using server = await startTestServer();
  const root = new URL("../../src/", import.meta.url).href;
  const script = `
    import { PushPublisher, PushApiError } from "${root}publisher/publisher.js";
    import { PushClient } from "${root}client/pushserver.js";
    const publisher = new PushPublisher({ baseUrl: process.env.HTTP_URL });
    const { channelToken } = await publisher.createChannel("from-node");
    const client = await PushClient.connect(process.env.WS_URL);
    const received = new Promise((resolve) => {
      client.subscribe("from-node", (message, meta) => resolve({ message, meta }))
        .then(() => publisher.push("from-node", channelToken, "hi from node"));
    });
    const got = await received;
    let code = null;
    try { await publisher.ping("from-node", "wrong"); } catch (e) { code = e instanceof PushApiError ? e.code : -1; }
    await client.close();
    process.stdout.write(JSON.stringify({ ...got, uuid: client.uuid, code }));
  `;
  const major = Number(new TextDecoder().decode(node.stdout).match(/^v(\d+)/)?.[1]);
  const flags = major < 22 ? ["--experimental-websocket"] : [];
  const run = await new Deno.Command("node", {
    args: [...flags, "--no-warnings", "--input-type=module", "-e", script],
    env: { HTTP_URL: server.httpUrl, WS_URL: server.wsUrl },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(run.stderr);
  assert.equal(run.code, 0, stderr);
  const result = JSON.parse(new TextDecoder().decode(run.stdout));
  assert.equal(result.message, "hi from node");
  assert.equal(result.meta.channel, "from-node");
  assert.equal(result.meta.uuid, result.uuid);
  assert.equal(result.code, 403);
});
