import { Hub } from "../../src/hub/hub.ts";
import { LocalChannelPresence } from "../../src/local/local_channel_presence.ts";
import assert from "node:assert/strict";
import { ChannelCache } from "../../src/channels/cache.ts";
import { createChannelService } from "../../src/channels/service.ts";
import { SqliteChannelStore } from "../../src/local/sqlite_store.ts";
import type { Broker } from "../../src/hub/broker.ts";
import { createHttpApp } from "../../src/http/app.ts";
import { BodyReader } from "../../src/http/body.ts";
import type { LogFields, Logger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { openApiDocument } from "../../src/protocol/openapi.ts";
import { ACTION_ROUTES } from "../../src/protocol/routes.ts";

async function appWith(broker: Broker, options: { corsOrigins?: readonly string[] } = {}) {
  const store = new SqliteChannelStore(":memory:");
  const service = await createChannelService({
    store,
    cache: new ChannelCache({ records: [] }),
    hasher: {
      hash: (t) => Promise.resolve(`h:${t}`),
      verify: (t, h) => Promise.resolve(h === `h:${t}`),
      close() {},
    },
    maxTokenChecks: 4,
    generateToken: () => "secret-token",
  });
  const logged: { msg: string; fields: LogFields | undefined }[] = [];
  const record = (msg: string, fields?: LogFields) => logged.push({ msg, fields });
  const logger: Logger = { debug: record, info: record, warn: record, error: record };
  const bodies = new BodyReader({
    maxBodyBytes: 4096,
    maxBodyBytesInFlight: 65536,
    requestTimeoutS: 5,
  });
  const app = createHttpApp({
    service,
    broker,
    grants: {
      grant: () => Promise.resolve(false),
      revoke: () => Promise.resolve(),
      isGranted: () => false,
    },
    channelPresence: new LocalChannelPresence(new Hub({ maxSubscriptionsPerConnection: 1 }), {
      maxMembers: 10,
      eventsMax: 10,
    }),
    metrics: new Metrics(),
    logger,
    limits: { maxBodyBytes: 4096, maxMessageBytes: 100 },
    bodies,
    adminToken: undefined,
    gauges: () => ({ connections: 0, subscriptions: 0, channels: service.size }),
    isReady: () => true,
    ...options,
  });
  return {
    app,
    logged,
    [Symbol.dispose]: () => {
      bodies.close();
      store.close();
    },
  };
}

function request(action: string, data: Record<string, unknown>): RequestInit {
  return { method: "POST", body: JSON.stringify({ messageType: "SERVER_ACTION", action, data }) };
}

const failingBroker: Broker = {
  publish: () => Promise.reject(new Error("broker exploded")),
  history: () => Promise.reject(new Error("broker exploded")),
  subscribe: () => undefined,
  unsubscribe: () => {},
  close: () => Promise.resolve(),
};

Deno.test("an unexpected failure is a 500 with null details, logged without the token or body", async () => {
  using world = await appWith(failingBroker);
  const created = await world.app.request(
    "/channel/create",
    request("CREATE_CHANNEL", { channel: "n" }),
  );
  assert.equal(created.status, 200);
  const response = await world.app.request(
    "/push",
    request("PUSH_MESSAGE", {
      channel: "n",
      channelToken: "secret-token",
      recipients: [],
      message: "private body",
    }),
  );
  assert.equal(response.status, 500);
  assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
  assert.deepEqual(await response.json(), {
    messageType: "ERROR",
    code: 500,
    message: "Internal Server Error",
    data: { errorDetails: null },
  });
  const logText = JSON.stringify(world.logged, (_k, v) => v instanceof Error ? v.message : v);
  assert.match(logText, /broker exploded/);
  assert.ok(!logText.includes("secret-token"), "no token in logs");
  assert.ok(!logText.includes("private body"), "no message body in logs");
});

Deno.test("every publisher call writes a request log line with status and duration", async () => {
  using world = await appWith(failingBroker);
  await world.app.request(
    "/channel/ping",
    request("PING_CHANNEL", { channel: "nope", channelToken: null }),
  );
  const line = world.logged.find((l) => l.msg === "request");
  assert.ok(line);
  assert.equal(line.fields?.status, 404);
  assert.equal(line.fields?.path, "/channel/ping");
  assert.equal(typeof line.fields?.durationMs, "number");
});

Deno.test("every route of ACTION_ROUTES is registered: POST parses its action, other methods 405", async () => {
  using world = await appWith(failingBroker, { corsOrigins: ["https://app.example"] });
  for (const { path, action } of ACTION_ROUTES) {
    for (const route of [path, `${path}/`]) {
      const wrong = await world.app.request(route, request("NOT_AN_ACTION", {}));
      assert.equal(wrong.status, 400, route);
      const details = (await wrong.json()).data.errorDetails as string;
      assert.ok(details.includes(action), `${route} parses ${action}: ${details}`);

      const get = await world.app.request(route);
      assert.equal(get.status, 405, route);
      assert.equal(get.headers.get("allow"), "POST");
      await get.body?.cancel();

      const preflight = await world.app.request(route, {
        method: "OPTIONS",
        headers: {
          origin: "https://app.example",
          "access-control-request-method": "POST",
        },
      });
      assert.equal(preflight.status, 204, `${route} preflight`);
    }
    const deeper = await world.app.request(`${path}/x`, request(action, {}));
    assert.equal(deeper.status, 404, `${path}/x`);
    await deeper.body?.cancel();
  }
});

Deno.test("the app registers exactly the paths the OpenAPI document lists", async () => {
  using world = await appWith(failingBroker);
  const registered = new Set(
    world.app.routes
      .map((route) => route.path)
      .filter((path) => path !== "/*" && path !== "*")
      .map((path) => path.replace(/(.)\/$/, "$1")),
  );
  const documented = Object.keys(openApiDocument().paths as Record<string, unknown>);
  assert.deepEqual([...registered].sort(), documented.sort());
});
