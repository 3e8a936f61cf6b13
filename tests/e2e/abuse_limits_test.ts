/**
 * Black-box tests of the PROTOCOL.md v1.1 "Abuse limits" rows `MAX_CHANNELS` and `CREATE_TOKEN`
 * (and the 16-character minimum of `ADMIN_TOKEN`), with their place in the error order:
 * 413 > 400 > 401 (CREATE_TOKEN) > 409 > 507.
 */
import assert from "node:assert/strict";
import { assertError, call, createWith, postJson, ROUTES } from "./_v11.ts";
import { e2e } from "./_backends.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const CREATE_TOKEN = "create-token-0123456789";

/** `Authorization: Bearer <token>`. */
function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

e2e(
  "MAX_CHANNELS: a new name past the limit is 507; a taken name is still 409",
  async (t, backend) => {
    await using server = await backend.start({ MAX_CHANNELS: "3" });
    const tokens = new Map<string, string>();
    for (const channel of ["a", "b", "c"]) {
      tokens.set(channel, (await createWith(server, channel)).token);
    }

    await t.step("a fourth name → 507 Insufficient Storage, nothing created", async () => {
      const reply = await call(server, "CREATE_CHANNEL", { channel: "d" });
      const details = assertError(reply, 507, "Insufficient Storage");
      assert.equal(typeof details, "string");
      const ping = await call(server, "PING_CHANNEL", { channel: "d", channelToken: null });
      assert.equal(ping.status, 404);
    });

    await t.step("also with v1.1 options", async () => {
      const reply = await call(server, "CREATE_CHANNEL", {
        channel: "d",
        private: true,
        history: { size: 1, ttlSeconds: 1 },
      });
      assertError(reply, 507, "Insufficient Storage");
    });

    await t.step("a taken name → 409 (checked before 507)", async () => {
      const reply = await call(server, "CREATE_CHANNEL", { channel: "a" });
      assert.equal(assertError(reply, 409, "Conflict"), 'A channel called "a" already exists');
    });

    await t.step("a bad body → 400 (checked before 507)", async () => {
      assertError(await call(server, "CREATE_CHANNEL", { channel: "" }), 400, "Bad Request");
      const bad = { channel: "d", history: { size: 0, ttlSeconds: 1 } };
      assertError(await call(server, "CREATE_CHANNEL", bad), 400, "Bad Request");
    });

    await t.step("after a delete there is room again", async () => {
      const deleted = await call(server, "DELETE_CHANNEL", {
        channel: "a",
        channelToken: tokens.get("a"),
      });
      assert.equal(deleted.status, 200);
      assert.equal((await call(server, "CREATE_CHANNEL", { channel: "d" })).status, 200);
      assertError(
        await call(server, "CREATE_CHANNEL", { channel: "e" }),
        507,
        "Insufficient Storage",
      );
    });
  },
);

e2e("MAX_CHANNELS holds under concurrent creates", async (_t, backend) => {
  // 24 concurrent creates of distinct names against a limit of 5: exactly 5 succeed.
  await using server = await backend.start({ MAX_CHANNELS: "5" });
  const replies = await Promise.all(
    Array.from({ length: 24 }, (_, i) => call(server, "CREATE_CHANNEL", { channel: `n${i}` })),
  );
  const statuses = replies.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 5, JSON.stringify(statuses));
  assert.equal(statuses.filter((s) => s === 507).length, 19, JSON.stringify(statuses));
  let existing = 0;
  for (let i = 0; i < 24; i++) {
    const ping = await call(server, "PING_CHANNEL", { channel: `n${i}`, channelToken: null });
    if (ping.status === 200) existing++;
  }
  assert.equal(existing, 5);
});

