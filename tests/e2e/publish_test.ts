/** Black-box tests of the publisher HTTP API, written from PROTOCOL.md against the real server. */
import assert from "node:assert/strict";
import { action, createChannel, post, push, readJson, TestClient } from "../_helpers.ts";
import { e2e } from "./_backends.ts";

const JSON_TYPE = "application/json; charset=utf-8";

/** Asserts an ERROR envelope with matching status and code, and returns its details. */
function assertError(
  reply: { status: number; contentType: string | null; body: Record<string, unknown> },
  code: number,
  message: string,
): string | null {
  assert.equal(reply.status, code);
  assert.equal(reply.contentType, JSON_TYPE);
  assert.equal(reply.body.messageType, "ERROR");
  assert.equal(reply.body.code, code);
  assert.equal(reply.body.message, message);
  const data = reply.body.data as { errorDetails: string | null };
  assert.deepEqual(Object.keys(reply.body).sort(), ["code", "data", "message", "messageType"]);
  return data.errorDetails;
}

e2e("POST /channel/create", async (t, backend) => {
  await using server = await backend.start();
  const url = `${server.httpUrl}/channel/create`;

  await t.step("creates a channel and returns a 43-character base64url token once", async () => {
    const reply = await post(url, action("CREATE_CHANNEL", { channel: "news" }));
    assert.equal(reply.status, 200);
    assert.equal(reply.contentType, JSON_TYPE);
    assert.equal(reply.body.messageType, "SERVER_ACK");
    assert.equal(reply.body.code, 200);
    assert.equal(reply.body.message, "Created");
    assert.equal(reply.body.data.channel, "news");
    assert.match(reply.body.data.channelToken, /^[A-Za-z0-9_-]{43}$/);
  });

  await t.step("every channel gets a different token", async () => {
    const a = await createChannel(server, "a");
    const b = await createChannel(server, "b");
    assert.notEqual(a, b);
  });

  await t.step("409 when the name is taken", async () => {
    const reply = await post(url, action("CREATE_CHANNEL", { channel: "news" }));
    const details = assertError(reply, 409, "Conflict");
    assert.equal(details, 'A channel called "news" already exists');
  });

  await t.step("names are case-sensitive and not normalized", async () => {
    assert.equal((await post(url, action("CREATE_CHANNEL", { channel: "News" }))).status, 200);
    // "é" precomposed vs. "e" + combining acute accent are different names.
    assert.equal((await post(url, action("CREATE_CHANNEL", { channel: "caf\u00e9" }))).status, 200);
    assert.equal(
      (await post(url, action("CREATE_CHANNEL", { channel: "cafe\u0301" }))).status,
      200,
    );
  });

  await t.step("names of 1 and 200 characters are fine; 0 and 201 are 400", async () => {
    assert.equal((await post(url, action("CREATE_CHANNEL", { channel: "x" }))).status, 200);
    const longest = "y".repeat(200);
    assert.equal((await post(url, action("CREATE_CHANNEL", { channel: longest }))).status, 200);
    const emoji = "😀".repeat(200); // 200 characters, 400 UTF-16 units
    assert.equal((await post(url, action("CREATE_CHANNEL", { channel: emoji }))).status, 200);
    assertError(await post(url, action("CREATE_CHANNEL", { channel: "" })), 400, "Bad Request");
    const tooLong = "z".repeat(201);
    const details = assertError(
      await post(url, action("CREATE_CHANNEL", { channel: tooLong })),
      400,
      "Bad Request",
    );
    assert.match(details ?? "", /^data\.channel: /);
    assert.ok(!(details ?? "").includes(tooLong), "errorDetails must not echo the request");
  });

  await t.step("control characters in names are 400", async () => {
    for (const name of ["a\u0000b", "tab\there", "new\nline", "del\u007f", "\u001f"]) {
      const reply = await post(url, action("CREATE_CHANNEL", { channel: name }));
      assertError(reply, 400, "Bad Request");
    }
  });

  await t.step("unicode names round-trip exactly", async () => {
    const name = "频道 ✓ ñ 🚀";
    const reply = await post(url, action("CREATE_CHANNEL", { channel: name }));
    assert.equal(reply.status, 200);
    assert.equal(reply.body.data.channel, name);
  });

  await t.step("unknown extra fields are ignored", async () => {
    const reply = await post(url, {
      ...action("CREATE_CHANNEL", { channel: "extra", color: "blue" }),
      version: 3,
    });
    assert.equal(reply.status, 200);
  });
});

