/**
 * Black-box tests of token rotation (PROTOCOL.md v1.1, "Private channels, grants and token
 * rotation") and of the operator's lost-token routes `POST /admin/channel/rotate` and
 * `POST /admin/channel/delete` (`Authorization: Bearer <ADMIN_TOKEN>`, body `{"channel": NAME}`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ServerProcess } from "./_process.ts";
import {
  assertAck,
  assertError,
  broadcast,
  call,
  createWith,
  type HasHttp,
  postJson,
  WsClient,
} from "./_v11.ts";
import { e2e } from "./_backends.ts";

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** Rotates and returns the new token, asserting the exact `Rotated` ack. */
async function rotate(server: HasHttp, channel: string, token: string): Promise<string> {
  const reply = await call(server, "ROTATE_TOKEN", { channel, channelToken: token });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  const fresh = reply.body.data.channelToken;
  assert.match(fresh, TOKEN);
  assertAck(reply, "Rotated", { channel, channelToken: fresh });
  return fresh;
}

/** Every token-checked action with `token`, each answered 403 (the old token is refused). */
async function assertRefusedEverywhere(
  server: HasHttp,
  channel: string,
  token: string,
  uuid: string,
): Promise<void> {
  const attempts = [
    call(server, "PUSH_MESSAGE", { channel, channelToken: token, recipients: [], message: "m" }),
    call(server, "PING_CHANNEL", { channel, channelToken: token }),
    call(server, "DELETE_CHANNEL", { channel, channelToken: token }),
    call(server, "ROTATE_TOKEN", { channel, channelToken: token }),
    call(server, "AUTHORIZE_SUBSCRIBER", { channel, channelToken: token, uuid }),
    call(server, "REVOKE_SUBSCRIBER", { channel, channelToken: token, uuid }),
  ];
  for (const reply of await Promise.all(attempts)) {
    assert.equal(assertError(reply, 403, "Forbidden"), "Channel token is invalid");
  }
}

e2e("ROTATE_TOKEN", async (t, backend) => {
  await using server = await backend.start();
  const { token: original } = await createWith(server, "news");
  await using sub = await WsClient.connect(server.wsUrl);
  await sub.subscribe("news");
  let current = original;

  await t.step("Rotated with exactly {channel, channelToken: new}", async () => {
    current = await rotate(server, "news", original);
    assert.notEqual(current, original);
  });

  await t.step("the old token is refused at once for every action", async () => {
    await assertRefusedEverywhere(server, "news", original, sub.uuid);
  });

  await t.step("the new token works", async () => {
    assert.equal(
      (await call(server, "PING_CHANNEL", { channel: "news", channelToken: current })).status,
      200,
    );
    await broadcast(server, "news", current, "with the new token");
  });

  await t.step(
    "subscribers stay subscribed, are sent nothing extra, and keep receiving",
    async () => {
      assert.deepEqual(await sub.next(), {
        messageType: "CLIENT_PUSH",
        code: 200,
        message: "Push Message",
        data: {
          uuid: sub.uuid,
          subscribedChannels: ["news"],
          pushMessage: { channel: "news", message: "with the new token" },
        },
      });
      assert.ok(await sub.receivedNothing());
    },
  );

  await t.step("rotating again retires the second token too", async () => {
    const third = await rotate(server, "news", current);
    await assertRefusedEverywhere(server, "news", current, sub.uuid);
    current = third;
  });

  await t.step(
    "concurrent rotations with one token: exactly one wins, and its token works",
    async () => {
      const replies = await Promise.all(
        Array.from(
          { length: 4 },
          () => call(server, "ROTATE_TOKEN", { channel: "news", channelToken: current }),
        ),
      );
      const winners = replies.filter((r) => r.status === 200);
      assert.equal(winners.length, 1, JSON.stringify(replies.map((r) => r.status)));
      for (const loser of replies.filter((r) => r.status !== 200)) {
        assertError(loser, 403, "Forbidden");
      }
      const winner = winners[0]!.body.data.channelToken;
      await assertRefusedEverywhere(server, "news", current, sub.uuid);
      await broadcast(server, "news", winner, "winner");
      assert.equal((await sub.next()).data.pushMessage.message, "winner");
      current = winner;
    },
  );

  await t.step("delete needs the new token; afterwards the token finds no channel", async () => {
    const deleted = await call(server, "DELETE_CHANNEL", {
      channel: "news",
      channelToken: current,
    });
    assertAck(deleted, "Deleted", { channel: "news", channelToken: null });
    const after = await call(server, "PING_CHANNEL", { channel: "news", channelToken: current });
    assertError(after, 404, "Not found");
  });
});

