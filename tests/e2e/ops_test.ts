import assert from "node:assert/strict";
import { action, createChannel, post, push, readJson, TestClient } from "../_helpers.ts";
import { scrape, waitForInFlight } from "./_ops.ts";
import { e2e } from "./_backends.ts";

e2e("GET /healthz and /readyz", async (t, backend) => {
  await using server = await backend.start();

  await t.step("healthz: 200 ok", async () => {
    const reply = await readJson(await fetch(`${server.httpUrl}/healthz`));
    assert.equal(reply.status, 200);
    assert.equal(reply.contentType, "application/json; charset=utf-8");
    assert.deepEqual(reply.body, { status: "ok" });
  });

  await t.step("readyz: 200 while both ports listen and the store is open", async () => {
    const reply = await readJson(await fetch(`${server.httpUrl}/readyz`));
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { status: "ready" });
  });

  await t.step("other methods: 405 with Allow", async () => {
    const reply = await readJson(await fetch(`${server.httpUrl}/healthz`, { method: "POST" }));
    assert.equal(reply.status, 405);
    assert.match(reply.headers.get("allow") ?? "", /GET/);
  });

  await t.step("readyz: 503 once shutdown has begun", async () => {
    // Hold shutdown in its drain phase with a request whose body has not finished arriving.
    const body = new TransformStream<Uint8Array, Uint8Array>();
    const writer = body.writable.getWriter();
    const pending = fetch(`${server.httpUrl}/channel/ping`, {
      method: "POST",
      body: body.readable,
    });
    await writer.write(new TextEncoder().encode('{"messageType":"SERVER_ACTION",'));
    await waitForInFlight(server.httpUrl, 1);
    const stopping = server.shutdown();
    const reply = await readJson(await fetch(`${server.httpUrl}/readyz`));
    assert.equal(reply.status, 503);
    assert.equal(reply.body.code, 503);
    await writer.write(new TextEncoder().encode('"action":"PING_CHANNEL","data":{"channel":"x"}}'));
    await writer.close();
    assert.equal((await readJson(await pending)).status, 404);
    await stopping;
  });
});

e2e("GET /metrics: Prometheus text with every documented series", async (t, backend) => {
  await using server = await backend.start();
  const token = await createChannel(server, "news");
  await createChannel(server, "sports");
  await using a = await TestClient.connect(server.wsUrl);
  await using b = await TestClient.connect(server.wsUrl);
  await a.act("SUBSCRIBE", "news");
  await a.act("SUBSCRIBE", "sports");
  await b.act("SUBSCRIBE", "news");
  assert.equal(
    (await push(server, { channel: "news", channelToken: token, message: "1" })).status,
    200,
  );
  await a.next();
  await b.next();
  await push(server, { channel: "news", channelToken: "wrong", message: "no" }); // 403
  await post(`${server.httpUrl}/push`, "not json"); // 400
  await fetch(`${server.httpUrl}/nope`).then((r) => r.body?.cancel()); // 404
  assert.equal((await a.act("SUBSCRIBE", "missing")).code, 404); // ws 404

  const response = await fetch(`${server.httpUrl}/metrics`);
  const body = await response.text();

  await t.step("status and content type", () => {
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  });

  await t.step(
    "every line is a comment or a well-formed sample; every series has HELP and TYPE",
    () => {
      const helped = new Set<string>();
      const typed = new Map<string, string>();
      for (const line of body.trimEnd().split("\n")) {
        const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
        if (comment) {
          if (comment[1] === "HELP") helped.add(comment[2]!);
          else typed.set(comment[2]!, comment[3]!);
          continue;
        }
        const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (\S+)$/
          .exec(line);
        assert.ok(sample, `malformed line: ${line}`);
        assert.ok(Number.isFinite(Number(sample[4])), `not a number: ${line}`);
        const family = sample[1]!.replace(/_(bucket|sum|count)$/, "");
        assert.ok(typed.has(sample[1]!) || typed.get(family) === "histogram", `no TYPE: ${line}`);
      }
      for (const name of typed.keys()) assert.ok(helped.has(name), `no HELP for ${name}`);
    },
  );

  await t.step("values", async () => {
    // Each node counts its own work: sockets on the subscribers' node, publisher requests on the
    // publishers' node (one node in single mode). The channel count is the whole cluster's.
    const m = await scrape(server.publisherNode.httpUrl);
    assert.equal(m.get("pushserver_channels"), 2);
    assert.equal(m.get("pushserver_http_requests_in_flight"), 1); // the scrape itself
    assert.equal(m.get("pushserver_pushes_total"), 1);
    assert.equal(m.get('pushserver_errors_total{transport="http",code="403"}'), 1);
    assert.equal(m.get('pushserver_errors_total{transport="http",code="400"}'), 1);
    assert.equal(m.get('pushserver_errors_total{transport="http",code="404"}'), 1);
    const ws = await scrape(server.subscriberNode.httpUrl);
    assert.equal(ws.get("pushserver_connections"), 2);
    assert.equal(ws.get("pushserver_subscriptions"), 3);
    assert.equal(ws.get("pushserver_connections_opened_total"), 2);
    assert.equal(ws.get("pushserver_connections_rejected_total"), 0);
    assert.equal(ws.get("pushserver_deliveries_total"), 2);
    assert.equal(ws.get("pushserver_dropped_messages_total"), 0);
    assert.equal(ws.get("pushserver_slow_consumer_closes_total"), 0);
    assert.equal(ws.get('pushserver_errors_total{transport="ws",code="404"}'), 1);
  });

  await t.step("every node reports the channel count", async () => {
    for (const node of server.nodes) {
      assert.equal((await scrape(node.httpUrl)).get("pushserver_channels"), 2);
    }
  });

  await t.step("request latency histogram: cumulative buckets, +Inf equals count", async () => {
    const m = await scrape(server.httpUrl);
    const name = "pushserver_http_request_duration_seconds";
    const buckets = [...m].filter(([k]) => k.startsWith(`${name}_bucket`));
    assert.ok(buckets.length >= 5);
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(buckets[i]![1] >= buckets[i - 1]![1], `bucket ${buckets[i]![0]} decreases`);
    }
    assert.equal(buckets.at(-1)![0], `${name}_bucket{le="+Inf"}`);
    const count = m.get(`${name}_count`)!;
    assert.equal(buckets.at(-1)![1], count);
    // 2 creates, 2 pushes, 1 bad body, 1 unknown route, 2 scrapes so far (the current one is not
    // yet observed when it renders).
    assert.ok(count >= 8, `count ${count}`);
    assert.ok(m.get(`${name}_sum`)! > 0);
  });
});