e2e("request validation order and 400s", async (t, backend) => {
  await using server = await backend.start({ MAX_MESSAGE_BYTES: "1000" });
  const token = await createChannel(server, "news");

  await t.step("body that is not JSON is 400 Body is not valid JSON", async () => {
    for (const body of ["{", "", "nope", '{"a":1}}']) {
      const reply = await post(`${server.httpUrl}/channel/create`, body);
      assert.equal(assertError(reply, 400, "Bad Request"), "Body is not valid JSON");
    }
  });

  await t.step("JSON that is not an object is 400", async () => {
    for (const body of ["[]", "null", "42", '"x"', "true"]) {
      const reply = await post(`${server.httpUrl}/channel/create`, body);
      assertError(reply, 400, "Bad Request");
    }
  });

  await t.step("wrong messageType or action for the route is 400", async () => {
    const wrongType = {
      ...action("CREATE_CHANNEL", { channel: "q" }),
      messageType: "CLIENT_ACTION",
    };
    assert.match(
      assertError(await post(`${server.httpUrl}/channel/create`, wrongType), 400, "Bad Request") ??
        "",
      /messageType/,
    );
    const wrongAction = action("PUSH_MESSAGE", { channel: "q" });
    assert.match(
      assertError(
        await post(`${server.httpUrl}/channel/create`, wrongAction),
        400,
        "Bad Request",
      ) ??
        "",
      /action/,
    );
    const pingOnPush = action("PING_CHANNEL", { channel: "news", channelToken: null });
    assertError(await post(`${server.httpUrl}/push`, pingOnPush), 400, "Bad Request");
  });

  await t.step("missing and mistyped fields are 400 and name the field", async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ["/channel/create", { messageType: "SERVER_ACTION", action: "CREATE_CHANNEL" }, /^data/],
      ["/channel/create", action("CREATE_CHANNEL", {}), /^data\.channel/],
      ["/channel/create", action("CREATE_CHANNEL", { channel: 42 }), /^data\.channel/],
      [
        "/channel/ping",
        action("PING_CHANNEL", { channel: "news", channelToken: 5 }),
        /channelToken/,
      ],
      [
        "/push",
        action("PUSH_MESSAGE", { channel: "news", channelToken: token, message: "m" }),
        /recipients/,
      ],
      [
        "/push",
        action("PUSH_MESSAGE", {
          channel: "news",
          channelToken: token,
          recipients: [],
          // v1.2: any JSON value but null is a message.
          message: null,
        }),
        /^data\.message/,
      ],
      [
        "/push",
        action("PUSH_MESSAGE", {
          channel: "news",
          channelToken: token,
          recipients: "all",
          message: "m",
        }),
        /^data\.recipients/,
      ],
      [
        "/channel/delete",
        action("DELETE_CHANNEL", { channel: ["news"], channelToken: token }),
        /channel/,
      ],
    ];
    for (const [path, body, pattern] of cases) {
      const details = assertError(await post(`${server.httpUrl}${path}`, body), 400, "Bad Request");
      assert.match(details ?? "", pattern, `${path} ${JSON.stringify(body)}`);
    }
  });

  await t.step("a bad UUID in recipients is 400 naming its index", async () => {
    const reply = await push(server, {
      channel: "news",
      channelToken: token,
      message: "m",
      recipients: [crypto.randomUUID(), "not-a-uuid"],
    });
    assert.equal(assertError(reply, 400, "Bad Request"), "data.recipients[1]: invalid UUID");
  });

  await t.step("413 for a message over MAX_MESSAGE_BYTES, counted in UTF-8 bytes", async () => {
    const exact = "é".repeat(500); // 1000 bytes
    assert.equal(
      (await push(server, { channel: "news", channelToken: token, message: exact })).status,
      200,
    );
    const over = exact + "a"; // 1001 bytes, 501 characters
    const reply = await push(server, { channel: "news", channelToken: token, message: over });
    assert.equal(
      assertError(reply, 413, "Payload Too Large"),
      "message is 1001 bytes; the limit is 1000",
    );
  });

  await t.step("413 comes before 404, 401 and 400 for other fields", async () => {
    const reply = await post(
      `${server.httpUrl}/push`,
      action("PUSH_MESSAGE", {
        channel: "missing",
        recipients: ["bad"],
        message: "x".repeat(2000),
      }),
    );
    assertError(reply, 413, "Payload Too Large");
  });

  await t.step("400 comes before 404", async () => {
    const reply = await push(server, {
      channel: "missing",
      channelToken: "t",
      message: "m",
      recipients: ["bad"],
    });
    assertError(reply, 400, "Bad Request");
  });

  await t.step("a body over 1 MiB is 413", async () => {
    const big = JSON.stringify(
      action("CREATE_CHANNEL", { channel: "big", pad: "x".repeat(1024 * 1024) }),
    );
    const reply = await post(`${server.httpUrl}/channel/create`, big);
    assertError(reply, 413, "Payload Too Large");
  });

  await t.step("a chunked body over 1 MiB is 413 too", async () => {
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 2 * 1024 * 1024) return controller.close();
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(`${server.httpUrl}/channel/create`, { method: "POST", body });
    assertError(await readJson(response), 413, "Payload Too Large");
  });
});