e2e("from the 200 of a delete, the deleted channel's token is refused", async (_t, backend) => {
  await using server = await backend.start();
  const { token: old } = await createWith(server, "c");
  await using sub = await WsClient.connect(server.wsUrl);
  const deleted = await call(server, "DELETE_CHANNEL", { channel: "c", channelToken: old });
  assert.equal(deleted.status, 200);
  const gone = await call(server, "PUSH_MESSAGE", {
    channel: "c",
    channelToken: old,
    recipients: [],
    message: "m",
  });
  assertError(gone, 404, "Not found");
  // Re-created under the same name: the old token is just a wrong token now.
  const { token: fresh } = await createWith(server, "c");
  await assertRefusedEverywhere(server, "c", old, sub.uuid);
  assert.equal(
    (await call(server, "PING_CHANNEL", { channel: "c", channelToken: fresh })).status,
    200,
  );
});

e2e("rotation leaves history, epoch, options and grants alone", async (_t, backend) => {
  await using server = await backend.start();
  const history = { size: 50, ttlSeconds: 600 };
  const { token, epoch } = await createWith(server, "h", { history, private: true });
  await using sub = await WsClient.connect(server.wsUrl);
  const grant = { channel: "h", channelToken: token, uuid: sub.uuid };
  assert.equal((await call(server, "AUTHORIZE_SUBSCRIBER", grant)).status, 200);
  await sub.subscribe("h");
  for (let i = 1; i <= 3; i++) await broadcast(server, "h", token, `before-${i}`);
  await sub.pushesUpTo(3);
  const fresh = await rotate(server, "h", token);
  const after = await broadcast(server, "h", fresh, "after");
  assert.deepEqual(after, { channel: "h", channelToken: null, offset: 4, epoch });
  assert.equal((await sub.next()).data.pushMessage.offset, 4, "still subscribed");
  assertAck(await call(server, "PING_CHANNEL", { channel: "h", channelToken: fresh }), "OK", {
    channel: "h",
    channelToken: null,
    private: true,
    history,
  });
  // The history from before the rotation is still there, under the same epoch.
  await using late = await WsClient.connect(server.wsUrl);
  const lateGrant = { channel: "h", channelToken: fresh, uuid: late.uuid };
  assert.equal((await call(server, "AUTHORIZE_SUBSCRIBER", lateGrant)).status, 200);
  const ack = await late.subscribe("h", { offset: 0, epoch });
  assert.deepEqual(ack.data.recovery, { channel: "h", epoch, offset: 4, recovered: true });
  const replay = await late.pushesUpTo(4);
  assert.deepEqual(replay.map((f) => f.data.pushMessage.message), [
    "before-1",
    "before-2",
    "before-3",
    "after",
  ]);
});

