/**
 * The contract checks that every end-to-end test runs (tests/_contract.ts): they accept what the
 * documents allow, and they catch what the documents do not list, both through direct calls and
 * through the hooks in the shared helpers (fetch, TestClient, RawWebSocket).
 */
import assert from "node:assert/strict";
import {
  checkCloseCode,
  checkFetches,
  checkFrame,
  checkHttp,
  type HttpExchange,
  Watch,
} from "./_contract.ts";
import { startTestServer, TestClient } from "./_helpers.ts";
import { RawWebSocket } from "./e2e/_raw_ws.ts";

const UUID = "0b7c6f6e-8d1a-4e43-9a55-3f0e2b8c9d10";
const TOKEN = "q3VvB1m9W6bXh5c2lJk0RrT8yZa4sQeDfGhUiOpLnMx";
const JSON_TYPE = "application/json; charset=utf-8";

function http(
  exchange: Partial<Omit<HttpExchange, "body">> & { body: unknown },
): string | undefined {
  return checkHttp({
    port: "http",
    method: "POST",
    path: "/push",
    status: 200,
    contentType: JSON_TYPE,
    ...exchange,
    body: typeof exchange.body === "string" ? exchange.body : JSON.stringify(exchange.body),
  });
}

function errorBody(code: number, message: string) {
  return { messageType: "ERROR", code, message, data: { errorDetails: "x" } };
}

Deno.test("checkHttp() accepts documented answers, v1 and v1.1", () => {
  const sent = { messageType: "SERVER_ACK", code: 200, message: "Sent" };
  assert.equal(http({ body: { ...sent, data: { channel: "n", channelToken: null } } }), undefined);
  assert.equal(
    http({ body: { ...sent, data: { channel: "n", channelToken: null, offset: 3, epoch: "e" } } }),
    undefined,
  );
  assert.equal(
    http({
      path: "/channel/create",
      body: {
        messageType: "SERVER_ACK",
        code: 200,
        message: "Created",
        data: { channel: "n", channelToken: TOKEN, private: true },
      },
    }),
    undefined,
  );
  assert.equal(http({ status: 403, body: errorBody(403, "Forbidden") }), undefined);
  assert.equal(http({ path: "/push/", status: 404, body: errorBody(404, "Not found") }), undefined);
  assert.equal(
    http({ method: "GET", status: 405, body: errorBody(405, "Method Not Allowed") }),
    undefined,
  );
  assert.equal(http({ method: "OPTIONS", status: 204, contentType: null, body: "" }), undefined);
  assert.equal(
    http({ method: "GET", path: "/healthz", body: { status: "ok" } }),
    undefined,
  );
  assert.equal(
    http({ method: "HEAD", path: "/js/pushserver.js", contentType: "text/javascript", body: "" }),
    undefined,
  );
  assert.equal(
    http({ method: "GET", path: "/nope", status: 404, body: errorBody(404, "Not found") }),
    undefined,
  );
  assert.equal(
    http({
      port: "ws",
      method: "GET",
      path: "/",
      status: 426,
      body: errorBody(426, "Upgrade Required"),
    }),
    undefined,
  );
});

Deno.test("checkHttp() refuses an unlisted status, a wrong body, a wrong type or a stray body", () => {
  assert.match(http({ status: 409, body: errorBody(409, "Conflict") }) ?? "", /does not list/);
  assert.match(
    http({
      method: "GET",
      path: "/nope",
      status: 405,
      body: errorBody(405, "Method Not Allowed"),
    }) ??
      "",
    /does not list/,
  );
  assert.match(
    http({ port: "ws", method: "GET", path: "/", status: 201, body: "{}" }) ?? "",
    /does not list/,
  );
  // An extra field, a wrong message, a missing field.
  assert.match(
    http({
      body: {
        messageType: "SERVER_ACK",
        code: 200,
        message: "Sent",
        data: { channel: "n", channelToken: null, extra: 1 },
      },
    }) ?? "",
    /does not match/,
  );
  assert.match(http({ status: 403, body: errorBody(403, "Nope") }) ?? "", /does not match/);
  assert.match(
    http({ status: 400, body: { messageType: "ERROR", code: 400, message: "Bad Request" } }) ?? "",
    /does not match/,
  );
  assert.match(http({ contentType: "text/plain", body: "Sent" }) ?? "", /as text\/plain/);
  assert.match(http({ body: "not json" }) ?? "", /not JSON/);
  assert.match(
    http({ method: "OPTIONS", status: 204, contentType: null, body: "x" }) ?? "",
    /documented as empty/,
  );
});