e2e("POST /channel/ping", async (t, backend) => {
  await using server = await backend.start();
  const token = await createChannel(server, "news");
  const url = `${server.httpUrl}/channel/ping`;

  await t.step("null token: 200 OK when the channel exists", async () => {
    const reply = await post(url, action("PING_CHANNEL", { channel: "news", channelToken: null }));
    assert.equal(reply.status, 200);
    assert.equal(reply.contentType, JSON_TYPE);
    assert.deepEqual(reply.body, {
      messageType: "SERVER_ACK",
      code: 200,
      message: "OK",
      data: { channel: "news", channelToken: null },
    });
  });

  await t.step("absent token behaves like null", async () => {
    const reply = await post(url, action("PING_CHANNEL", { channel: "news" }));
    assert.equal(reply.status, 200);
  });

  await t.step("null token: 404 when it does not", async () => {
    const reply = await post(url, action("PING_CHANNEL", { channel: "olds", channelToken: null }));
    assert.equal(assertError(reply, 404, "Not found"), 'Could not find a channel called "olds"');
  });

  await t.step("right token: 200", async () => {
    const reply = await post(url, action("PING_CHANNEL", { channel: "news", channelToken: token }));
    assert.equal(reply.status, 200);
    assert.equal(reply.body.data.channelToken, null);
  });

  await t.step("wrong token: 403", async () => {
    const reply = await post(
      url,
      action("PING_CHANNEL", { channel: "news", channelToken: "x" + token }),
    );
    assert.equal(assertError(reply, 403, "Forbidden"), "Channel token is invalid");
  });

  await t.step("a token for another channel is wrong here", async () => {
    const other = await createChannel(server, "other");
    const reply = await post(url, action("PING_CHANNEL", { channel: "news", channelToken: other }));
    assertError(reply, 403, "Forbidden");
  });

  await t.step("any token on a missing channel: 404", async () => {
    const reply = await post(url, action("PING_CHANNEL", { channel: "olds", channelToken: token }));
    assertError(reply, 404, "Not found");
  });
});