e2e("GET /sysadmin", async (t, backend) => {
  await t.step("disabled without ADMIN_TOKEN: 404", async () => {
    await using server = await backend.start();
    const reply = await readJson(
      await fetch(`${server.httpUrl}/sysadmin`, { headers: { authorization: "Bearer x" } }),
    );
    assert.equal(reply.status, 404);
    assert.equal(reply.body.messageType, "ERROR");
  });

  await using server = await backend.start({ ADMIN_TOKEN: "s3cret-admin-token" });
  await createChannel(server, "news");
  await createChannel(server, "sports");
  await using client = await TestClient.connect(server.wsUrl);
  // clientsAmount counts the answering node's own connections: ask the subscribers' node.
  const get = async (authorization?: string) =>
    await readJson(
      await fetch(`${server.subscriberNode.httpUrl}/sysadmin`, {
        headers: authorization === undefined ? {} : { authorization },
      }),
    );

  for (
    const [label, header] of [
      ["no header", undefined],
      ["wrong token", "Bearer s3cret-admin-tokeN"],
      ["token prefix", "Bearer s3cret"],
      ["token with a suffix", "Bearer s3cret-admin-token2"],
      ["not bearer", "Basic s3cret-admin-token"],
      ["empty bearer", "Bearer "],
    ] as const
  ) {
    await t.step(`${label}: 401`, async () => {
      const reply = await get(header);
      assert.equal(reply.status, 401);
      assert.equal(reply.body.code, 401);
      assert.equal(reply.body.message, "Unauthorized");
      assert.ok(!JSON.stringify(reply.body).includes("s3cret"));
    });
  }

  await t.step("the right bearer token: 200 with channels and clients", async () => {
    const reply = await get("Bearer s3cret-admin-token");
    assert.equal(reply.status, 200);
    assert.equal(reply.contentType, "application/json; charset=utf-8");
    assert.deepEqual(reply.body, {
      messageType: "SERVER_SYSADMIN",
      code: 200,
      message: "OK",
      data: { channels: ["news", "sports"], channelsAmount: 2, clientsAmount: 1 },
    });
    assert.ok(client.uuid);
  });

  await t.step("no channel tokens anywhere in the answer", async () => {
    const text = JSON.stringify((await get("Bearer s3cret-admin-token")).body);
    assert.ok(!/tokenHash|channelToken|\$2[aby]\$/.test(text));
  });
});

e2e("operations endpoints are not publisher routes", async (_t, backend) => {
  await using server = await backend.start();
  const reply = await post(`${server.httpUrl}/metrics`, action("CREATE_CHANNEL", { channel: "x" }));
  assert.equal(reply.status, 405);
});
