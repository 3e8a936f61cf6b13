import assert from "node:assert/strict";
import fc from "fast-check";
import { action, createChannel, post, readJson, startTestServer } from "../_helpers.ts";
import { scrape } from "../e2e/_ops.ts";
import { deepNesting, hostileBytes } from "./_arbitraries.ts";

/** Requests sent by the property; the figures in the README's Reliability section count these. */
export const HTTP_RUNS = 2000;

const ROUTES = [
  "/channel/create",
  "/channel/ping",
  "/push",
  "/channel/delete",
  "/channel/authorize",
  "/channel/revoke",
  "/channel/rotate",
  "/",
  "/push/",
  "/channel",
  "/metrics",
  "/%00%ff",
] as const;

// deno-lint-ignore no-explicit-any -- the reply is arbitrary JSON
function assertEnvelope(status: number, contentType: string | null, body: any): void {
  assert.notEqual(status, 500, JSON.stringify(body));
  assert.equal(contentType, "application/json; charset=utf-8");
  assert.equal(body.code, status);
  if (status === 200) {
    assert.equal(body.messageType, "SERVER_ACK");
    assert.equal(typeof body.data.channel, "string");
  } else {
    assert.equal(body.messageType, "ERROR");
    assert.equal(typeof body.message, "string");
    assert.ok(body.data.errorDetails === null || typeof body.data.errorDetails === "string");
    assert.ok([400, 401, 403, 404, 405, 409, 413, 429, 507].includes(status), `status ${status}`);
  }
}

Deno.test("[fuzz] publisher HTTP: any bytes in, a valid envelope out, no 500, no lost channel", async (t) => {
  await using server = await startTestServer({ MAX_MESSAGE_BYTES: "1024" });
  const seeded = new Map<string, string>();
  for (const name of ["news", "sports", "weather"]) {
    seeded.set(name, await createChannel(server, name));
  }

  await t.step(`${HTTP_RUNS} generated bodies on every route`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), hostileBytes, async (route, bytes) => {
        const response = await fetch(`${server.httpUrl}${route}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: bytes,
        });
        const reply = await readJson(response);
        assertEnvelope(reply.status, reply.contentType, reply.body);
      }),
      { numRuns: HTTP_RUNS },
    );
  });

  await t.step("1 MiB bodies: deep nesting, huge arrays, numbers for strings", async () => {
    const limit = 1024 * 1024;
    const bodies: [string, number][] = [
      [deepNesting(limit / 2, "array"), 400],
      [deepNesting(Math.floor(limit / 6), "object"), 400],
      [
        JSON.stringify(action("PUSH_MESSAGE", {
          channel: "news",
          channelToken: "x",
          recipients: new Array(Math.floor(limit / 2) - 100).fill(1),
          message: "m",
        })),
        400,
      ],
      [
        JSON.stringify(action("PUSH_MESSAGE", {
          channel: "news",
          channelToken: "wrong",
          recipients: new Array(Math.floor(limit / 39) - 10).fill(crypto.randomUUID()),
          message: "m",
        })),
        403,
      ],
      [JSON.stringify(action("PUSH_MESSAGE", { channel: 1, channelToken: 2, recipients: 3 })), 400],
      ['{"__proto__":{"messageType":"SERVER_ACTION"},"constructor":{"prototype":{"a":1}}}', 400],
    ];
    for (const [body, status] of bodies) {
      assert.ok(body.length <= limit, `${body.length} bytes`);
      const reply = await post(`${server.httpUrl}/push`, body);
      assertEnvelope(reply.status, reply.contentType, reply.body);
      assert.equal(reply.status, status);
    }
  });

  await t.step(
    "v1.1 actions (authorize, revoke, rotate, create options) with generated data",
    async () => {
      const names = [...seeded.keys()];
      const anyValue = fc.oneof(
        fc.string(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(fc.string(), { maxLength: 3 }),
        fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
      );
      const data = fc.record({
        channel: fc.oneof(fc.constantFrom(...names), anyValue),
        // The right token only where it changes nothing (rotate would replace it).
        channelToken: fc.oneof(fc.constant("wrong"), anyValue),
        uuid: fc.oneof(fc.uuid(), fc.constant(crypto.randomUUID().toUpperCase()), anyValue),
        history: fc.oneof(
          fc.record({ size: fc.integer(), ttlSeconds: fc.oneof(fc.integer(), anyValue) }),
          anyValue,
        ),
        private: anyValue,
      }, { requiredKeys: [] });
      const actions = [
        ["/channel/authorize", "AUTHORIZE_SUBSCRIBER"],
        ["/channel/revoke", "REVOKE_SUBSCRIBER"],
        ["/channel/rotate", "ROTATE_TOKEN"],
        ["/channel/create", "CREATE_CHANNEL"],
      ] as const;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...actions), data, async ([route, name], fields) => {
          const reply = await post(`${server.httpUrl}${route}`, action(name, fields));
          assertEnvelope(reply.status, reply.contentType, reply.body);
          if (reply.status === 200 && name === "CREATE_CHANNEL") {
            // A generated channel was created: delete it so the seeded set stays what it was.
            const created = reply.body.data;
            const gone = await post(
              `${server.httpUrl}/channel/delete`,
              action("DELETE_CHANNEL", {
                channel: created.channel,
                channelToken: created.channelToken,
              }),
            );
            assert.equal(gone.status, 200);
          }
        }),
        { numRuns: 400 },
      );
      for (const [channel, channelToken] of seeded) {
        const uuid = crypto.randomUUID();
        const reply = await post(
          `${server.httpUrl}/channel/authorize`,
          action("AUTHORIZE_SUBSCRIBER", { channel, channelToken, uuid }),
        );
        assert.equal(reply.status, 404, "no connection has a fresh UUID");
      }
    },
  );

  await t.step("still healthy, every seeded channel still there with its token", async () => {
    assert.equal((await readJson(await fetch(`${server.httpUrl}/healthz`))).status, 200);
    for (const [channel, channelToken] of seeded) {
      const reply = await post(
        `${server.httpUrl}/channel/ping`,
        action("PING_CHANNEL", { channel, channelToken }),
      );
      assert.equal(reply.status, 200, channel);
    }
    const metrics = await scrape(server.httpUrl);
    assert.equal(metrics.get('pushserver_errors_total{transport="http",code="500"}'), undefined);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