e2e("POST /push", async (t, backend) => {
  await using server = await backend.start();
  const token = await createChannel(server, "news");
  await createChannel(server, "sports");
  await using alice = await TestClient.connect(server.wsUrl);
  await using bob = await TestClient.connect(server.wsUrl);
  await using carol = await TestClient.connect(server.wsUrl);
  await alice.act("SUBSCRIBE", "news");
  await bob.act("SUBSCRIBE", "sports");
  await bob.act("SUBSCRIBE", "news");
  await carol.act("SUBSCRIBE", "sports");

  await t.step("200 Sent, and every subscriber of the channel gets it", async () => {
    const reply = await push(server, { channel: "news", channelToken: token, message: "hello" });
    assert.equal(reply.status, 200);
    assert.equal(reply.contentType, JSON_TYPE);
    assert.deepEqual(reply.body, {
      messageType: "SERVER_ACK",
      code: 200,
      message: "Sent",
      data: { channel: "news", channelToken: null },
    });
    assert.deepEqual(await alice.next(), {
      messageType: "CLIENT_PUSH",
      code: 200,
      message: "Push Message",
      data: {
        uuid: alice.uuid,
        subscribedChannels: ["news"],
        pushMessage: { channel: "news", message: "hello" },
      },
    });
    const toBob = await bob.next();
    assert.equal(toBob.data.uuid, bob.uuid);
    assert.deepEqual(toBob.data.subscribedChannels, ["sports", "news"]);
    assert.deepEqual(toBob.data.pushMessage, { channel: "news", message: "hello" });
    assert.ok(await carol.receivedNothing(), "a non-subscriber must not receive it");
  });

  await t.step("recipients: only the listed subscribed UUIDs get it", async () => {
    const reply = await push(server, {
      channel: "news",
      channelToken: token,
      message: "for bob",
      recipients: [bob.uuid, carol.uuid, crypto.randomUUID()],
    });
    assert.equal(reply.status, 200);
    const frame = await bob.next();
    assert.equal(frame.data.pushMessage.message, "for bob");
    assert.ok(await alice.receivedNothing(), "alice was not listed");
    assert.ok(await carol.receivedNothing(), "carol is listed but not subscribed to news");
  });

  await t.step("a UUID listed twice is delivered once", async () => {
    await push(server, {
      channel: "news",
      channelToken: token,
      message: "once",
      recipients: [alice.uuid, alice.uuid, alice.uuid.toUpperCase()],
    });
    assert.equal((await alice.next()).data.pushMessage.message, "once");
    assert.ok(await alice.receivedNothing());
  });

  await t.step("unknown recipients only: 200 and nobody gets it", async () => {
    const reply = await push(server, {
      channel: "news",
      channelToken: token,
      message: "ghost",
      recipients: [crypto.randomUUID()],
    });
    assert.equal(reply.status, 200);
    assert.ok(await alice.receivedNothing());
    assert.ok(await bob.receivedNothing());
  });

  await t.step(
    "messages round-trip exactly: unicode, quotes, JSON-looking text, empty",
    async () => {
      for (
        const message of [
          "",
          'quote " and \\ backslash',
          '{"json":true}',
          "日本語 🚀 \u2028",
          "a\nb\tc",
        ]
      ) {
        await push(server, { channel: "news", channelToken: token, message });
        assert.equal((await alice.next()).data.pushMessage.message, message);
        assert.equal((await bob.next()).data.pushMessage.message, message);
      }
    },
  );

  await t.step("pushes arrive in order", async () => {
    for (let i = 0; i < 20; i++) {
      await push(server, { channel: "news", channelToken: token, message: `#${i}` });
    }
    for (let i = 0; i < 20; i++) {
      assert.equal((await alice.next()).data.pushMessage.message, `#${i}`);
    }
    for (let i = 0; i < 20; i++) await bob.next();
  });

  await t.step("a push to a channel with no subscribers is 200", async () => {
    const lonely = await createChannel(server, "lonely");
    const reply = await push(server, { channel: "lonely", channelToken: lonely, message: "echo" });
    assert.equal(reply.status, 200);
  });

  await t.step("404 for a missing channel", async () => {
    const reply = await push(server, { channel: "nope", channelToken: token, message: "m" });
    assert.equal(assertError(reply, 404, "Not found"), 'Could not find a channel called "nope"');
  });

  await t.step("401 when the token is null or absent", async () => {
    const nullToken = await push(server, { channel: "news", channelToken: null, message: "m" });
    assert.equal(assertError(nullToken, 401, "Unauthorized"), "No channel token provided");
    const absent = await post(
      `${server.httpUrl}/push`,
      action("PUSH_MESSAGE", { channel: "news", recipients: [], message: "m" }),
    );
    assertError(absent, 401, "Unauthorized");
  });

  await t.step("403 when the token is wrong, and nothing is delivered", async () => {
    const reply = await push(server, { channel: "news", channelToken: token + "x", message: "m" });
    const details = assertError(reply, 403, "Forbidden");
    assert.equal(details, "Channel token is invalid");
    assert.ok(!JSON.stringify(reply.body).includes(token), "a token never appears in an error");
    assert.ok(await alice.receivedNothing());
  });

  await t.step("404 beats 401 and 403", async () => {
    const reply = await push(server, { channel: "nope", channelToken: null, message: "m" });
    assertError(reply, 404, "Not found");
  });
});