e2e(
  "a rotation is durable: after a restart the old token is 403, the new one works",
  async (_t, backend) => {
    const dir = await Deno.makeTempDir({ prefix: "pushserver-rotate-" });
    const env = { DB_PATH: join(dir, "push.db") };
    try {
      // Single mode restarts on the same SQLite file; cluster mode starts new nodes on the same Redis.
      await using server = await backend.start(env);
      let old: string;
      let fresh: string;
      {
        const first = server;
        ({ token: old } = await createWith(first, "c"));
        fresh = await rotate(first, "c", old);
      }
      await server.restart();
      const second = server;
      const refused = await call(second, "PING_CHANNEL", { channel: "c", channelToken: old });
      assertError(refused, 403, "Forbidden");
      const accepted = await call(second, "PING_CHANNEL", { channel: "c", channelToken: fresh });
      assert.equal(accepted.status, 200);
      await broadcast(second, "c", fresh, "m");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

const ADMIN_TOKEN = "admin-token-0123456789abcdef";

/** POSTs `{"channel": name}` to an admin route with an optional bearer. */
function admin(
  server: HasHttp,
  route: "rotate" | "delete",
  body: unknown,
  bearer?: string,
) {
  return postJson(
    `${server.httpUrl}/admin/channel/${route}`,
    body,
    bearer === undefined ? {} : { authorization: `Bearer ${bearer}` },
  );
}

e2e(
  "admin routes: rotate and delete without the channel token; never logged",
  async (t, backend) => {
    const dir = await Deno.makeTempDir({ prefix: "pushserver-admin-" });
    try {
      // A subprocess, so that its log lines can be read.
      await using storage = await backend.processEnv();
      await using server = await ServerProcess.spawn({
        ...storage.env,
        ADMIN_TOKEN,
        LOG_LEVEL: "debug",
        DB_PATH: join(dir, "push.db"),
      });
      const { token: lost } = await createWith(server, "c");
      await using sub = await WsClient.connect(server.wsUrl);
      await sub.subscribe("c");
      const tokens: string[] = [lost];

      await t.step("a missing or wrong bearer is 401, and nothing changes", async () => {
        for (const route of ["rotate", "delete"] as const) {
          for (const bearer of [undefined, "wrong-admin-token-0123456789", `${ADMIN_TOKEN}x`]) {
            const reply = await admin(server, route, { channel: "c" }, bearer);
            assertError(reply, 401, "Unauthorized");
          }
          const basic = await postJson(`${server.httpUrl}/admin/channel/${route}`, {
            channel: "c",
          }, { authorization: `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}` });
          assertError(basic, 401, "Unauthorized");
        }
        const ping = await call(server, "PING_CHANNEL", { channel: "c", channelToken: lost });
        assert.equal(ping.status, 200, "the channel and its token are untouched");
      });

      await t.step("a bad body is 400; an unknown channel is 404", async () => {
        for (const route of ["rotate", "delete"] as const) {
          for (const body of [{}, { channel: 5 }, { channel: "" }, "not json", [1]]) {
            assertError(await admin(server, route, body, ADMIN_TOKEN), 400, "Bad Request");
          }
          assertError(
            await admin(server, route, { channel: "missing" }, ADMIN_TOKEN),
            404,
            "Not found",
          );
        }
      });

      let fresh = "";
      await t.step("rotate: Rotated with a new token; the lost one is 403", async () => {
        const reply = await admin(server, "rotate", { channel: "c" }, ADMIN_TOKEN);
        assert.equal(reply.status, 200, JSON.stringify(reply.body));
        fresh = reply.body.data.channelToken;
        assert.match(fresh, TOKEN);
        assertAck(reply, "Rotated", { channel: "c", channelToken: fresh });
        tokens.push(fresh);
        await assertRefusedEverywhere(server, "c", lost, sub.uuid);
        await broadcast(server, "c", fresh, "after admin rotate");
        assert.equal((await sub.next()).data.pushMessage.message, "after admin rotate");
      });

      await t.step("delete: Deleted; subscribers are told; the name is free", async () => {
        const reply = await admin(server, "delete", { channel: "c" }, ADMIN_TOKEN);
        assertAck(reply, "Deleted", { channel: "c", channelToken: null });
        assert.deepEqual(await sub.next(), {
          messageType: "CLIENT_ACK",
          code: 200,
          message: "Channel Deleted",
          data: { uuid: sub.uuid, subscribedChannels: [] },
        });
        const ping = await call(server, "PING_CHANNEL", { channel: "c", channelToken: fresh });
        assertError(ping, 404, "Not found");
        tokens.push((await createWith(server, "c")).token);
      });

      await t.step("neither the admin token nor any channel token reaches the log", async () => {
        server.kill("SIGTERM");
        assert.equal((await server.exit()).code, 0);
        const text = JSON.stringify(server.lines);
        assert.ok(server.lines.length > 5, "the server did log its requests");
        for (const secret of [ADMIN_TOKEN, ...tokens]) {
          assert.ok(!text.includes(secret), "a secret was logged");
        }
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

e2e("without ADMIN_TOKEN the admin routes do not exist (404)", async (_t, backend) => {
  await using server = await backend.start();
  const { token } = await createWith(server, "c");
  for (const route of ["rotate", "delete"] as const) {
    for (const bearer of [undefined, ADMIN_TOKEN]) {
      assertError(await admin(server, route, { channel: "c" }, bearer), 404, "Not found");
    }
  }
  const ping = await call(server, "PING_CHANNEL", { channel: "c", channelToken: token });
  assert.equal(ping.status, 200, "untouched");
});