e2e(
  "CREATE_TOKEN: creating needs the bearer; 401 after 400, before 409 and 507",
  async (t, backend) => {
    await using server = await backend.start({ CREATE_TOKEN, MAX_CHANNELS: "2" });
    const url = `${server.httpUrl}${ROUTES.CREATE_CHANNEL}`;

    await t.step("without or with a wrong bearer → 401 Unauthorized, nothing created", async () => {
      const wrong: Record<string, string>[] = [
        {},
        bearer("wrong-create-token-0123456789"),
        bearer(`${CREATE_TOKEN}x`),
        bearer(CREATE_TOKEN.slice(0, -1)),
        { authorization: CREATE_TOKEN },
        { authorization: `Basic ${btoa(`x:${CREATE_TOKEN}`)}` },
      ];
      for (const headers of wrong) {
        const reply = await call(server, "CREATE_CHANNEL", { channel: "c" }, headers);
        const details = assertError(reply, 401, "Unauthorized");
        assert.ok(!String(details).includes(CREATE_TOKEN), "the token is never echoed");
      }
      const ping = await call(server, "PING_CHANNEL", { channel: "c", channelToken: null });
      assert.equal(ping.status, 404);
    });

    let token = "";
    await t.step("with the bearer → 200 Created; other actions need no create token", async () => {
      const reply = await call(server, "CREATE_CHANNEL", { channel: "c" }, bearer(CREATE_TOKEN));
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.equal(reply.body.message, "Created");
      token = reply.body.data.channelToken;
      const ping = await call(server, "PING_CHANNEL", { channel: "c", channelToken: token });
      assert.equal(ping.status, 200);
      const push = await call(server, "PUSH_MESSAGE", {
        channel: "c",
        channelToken: token,
        recipients: [],
        message: "m",
      });
      assert.equal(push.status, 200);
    });

    await t.step("a bad body without the bearer → 400 (400 comes first)", async () => {
      assertError(await postJson(url, "not json"), 400, "Bad Request");
      assertError(await call(server, "CREATE_CHANNEL", { channel: 5 }), 400, "Bad Request");
      assertError(
        await call(server, "CREATE_CHANNEL", { channel: "x", history: { size: 1 } }),
        400,
        "Bad Request",
      );
      const wrongAction = { messageType: "SERVER_ACTION", action: "PING_CHANNEL", data: {} };
      assertError(await postJson(url, wrongAction), 400, "Bad Request");
    });

    await t.step("a body over 1 MiB without the bearer → 413 (413 comes first)", async () => {
      const huge = JSON.stringify({
        messageType: "SERVER_ACTION",
        action: "CREATE_CHANNEL",
        data: { channel: "big", pad: "x".repeat(1024 * 1024) },
      });
      assertError(await postJson(url, huge), 413, "Payload Too Large");
    });

    await t.step("a taken name without the bearer → 401; with it → 409", async () => {
      assertError(await call(server, "CREATE_CHANNEL", { channel: "c" }), 401, "Unauthorized");
      assertError(
        await call(server, "CREATE_CHANNEL", { channel: "c" }, bearer(CREATE_TOKEN)),
        409,
        "Conflict",
      );
    });

    await t.step("at MAX_CHANNELS: without the bearer → 401; with it → 507", async () => {
      assert.equal(
        (await call(server, "CREATE_CHANNEL", { channel: "c2" }, bearer(CREATE_TOKEN))).status,
        200,
      );
      assertError(await call(server, "CREATE_CHANNEL", { channel: "c3" }), 401, "Unauthorized");
      assertError(
        await call(server, "CREATE_CHANNEL", { channel: "c3" }, bearer(CREATE_TOKEN)),
        507,
        "Insufficient Storage",
      );
    });
  },
);

e2e("a CREATE_TOKEN of exactly 16 characters is accepted", async (_t, backend) => {
  const sixteen = "0123456789abcdef";
  await using server = await backend.start({ CREATE_TOKEN: sixteen });
  const reply = await call(server, "CREATE_CHANNEL", { channel: "c" }, bearer(sixteen));
  assert.equal(reply.status, 200);
});

/**
 * Runs main.ts with `env` until it exits. A server that starts instead of refusing the setting
 * is killed after 15 s (so the test fails instead of hanging) and reported as `started`.
 */
async function runMain(env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env: { PORT_WS: "0", PORT_HTTP: "0", DB_PATH: ":memory:", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let started = false;
  const timer = setTimeout(() => {
    started = true;
    child.kill("SIGKILL");
  }, 15_000);
  const output = await child.output();
  clearTimeout(timer);
  return {
    code: started ? -1 : output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

// Bad settings stop the start: config validation before any backend is built (single only).
Deno.test("[e2e][single] bad abuse-limit settings stop the start: exit 1, one line naming the variable", async (t) => {
  const cases: [Record<string, string>, string, string | undefined][] = [
    [{ CREATE_TOKEN: "fifteen-chars-x" }, "CREATE_TOKEN", "fifteen-chars-x"],
    [{ CREATE_TOKEN: "short" }, "CREATE_TOKEN", "short"],
    [{ ADMIN_TOKEN: "fifteen-chars-y" }, "ADMIN_TOKEN", "fifteen-chars-y"],
    [{ MAX_CHANNELS: "0" }, "MAX_CHANNELS", undefined],
    [{ MAX_CHANNELS: "100000001" }, "MAX_CHANNELS", undefined],
    [{ MAX_CHANNELS: "many" }, "MAX_CHANNELS", undefined],
  ];
  for (const [env, variable, secret] of cases) {
    await t.step(`${variable}=${Object.values(env)[0]}`, async () => {
      const result = await runMain(env);
      assert.equal(result.code, 1, result.code === -1 ? "the server started" : result.stderr);
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, new RegExp(variable));
      if (secret !== undefined) {
        assert.ok(!result.stderr.includes(secret), "the secret itself is not printed");
        assert.ok(!result.stdout.includes(secret));
      }
    });
  }
});