e2e("POST /channel/delete", async (t, backend) => {
  await using server = await backend.start();
  const token = await createChannel(server, "news");
  await createChannel(server, "sports");
  const url = `${server.httpUrl}/channel/delete`;
  await using alice = await TestClient.connect(server.wsUrl);
  await using bob = await TestClient.connect(server.wsUrl);
  await alice.act("SUBSCRIBE", "sports");
  await alice.act("SUBSCRIBE", "news");
  await bob.act("SUBSCRIBE", "sports");

  await t.step("401 without a token, 403 with a wrong one, 404 for a missing channel", async () => {
    assertError(
      await post(url, action("DELETE_CHANNEL", { channel: "news", channelToken: null })),
      401,
      "Unauthorized",
    );
    assertError(
      await post(url, action("DELETE_CHANNEL", { channel: "news" })),
      401,
      "Unauthorized",
    );
    assertError(
      await post(url, action("DELETE_CHANNEL", { channel: "news", channelToken: "no" })),
      403,
      "Forbidden",
    );
    assertError(
      await post(url, action("DELETE_CHANNEL", { channel: "nope", channelToken: token })),
      404,
      "Not found",
    );
  });

  await t.step(
    "200 Deleted, and subscribers get Channel Deleted with their updated list",
    async () => {
      const reply = await post(
        url,
        action("DELETE_CHANNEL", { channel: "news", channelToken: token }),
      );
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.body, {
        messageType: "SERVER_ACK",
        code: 200,
        message: "Deleted",
        data: { channel: "news", channelToken: null },
      });
      assert.deepEqual(await alice.next(), {
        messageType: "CLIENT_ACK",
        code: 200,
        message: "Channel Deleted",
        data: { uuid: alice.uuid, subscribedChannels: ["sports"] },
      });
      assert.ok(await bob.receivedNothing(), "bob was not subscribed to news");
    },
  );

  await t.step("the channel is gone: ping 404, push 404, subscribe 404", async () => {
    const ping = await post(
      `${server.httpUrl}/channel/ping`,
      action("PING_CHANNEL", { channel: "news", channelToken: null }),
    );
    assertError(ping, 404, "Not found");
    assertError(
      await push(server, { channel: "news", channelToken: token, message: "m" }),
      404,
      "Not found",
    );
    const frame = await bob.act("SUBSCRIBE", "news");
    assert.equal(frame.messageType, "ERROR");
    assert.equal(frame.code, 404);
  });

  await t.step("the name is free again, with a new token and no subscribers", async () => {
    const fresh = await createChannel(server, "news");
    assert.notEqual(fresh, token);
    assertError(
      await push(server, { channel: "news", channelToken: token, message: "m" }),
      403,
      "Forbidden",
    );
    const reply = await push(server, { channel: "news", channelToken: fresh, message: "new era" });
    assert.equal(reply.status, 200);
    assert.ok(await alice.receivedNothing(), "old subscribers are not carried over");
  });
});

e2e("routing: 405 with Allow, 404 for unknown paths", async (t, backend) => {
  await using server = await backend.start();

  await t.step("other methods on action routes are 405 with Allow: POST", async () => {
    for (const path of ["/channel/create", "/channel/ping", "/push", "/channel/delete"]) {
      for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
        const response = await fetch(`${server.httpUrl}${path}`, { method });
        assert.equal(response.headers.get("allow"), "POST");
        assertError(await readJson(response), 405, "Method Not Allowed");
      }
    }
  });

  await t.step("unknown paths are 404 No route for METHOD PATH", async () => {
    const get = await readJson(await fetch(`${server.httpUrl}/nope`));
    assert.equal(assertError(get, 404, "Not found"), "No route for GET /nope");
    const postReply = await post(`${server.httpUrl}/channel/nope`, {});
    assert.equal(assertError(postReply, 404, "Not found"), "No route for POST /channel/nope");
  });

  await t.step("one trailing slash on an action route is answered like the route", async () => {
    const url = (path: string) => `${server.httpUrl}${path}/`;
    const created = await post(url("/channel/create"), action("CREATE_CHANNEL", { channel: "s" }));
    assert.equal(created.status, 200);
    assert.equal(created.body.message, "Created");
    const channelToken = created.body.data.channelToken;
    const pinged = await post(
      url("/channel/ping"),
      action("PING_CHANNEL", { channel: "s", channelToken }),
    );
    assert.equal(pinged.body.message, "OK");
    await using subscriber = await TestClient.connect(server.wsUrl);
    await subscriber.act("SUBSCRIBE", "s");
    const pushed = await post(
      url("/push"),
      action("PUSH_MESSAGE", { channel: "s", channelToken, recipients: [], message: "slash" }),
    );
    assert.equal(pushed.body.message, "Sent");
    assert.equal((await subscriber.next()).data.pushMessage.message, "slash");
    const wrong = await post(
      url("/push"),
      action("PUSH_MESSAGE", { channel: "s", channelToken: "wrong", recipients: [], message: "x" }),
    );
    assertError(wrong, 403, "Forbidden");
    const get = await fetch(url("/push"));
    assert.equal(get.headers.get("allow"), "POST");
    assertError(await readJson(get), 405, "Method Not Allowed");
    const deleted = await post(
      url("/channel/delete"),
      action("DELETE_CHANNEL", { channel: "s", channelToken }),
    );
    assert.equal(deleted.body.message, "Deleted");
  });

  await t.step("any other extra path segment stays 404", async () => {
    for (
      const path of [
        "/push//",
        "/push/x",
        "/channel/create/x",
        "/channel/create//",
        "/push/%20",
        "//push",
      ]
    ) {
      const reply = await post(`${server.httpUrl}${path}`, action("PUSH_MESSAGE", {}));
      assertError(reply, 404, "Not found");
    }
  });
});
