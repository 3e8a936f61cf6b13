/**
 * The admin UI's JSON endpoints (PROTOCOL.md v1.2 "Admin UI"), on one node and on a two-node
 * cluster: 404 naming ADMIN_TOKEN without it, 401 without the bearer token, stats summed over
 * the nodes, channels by prefix each exactly once across pages, a channel's detail. Every
 * answer is checked against /openapi.json by the shared fetch hook (tests/_contract.ts).
 */
import assert from "node:assert/strict";
import { jsonLogger } from "../../src/log.ts";
import { post, readJson, TestClient } from "../_helpers.ts";
import { eventually } from "../cluster/_redis.ts";
import { e2e } from "./_backends.ts";

const ADMIN = "admin-token-for-tests-0123456789";

function admin(url: string, token: string | null = ADMIN): Promise<Response> {
  return fetch(url, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });
}

async function create(httpUrl: string, channel: string, data = {}): Promise<string> {
  const reply = await post(`${httpUrl}/channel/create`, {
    messageType: "SERVER_ACTION",
    action: "CREATE_CHANNEL",
    data: { channel, ...data },
  });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  return reply.body.data.channelToken;
}

e2e(
  "admin API without ADMIN_TOKEN: every /admin route is 404 naming ADMIN_TOKEN",
  async (_t, backend) => {
    await using deployment = await backend.start();
    for (
      const path of ["/admin", "/admin/ui/admin.js", "/admin/api/stats", "/admin/api/channels"]
    ) {
      const response = await admin(`${deployment.httpUrl}${path}`);
      assert.equal(response.status, 404, path);
      const body = await readJson(response);
      assert.match(body.body.data.errorDetails, /ADMIN_TOKEN/, path);
    }
  },
);

e2e("admin API: token, stats, channel pages, detail", async (t, backend) => {
  const lines: string[] = [];
  const logger = jsonLogger("debug", { write: (line) => lines.push(line) });
  await using deployment = await backend.start({ ADMIN_TOKEN: ADMIN }, { logger });
  const { httpUrl } = deployment;
  const subscriberHttp = deployment.subscriberNode.httpUrl;

  await t.step("401 without or with a wrong bearer token; the token is never logged", async () => {
    for (const token of [null, "wrong-token-wrong-token", `${ADMIN}x`]) {
      for (const path of ["/admin/api/stats", "/admin/api/channels", "/admin/api/channel?name=x"]) {
        const response = await admin(`${httpUrl}${path}`, token);
        assert.equal(response.status, 401, `${path} with ${token}`);
        await response.body?.cancel();
      }
    }
    const page = await admin(`${httpUrl}/admin`, null);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    assert.match(await page.text(), /Admin token/);
  });

  await t.step(
    "stats list every node, and the series reach back no more than 15 minutes",
    async () => {
      await eventually(5000, "every node reports", async () => {
        const body = await (await admin(`${httpUrl}/admin/api/stats`)).json();
        return body.nodes.length === deployment.nodes.length && body.series.t.length > 0;
      });
      const stats = await (await admin(`${subscriberHttp}/admin/api/stats`)).json();
      assert.equal(stats.mode, backend.name === "single" ? "single" : "cluster");
      const t0 = stats.series.t[0];
      assert.ok(stats.series.t.at(-1) - t0 <= 15 * 60_000);
      for (const key of ["connections", "pushesPerSecond", "deliveriesPerSecond"]) {
        assert.equal(stats.series[key].length, stats.series.t.length, key);
      }
    },
  );

  const names: string[] = [];
  await t.step("channels by prefix: ascending, each exactly once across pages", async () => {
    for (let i = 0; i < 120; i++) names.push(`room/${String(i).padStart(3, "0")}`);
    for (const name of ["Room/1", "roo", "rooms", "room", "other"]) names.push(name);
    await Promise.all(names.map((name) => create(httpUrl, name)));
    const seen: string[] = [];
    let cursor: string | null = "";
    let pages = 0;
    while (cursor !== null) {
      const query = new URLSearchParams({ prefix: "room/", limit: "50" });
      if (cursor !== "") query.set("cursor", cursor);
      const response = await admin(`${subscriberHttp}/admin/api/channels?${query}`);
      assert.equal(response.status, 200);
      const page = await response.json();
      seen.push(...page.channels.map((c: { channel: string }) => c.channel));
      cursor = page.next;
      pages++;
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen, names.filter((n) => n.startsWith("room/")).sort());
    const all = await (await admin(`${httpUrl}/admin/api/channels?prefix=room&limit=500`)).json();
    assert.equal(all.channels.length, 122);
    assert.equal(all.next, null);
    assert.equal(all.channels[0].channel, "room");
  });

  await t.step("a bad limit or cursor is 400 in the ERROR envelope", async () => {
    for (const query of ["limit=0", "limit=501", "limit=abc", "limit=1.5", "cursor=%25%25"]) {
      const response = await admin(`${httpUrl}/admin/api/channels?${query}`);
      assert.equal(response.status, 400, query);
      const body = await readJson(response);
      assert.equal(body.body.messageType, "ERROR");
    }
  });

  await t.step("detail: subscribers and pushes per minute, cluster-wide", async () => {
    const token = await create(httpUrl, "busy", { history: { size: 10, ttlSeconds: 60 } });
    await using client = await TestClient.connect(deployment.wsUrl);
    assert.equal((await client.act("SUBSCRIBE", "busy")).message, "Subscribed");
    for (let i = 0; i < 3; i++) {
      const sent = await post(`${httpUrl}/push`, {
        messageType: "SERVER_ACTION",
        action: "PUSH_MESSAGE",
        data: { channel: "busy", channelToken: token, recipients: [], message: `m${i}` },
      });
      assert.equal(sent.status, 200);
      await client.next();
    }
    let detail: Record<string, unknown> = {};
    await eventually(5000, "the counts reach the answering node", async () => {
      detail = await (await admin(`${httpUrl}/admin/api/channel?name=busy`)).json();
      return detail.subscribers === 1 && detail.pushesPerMinute === 3;
    });
    assert.equal(detail.history, true);
    assert.deepEqual(detail.historySettings, { size: 10, ttlSeconds: 60 });
    assert.equal(detail.offset, 3);
    const row = await (await admin(`${httpUrl}/admin/api/channels?prefix=busy`)).json();
    assert.deepEqual(row.channels[0], {
      channel: "busy",
      subscribers: 1,
      pushesPerMinute: 3,
      private: false,
      history: true,
      presence: false,
    });
    // A presence channel's detail lists its members, with their info, from every node.
    await create(httpUrl, "lobby", { presence: true });
    await using ann = await TestClient.connect(deployment.wsUrl);
    ann.sendRaw(JSON.stringify({
      messageType: "CLIENT_ACTION",
      action: "SUBSCRIBE",
      data: { channel: "lobby", info: { user: "ann" } },
    }));
    assert.equal((await ann.next()).message, "Subscribed");
    const lobby = await (await admin(`${httpUrl}/admin/api/channel?name=lobby`)).json();
    assert.equal(lobby.presence, true);
    assert.deepEqual(lobby.members, {
      count: 1,
      members: [{ uuid: ann.uuid, info: { user: "ann" } }],
    });
    const missing = await admin(`${httpUrl}/admin/api/channel?name=nope`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  });

  await t.step("the admin token appears in no log line", () => {
    assert.ok(lines.length > 0);
    for (const line of lines) assert.ok(!line.includes(ADMIN), line);
  });
});