Deno.test("checkFrame() accepts every documented server frame and nothing else", () => {
  const ack = (message: string, data: unknown) =>
    JSON.stringify({ messageType: "CLIENT_ACK", code: 200, message, data });
  const valid = [
    ack("Connected", { uuid: UUID, subscribedChannels: [] }),
    ack("Connected", { uuid: UUID }),
    ack("Subscribed", { uuid: UUID, subscribedChannels: ["a"] }),
    ack("Subscribed", {
      uuid: UUID,
      channel: "a",
      recovery: { channel: "a", epoch: "e", offset: 4, recovered: true },
    }),
    ack("Channel Deleted", { uuid: UUID, subscribedChannels: [] }),
    ack("Subscription Revoked", { uuid: UUID, channel: "a" }),
    JSON.stringify({
      messageType: "CLIENT_PUSH",
      code: 200,
      message: "Push Message",
      data: { pushMessage: { channel: "a", message: "m", offset: 1, epoch: "e" } },
    }),
    JSON.stringify(errorBody(400, "Bad JSON")),
    JSON.stringify(errorBody(429, "Too Many Requests")),
  ];
  for (const frame of valid) assert.equal(checkFrame(frame), undefined, frame);
  const invalid = [
    "not json",
    ack("Connected", { uuid: "not-a-uuid", subscribedChannels: [] }),
    ack("Unsubscribed", { uuid: UUID, subscribedChannels: [], recovery: null }),
    ack("Hello", { uuid: UUID, subscribedChannels: [] }),
    JSON.stringify(errorBody(400, "Bad Request")), // the HTTP port's wording, not a frame's
    JSON.stringify(errorBody(409, "Conflict")),
  ];
  for (const frame of invalid) assert.ok(checkFrame(frame) !== undefined, frame);
  assert.equal(checkCloseCode(4008), undefined);
  assert.equal(checkCloseCode(1000), undefined);
  assert.match(checkCloseCode(4000) ?? "", /x-close-codes/);
});

/** A fake "server" on two ports that answers whatever the test wants, watched like a real one. */
function fakeServer(
  answer: (request: Request) => Response,
): { watch: Watch; url: string; port: number } & AsyncDisposable {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, answer);
  const host = `127.0.0.1:${server.addr.port}`;
  checkFetches();
  // Both "ports" are the same listener; the one registered last (ws) is the one checked.
  const watch = new Watch({ http: `${host}/unused`, ws: host });
  return {
    watch,
    url: `http://${host}`,
    port: server.addr.port,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

Deno.test("[e2e] the fetch hook records an answer the document does not allow", async () => {
  await using fake = fakeServer(() => new Response("teapot", { status: 418 }));
  const response = await fetch(`${fake.url}/`);
  assert.equal(await response.text(), "teapot", "the test still gets the body");
  assert.throws(() => fake.watch.end(), /GET \/ on the ws port answered 418/);
});

Deno.test("[e2e] TestClient and RawWebSocket record frames and close codes the document does not allow", async () => {
  const odd = JSON.stringify({
    messageType: "CLIENT_ACK",
    code: 200,
    message: "Connected",
    data: { uuid: UUID, subscribedChannels: [], surprise: true },
  });
  await using fake = fakeServer((request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onopen = () => {
      socket.send(odd);
      socket.close(4000, "undocumented");
    };
    return response;
  });
  const client = await TestClient.connect(`ws://127.0.0.1:${fake.port}`);
  await client.closed;
  assert.throws(() => fake.watch.end(), (error: Error) => {
    assert.match(error.message, /CLIENT_ACK frame matches no AsyncAPI message/);
    assert.match(error.message, /closed a WebSocket with 4000/);
    return true;
  });

  const watch = new Watch({ http: "unused", ws: `127.0.0.1:${fake.port}` });
  await using raw = await RawWebSocket.connect(fake.port);
  assert.equal(await raw.closeCode(), 4000);
  assert.throws(() => watch.end(), /matches no AsyncAPI message[\s\S]*with 4000/);
});

Deno.test("[e2e] a real server's answers pass the checks", async () => {
  await using server = await startTestServer();
  const health = await fetch(`${server.httpUrl}/healthz`);
  assert.deepEqual(await health.json(), { status: "ok" });
  const upgrade = await fetch(server.wsUrl.replace("ws:", "http:"));
  assert.equal(upgrade.status, 426);
  await upgrade.body?.cancel();
  await using client = await TestClient.connect(server.wsUrl);
  assert.match(client.uuid, /^[0-9a-f-]{36}$/);
});
