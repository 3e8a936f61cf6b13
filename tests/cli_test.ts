import assert from "node:assert/strict";
import { EXIT, exitCodeFor, runCli } from "../src/cli/main.ts";
import { PushPublisher } from "../src/publisher/publisher.js";
import { action, post, startTestServer, TestClient, type TestServer } from "./_helpers.ts";
import { freePort, within } from "./client/_support.ts";

/** Runs the CLI in-process and captures its output. */
async function cli(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; signal?: AbortSignal } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    env: options.env ?? {},
    stdin: () => Promise.resolve(options.stdin ?? ""),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { code, stdout, stderr };
}

Deno.test("exitCodeFor() gives each protocol error class its own exit code", () => {
  assert.deepEqual(
    [0, 400, 401, 403, 404, 408, 409, 413, 429, 500, 503, 502, 507].map(exitCodeFor),
    [9, 6, 3, 3, 4, 8, 5, 7, 8, 1, 8, 1, 10],
  );
  assert.equal(EXIT.ok, 0);
  assert.equal(EXIT.usage, 2);
});

Deno.test("[e2e] CLI channel commands and push", async (t) => {
  await using server = await startTestServer();
  const http = ["--http", server.httpUrl];
  let token = "";

  await t.step("channel create prints only the token, exit 0", async () => {
    const run = await cli(["channel", "create", "news", ...http]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^[A-Za-z0-9_-]{43}\n$/);
    token = run.stdout.trim();
  });

  await t.step("create of a taken name exits 5 (409) with the server's details", async () => {
    const run = await cli(["create", "news", ...http]);
    assert.equal(run.code, EXIT.conflict);
    assert.equal(run.stdout, "");
    assert.equal(run.stderr, 'pushserver: 409 Conflict: A channel called "news" already exists\n');
  });

  await t.step("ping: 0 when it exists, 4 when missing, 3 for a wrong token", async () => {
    assert.deepEqual(await cli(["channel", "ping", "news", ...http]), {
      code: 0,
      stdout: "OK\n",
      stderr: "",
    });
    assert.equal((await cli(["ping", "nope", ...http])).code, EXIT.notFound);
    assert.equal((await cli(["ping", "news", "--token", "wrong", ...http])).code, EXIT.auth);
    assert.equal((await cli(["ping", "news", "--token", token, ...http])).code, EXIT.ok);
  });

  await t.step("push delivers; the token may come from $PUSHSERVER_TOKEN", async () => {
    await using subscriber = await TestClient.connect(server.wsUrl);
    await subscriber.act("SUBSCRIBE", "news");
    // --json: the MESSAGE is JSON text (here a string) and the answer is printed as JSON.
    const run = await cli(["push", "news", '"hello there"', "--json"], {
      env: { PUSHSERVER_HTTP: server.httpUrl, PUSHSERVER_TOKEN: token },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { channel: "news", sent: true });
    assert.equal((await subscriber.next()).data.pushMessage.message, "hello there");
  });

  await t.step("push - reads the message from stdin; --to narrows recipients", async () => {
    await using a = await TestClient.connect(server.wsUrl);
    await using b = await TestClient.connect(server.wsUrl);
    await a.act("SUBSCRIBE", "news");
    await b.act("SUBSCRIBE", "news");
    const run = await cli(["push", "news", "-", "--token", token, "--to", b.uuid, ...http], {
      stdin: "from stdin",
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await b.next()).data.pushMessage.message, "from stdin");
    assert.equal(await a.receivedNothing(), true);
  });

  await t.step("push errors map to exit codes: 3, 6, 7, 4", async () => {
    const push = (channel: string, message: string, tokenArg: string, extra: string[] = []) =>
      cli(["push", channel, message, "--token", tokenArg, ...extra, ...http]);
    assert.equal((await push("news", "x", "wrong")).code, EXIT.auth);
    assert.equal((await push("news", "x", token, ["--to", "not-a-uuid"])).code, EXIT.badRequest);
    assert.equal((await push("news", "x".repeat(70_000), token)).code, EXIT.tooLarge);
    assert.equal((await push("nope", "x", token)).code, EXIT.notFound);
  });

  await t.step("delete needs a token, then removes the channel", async () => {
    const missing = await cli(["channel", "delete", "news", ...http]);
    assert.equal(missing.code, EXIT.usage);
    assert.match(missing.stderr, /needs --token/);
    assert.equal((await cli(["delete", "news", "--token", token, ...http])).code, EXIT.ok);
    assert.equal((await cli(["ping", "news", ...http])).code, EXIT.notFound);
  });
});

Deno.test("[e2e] CLI v1.1 channel options, grants and rotation", async (t) => {
  await using server = await startTestServer();
  const http = ["--http", server.httpUrl];

  await t.step(
    "create --history SIZE,TTL: token on stdout, retention and epoch in --json",
    async () => {
      const run = await cli(["channel", "create", "feed", "--history", "5,60", "--json", ...http]);
      assert.equal(run.code, 0, run.stderr);
      const created = JSON.parse(run.stdout);
      assert.deepEqual(created.history, { size: 5, ttlSeconds: 60 });
      assert.equal(typeof created.epoch, "string");
      assert.equal(created.private, undefined);
      const ping = await post(
        `${server.httpUrl}/channel/ping`,
        action("PING_CHANNEL", { channel: "feed", channelToken: created.channelToken }),
      );
      assert.deepEqual(ping.body.data.history, { size: 5, ttlSeconds: 60 });

      const pushed = await cli([
        "push",
        "feed",
        "one",
        `--token=${created.channelToken}`,
        ...http,
      ]);
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.equal(pushed.stdout, `Sent (position 1:${created.epoch})\n`);
      const json = await cli([
        "push",
        "feed",
        '"two"',
        `--token=${created.channelToken}`,
        "--json",
        ...http,
      ]);
      assert.deepEqual(JSON.parse(json.stdout), {
        channel: "feed",
        sent: true,
        offset: 2,
        epoch: created.epoch,
      });
    },
  );

  await t.step("create --history SIZE defaults the TTL to one day", async () => {
    const run = await cli(["create", "daily", "--history", "10", ...http]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^[A-Za-z0-9_-]{43}\n$/);
    const ping = await post(
      `${server.httpUrl}/channel/ping`,
      action("PING_CHANNEL", { channel: "daily", channelToken: run.stdout.trim() }),
    );
    assert.deepEqual(ping.body.data.history, { size: 10, ttlSeconds: 86_400 });
  });

  await t.step("create --history with a bad value: 2 locally, 6 when out of range", async () => {
    for (const value of ["", "ten", "5,", "5,1h", "-1"]) {
      const run = await cli(["create", "x", `--history=${value}`, ...http]);
      assert.equal(run.code, EXIT.usage, `${value}: ${run.stderr}`);
    }
    const range = await cli(["create", "x", "--history", "0", ...http]);
    assert.equal(range.code, EXIT.badRequest, range.stderr);
    assert.match(range.stderr, /^pushserver: 400 Bad Request: data\.history\.size/);
  });

  // `--token=T`: a random token may start with "-", which parseArgs takes for an option.
  let token = "";
  await t.step("create --private: a subscribe is refused until authorize", async () => {
    const run = await cli(["channel", "create", "room", "--private", "--json", ...http]);
    assert.equal(run.code, 0, run.stderr);
    const created = JSON.parse(run.stdout);
    assert.equal(created.private, true);
    token = created.channelToken;
    await using subscriber = await TestClient.connect(server.wsUrl);
    assert.equal((await subscriber.act("SUBSCRIBE", "room")).code, 403);

    const granted = await cli([
      "channel",
      "authorize",
      "room",
      subscriber.uuid,
      `--token=${token}`,
      ...http,
    ]);
    assert.deepEqual(granted, { code: 0, stdout: "Authorized\n", stderr: "" });
    assert.equal((await subscriber.act("SUBSCRIBE", "room")).message, "Subscribed");

    const revoked = await cli([
      "revoke",
      "room",
      subscriber.uuid,
      `--token=${token}`,
      "--json",
      ...http,
    ]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.deepEqual(JSON.parse(revoked.stdout), {
      channel: "room",
      uuid: subscriber.uuid,
      revoked: true,
    });
    assert.equal((await subscriber.next()).message, "Subscription Revoked");
  });

  await t.step(
    "authorize/revoke errors: 4 unknown UUID, 3 wrong token, 6 bad UUID, 2 usage",
    async () => {
      const stranger = crypto.randomUUID();
      const unknown = await cli(["authorize", "room", stranger, `--token=${token}`, ...http]);
      assert.equal(unknown.code, EXIT.notFound);
      assert.equal(
        unknown.stderr,
        `pushserver: 404 Not found: No live connection has the UUID ${stranger}\n`,
      );
      assert.equal(
        (await cli(["authorize", "room", stranger, "--token=wrong", ...http])).code,
        EXIT.auth,
      );
      assert.equal(
        (await cli(["revoke", "room", "not-a-uuid", `--token=${token}`, ...http])).code,
        EXIT.badRequest,
      );
      assert.equal((await cli(["revoke", "room", stranger, `--token=${token}`, ...http])).code, 0);
      assert.equal(
        (await cli(["authorize", "room", `--token=${token}`, ...http])).code,
        EXIT.usage,
      );
      const noToken = await cli(["revoke", "room", stranger, ...http]);
      assert.equal(noToken.code, EXIT.usage);
      assert.match(noToken.stderr, /needs --token/);
    },
  );

  await t.step("rotate prints only the new token; the old one exits 3 from then on", async () => {
    const run = await cli(["channel", "rotate", "room", `--token=${token}`, ...http]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^[A-Za-z0-9_-]{43}\n$/);
    const fresh = run.stdout.trim();
    assert.notEqual(fresh, token);
    assert.equal((await cli(["ping", "room", `--token=${token}`, ...http])).code, EXIT.auth);
    assert.equal((await cli(["ping", "room", `--token=${fresh}`, ...http])).code, EXIT.ok);
    const json = await cli(["rotate", "room", "--json"], {
      env: { PUSHSERVER_HTTP: server.httpUrl, PUSHSERVER_TOKEN: fresh },
    });
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).channel, "room");
    assert.equal((await cli(["rotate", "room", `--token=${fresh}`, ...http])).code, EXIT.auth);
    assert.equal((await cli(["rotate", "nope", `--token=${fresh}`, ...http])).code, EXIT.notFound);
  });

  await t.step("options on the wrong command are usage errors", async () => {
    for (
      const args of [
        ["push", "room", "x", "--token=t", "--private"],
        ["ping", "room", "--history", "5"],
        ["rotate", "room", "--token=t", "--since", "1:abc"],
      ]
    ) {
      const run = await cli([...args, ...http]);
      assert.equal(run.code, EXIT.usage, `${JSON.stringify(args)}: ${run.stderr}`);
    }
  });
});

Deno.test("[e2e] CLI create: 507 past MAX_CHANNELS exits 10; $PUSHSERVER_CREATE_TOKEN is sent", async () => {
  const createToken = "create-token-of-16+chars";
  await using server = await startTestServer({ MAX_CHANNELS: "1", CREATE_TOKEN: createToken });
  const env = { PUSHSERVER_HTTP: server.httpUrl };
  const anonymous = await cli(["create", "first"], { env });
  assert.equal(anonymous.code, EXIT.auth);
  assert.match(anonymous.stderr, /^pushserver: 401 Unauthorized/);
  const withToken = { ...env, PUSHSERVER_CREATE_TOKEN: createToken };
  assert.equal((await cli(["create", "first"], { env: withToken })).code, EXIT.ok);
  const full = await cli(["create", "second"], { env: withToken });
  assert.equal(full.code, EXIT.full);
  assert.match(full.stderr, /^pushserver: 507 Insufficient Storage/);
});

Deno.test('[e2e] CLI --token takes the next argument even when it starts with "-"', async () => {
  // base64url tokens start with "-" about once in 64; parseArgs used to call such a value
  // ambiguous and exit 2 before anything was sent.
  await using server = await startTestServer();
  const http = ["--http", server.httpUrl];
  const token = (await cli(["create", "dash", ...http])).stdout.trim();
  for (const wrong of [`-${token.slice(1)}`, "--json", "-"]) {
    const run = await cli(["ping", "dash", "--token", wrong, ...http]);
    assert.equal(run.code, EXIT.auth, `${wrong}: ${run.stderr}`);
    assert.equal(run.stdout, "", "the value was taken as the token, not as --json");
    assert.match(run.stderr, /^pushserver: 403 Forbidden/);
  }
  const push = await cli(["push", "dash", "hi", "--token", `-${token.slice(1)}`, ...http]);
  assert.equal(push.code, EXIT.auth, push.stderr);
  // The same holds for the other options that take a value, and `--` still ends the options.
  const count = await cli(["subscribe", "dash", "--count", "-1", "--ws", server.wsUrl]);
  assert.equal(count.code, EXIT.usage);
  assert.match(count.stderr, /--count must be a whole number from 1, got "-1"/);
  const right = await cli(["ping", "dash", "--token", token, ...http]);
  assert.equal(right.code, EXIT.ok, right.stderr);
});

Deno.test("[e2e] CLI subscribe prints pushes as they arrive", async (t) => {
  await using server = await startTestServer();
  const created = await cli(["create", "news", "--http", server.httpUrl]);
  const token = created.stdout.trim();

  /** Starts `subscribe`, resolving `ready` once it reports the subscription. */
  function start(args: string[], signal?: AbortSignal) {
    const ready = Promise.withResolvers<void>();
    const lineWaiters: [number, () => void][] = [];
    let stdout = "";
    let stderr = "";
    const exited = runCli(["subscribe", ...args, "--ws", server.wsUrl], {
      stdout: (text) => {
        stdout += text;
        const lines = stdout.split("\n").length - 1;
        for (const [n, resolve] of lineWaiters) if (lines >= n) resolve();
      },
      stderr: (text) => {
        stderr += text;
        if (stderr.includes("subscribed to")) ready.resolve();
      },
      env: {},
      ...(signal ? { signal } : {}),
    });
    return {
      ready: within(5000, ready.promise, "the subscription"),
      exited: () => within(5000, exited, "the CLI to exit"),
      output: () => ({ stdout, stderr }),
      /** Resolves once `n` lines have been printed. */
      lines: (n: number) => {
        const { promise, resolve } = Promise.withResolvers<void>();
        if (stdout.split("\n").length - 1 >= n) resolve();
        else lineWaiters.push([n, resolve]);
        return within(5000, promise, `${n} lines of output`);
      },
    };
  }
  const send = (message: string) =>
    cli(["push", "news", message, "--token", token, "--http", server.httpUrl]);

  await t.step("--count 2 prints two pushes as `channel: message`, then exits 0", async () => {
    const run = start(["news", "--count", "2"]);
    await run.ready;
    await send("one");
    await send("two");
    assert.equal(await run.exited(), 0);
    assert.equal(run.output().stdout, "news: one\nnews: two\n");
    assert.match(run.output().stderr, /^subscribed to news as [0-9a-f-]{36}\n$/);
  });

  await t.step("--json prints one object per line; the signal ends it with 0", async () => {
    const controller = new AbortController();
    const run = start(["news", "--json"], controller.signal);
    await run.ready;
    await send("line\nbreak");
    await send("last");
    await run.lines(2);
    controller.abort();
    assert.equal(await run.exited(), 0);
    const lines = run.output().stdout.trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(lines.map((l) => [l.channel, l.message]), [
      ["news", "line\nbreak"],
      ["news", "last"],
    ]);
  });

  await t.step("a missing channel exits 4", async () => {
    const run = await cli(["subscribe", "nope", "--ws", server.wsUrl]);
    assert.equal(run.code, EXIT.notFound);
    assert.equal(run.stderr, 'pushserver: 404 Not found: Could not find a channel called "nope"\n');
  });

  await t.step("deleting the only channel exits 4", async () => {
    const other = (await cli(["create", "brief", "--http", server.httpUrl])).stdout.trim();
    const run = start(["brief"]);
    await run.ready;
    await cli(["delete", "brief", "--token", other, "--http", server.httpUrl]);
    assert.equal(await run.exited(), EXIT.notFound);
    assert.match(run.output().stderr, /channel "brief" was deleted/);
  });
});

/** Runs `subscribe …` in-process; `ready` resolves with the UUID once it has subscribed. */
function startSubscribe(server: TestServer, args: string[]) {
  const ready = Promise.withResolvers<string>();
  let stdout = "";
  let stderr = "";
  const exited = runCli(["subscribe", ...args, "--ws", server.wsUrl], {
    stdout: (text) => stdout += text,
    stderr: (text) => {
      stderr += text;
      const uuid = /subscribed to .* as ([0-9a-f-]{36})\n/.exec(stderr)?.[1];
      if (uuid) ready.resolve(uuid);
    },
    env: {},
  });
  exited.then(() => ready.reject(new Error(`exited before subscribing: ${stderr}`)));
  return {
    ready: within(5000, ready.promise, "the subscription"),
    exited: () => within(5000, exited, "the CLI to exit"),
    output: () => ({ stdout, stderr }),
  };
}

Deno.test("[e2e] CLI subscribe on history channels: offsets, --since, position on exit", async (t) => {
  await using server = await startTestServer();
  const publisher = new PushPublisher({ baseUrl: server.httpUrl });
  const { channelToken, epoch } = await publisher.createChannel("feed", {
    history: { size: 10, ttlSeconds: 600 },
  });
  const send = (message: string) => publisher.push("feed", channelToken, message);

  await t.step(
    "--json lines carry offset and epoch; the position printed is the last line's",
    async () => {
      const run = startSubscribe(server, ["feed", "--count", "2", "--json"]);
      await run.ready;
      for (const message of ["m1", "m2", "m3"]) await send(message);
      assert.equal(await run.exited(), 0);
      const { stdout, stderr } = run.output();
      const lines = stdout.trim().split("\n").map((line) => JSON.parse(line));
      assert.deepEqual(lines.map((l) => [l.message, l.offset, l.epoch]), [
        ["m1", 1, epoch],
        ["m2", 2, epoch],
      ]);
      // m3 may have arrived too, but it was not printed: resuming must not skip it.
      assert.match(stderr, new RegExp(`\nposition 2:${epoch} feed\n$`));
    },
  );

  await t.step("--since OFFSET:EPOCH prints what was missed first, then live pushes", async () => {
    await send("m4");
    const run = startSubscribe(server, ["feed", "--since", `2:${epoch}`, "--count", "3"]);
    await run.ready;
    await send("m5");
    assert.equal(await run.exited(), 0);
    assert.equal(run.output().stdout, "feed: m3\nfeed: m4\nfeed: m5\n");
    assert.match(run.output().stderr, new RegExp(`\nposition 5:${epoch} feed\n$`));
  });

  await t.step(
    "a position that cannot be recovered is reported, then it goes on live",
    async () => {
      const run = startSubscribe(server, ["feed", "--since", "1:other-epoch", "--count", "1"]);
      await run.ready;
      await send("m6");
      assert.equal(await run.exited(), 0);
      assert.equal(run.output().stdout, "feed: m6\n");
      const { stderr } = run.output();
      assert.match(
        stderr,
        new RegExp(
          `channel "feed": missed pushes could not be recovered \\(the channel was re-created\\); continuing after 5:${epoch}`,
        ),
      );
      assert.match(stderr, new RegExp(`\nposition 6:${epoch} feed\n$`));
    },
  );

  await t.step(
    "the signal ends it with 0 and the start position when nothing arrived",
    async () => {
      const plainToken = (await publisher.createChannel("plain")).channelToken;
      const controller = new AbortController();
      const ready = Promise.withResolvers<void>();
      let stderr = "";
      const exited = runCli(["subscribe", "plain", "feed", "--ws", server.wsUrl], {
        stdout: () => {},
        stderr: (text) => {
          stderr += text;
          if (stderr.includes("subscribed to")) ready.resolve();
        },
        env: {},
        signal: controller.signal,
      });
      await within(5000, ready.promise, "the subscription");
      await publisher.push("plain", plainToken, "v1");
      controller.abort();
      assert.equal(await within(5000, exited, "the CLI to exit"), 0);
      // Only history channels have a position.
      assert.deepEqual(stderr.split("\n").filter((l) => l.startsWith("position")), [
        `position 6:${epoch} feed`,
      ]);
    },
  );

  await t.step("a revoked subscription ends it with 3", async () => {
    const run = startSubscribe(server, ["feed"]);
    const uuid = await run.ready;
    await publisher.revoke("feed", channelToken, uuid);
    assert.equal(await run.exited(), EXIT.auth);
    assert.match(run.output().stderr, /subscription to "feed" was revoked\n/);
  });

  await t.step("a malformed --since or one too many is a usage error", async () => {
    for (
      const args of [
        ["feed", "--since", "abc"],
        ["feed", "--since", "1:"],
        ["feed", "--since", "-1:e"],
        ["feed", "--since", "1:a", "--since", "2:b"],
      ]
    ) {
      const run = await cli(["subscribe", ...args, "--ws", server.wsUrl]);
      assert.equal(run.code, EXIT.usage, `${JSON.stringify(args)}: ${run.stderr}`);
    }
  });
});

Deno.test("CLI usage errors exit 2; an unreachable server exits 9", async () => {
  const help = await cli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: pushserver cli/);
  for (
    const args of [[], ["frobnicate"], ["create"], ["push", "news"], ["--bogus"], [
      "subscribe",
      "x",
      "--count",
      "0",
    ]]
  ) {
    const run = await cli(args);
    assert.equal(run.code, EXIT.usage, `${JSON.stringify(args)}: ${run.stderr}`);
    assert.notEqual(run.stderr, "");
  }
  const port = freePort();
  const http = await cli(["create", "x", "--http", `http://127.0.0.1:${port}`]);
  assert.equal(http.code, EXIT.network);
  assert.match(
    http.stderr,
    new RegExp(`^pushserver: cannot reach the server at http://127\\.0\\.0\\.1:${port}: `),
  );
  const ws = await cli(["subscribe", "x", "--ws", `ws://127.0.0.1:${port}`]);
  assert.equal(ws.code, EXIT.network);
  assert.match(
    ws.stderr,
    new RegExp(`^pushserver: cannot reach the server at ws://127\\.0\\.0\\.1:${port}: `),
  );
});

Deno.test("[e2e] `deno run main.ts cli …` runs the CLI as a subcommand (as the binary does)", async () => {
  await using server = await startTestServer();
  const main = new URL("../main.ts", import.meta.url).pathname;
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--allow-env", "--allow-read", main, "cli", ...args],
      env: { PUSHSERVER_HTTP: server.httpUrl, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
  const created = await run(["channel", "create", "sub"]);
  assert.equal(created.code, 0, new TextDecoder().decode(created.stderr));
  assert.match(new TextDecoder().decode(created.stdout), /^[A-Za-z0-9_-]{43}\n$/);
  const missing = await run(["ping", "nope"]);
  assert.equal(missing.code, EXIT.notFound);
  assert.equal(
    new TextDecoder().decode(missing.stderr),
    'pushserver: 404 Not found: Could not find a channel called "nope"\n',
  );
});

Deno.test("CLI help, --version and malformed server URLs", async (t) => {
  await t.step("help and --help print the usage on stdout, exit 0", async () => {
    for (const args of [["help"], ["--help"], ["help", "push"]]) {
      const run = await cli(args);
      assert.equal(run.code, EXIT.ok, JSON.stringify(args));
      assert.match(run.stdout, /^Usage: pushserver cli/);
      assert.match(run.stdout, /channel list/);
    }
  });

  await t.step("--version prints deno.json's version", async () => {
    const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
    assert.deepEqual(await cli(["--version"]), {
      code: EXIT.ok,
      stdout: `pushserver ${config.version}\n`,
      stderr: "",
    });
  });

  await t.step("a URL without its scheme is a usage error that suggests the full URL", async () => {
    const http = await cli(["ping", "news", "--http", "localhost:5223"]);
    assert.equal(http.code, EXIT.usage);
    assert.match(
      http.stderr,
      /^pushserver: --http expects a http:\/\/ or https:\/\/ URL, got "localhost:5223" \(e\.g\. http:\/\/localhost:5223\)\n/,
    );
    const env = await cli(["ping", "news"], { env: { PUSHSERVER_HTTP: "localhost:5223" } });
    assert.equal(env.code, EXIT.usage);
    assert.match(env.stderr, /^pushserver: \$PUSHSERVER_HTTP expects/);
    const ws = await cli(["subscribe", "news", "--ws", "http://localhost:5222"]);
    assert.equal(ws.code, EXIT.usage);
    assert.match(
      ws.stderr,
      /--ws expects a ws:\/\/ or wss:\/\/ URL.*\(e\.g\. ws:\/\/localhost:5222\)/,
    );
  });
});

Deno.test('[e2e] CLI push: a message starting with "-" goes after --, before or after --token', async () => {
  await using server = await startTestServer();
  const http = ["--http", server.httpUrl];
  const token = (await cli(["create", "news", ...http])).stdout.trim();
  await using subscriber = await TestClient.connect(server.wsUrl);
  await subscriber.act("SUBSCRIBE", "news");

  const refused = await cli(["push", "news", "-5", "--token", token, ...http]);
  assert.equal(refused.code, EXIT.usage);
  assert.match(refused.stderr, /unknown option "-5".*push NAME -- "-5" --token T/);
  const missing = await cli(["push", "news", "--token", token, ...http]);
  assert.equal(missing.code, EXIT.usage);
  assert.match(missing.stderr, /push news -- "-5" --token T\)/);
  for (const run of [refused, missing]) {
    const firstLine = run.stderr.split("\n")[0]!;
    assert.equal(firstLine.split('"').length % 2, 1, `balanced quotes: ${firstLine}`);
  }

  for (
    const args of [
      ["push", "news", "--", "-5", "--token", token, ...http],
      ["push", "news", "--token", token, ...http, "--", "-5"],
      ["channel", "push", "news", "--token", token, "--", "--json"],
    ]
  ) {
    const run = await cli(args, { env: { PUSHSERVER_HTTP: server.httpUrl } });
    assert.deepEqual(run, { code: 0, stdout: "Sent\n", stderr: "" }, JSON.stringify(args));
  }
  assert.equal((await subscriber.next()).data.pushMessage.message, "-5");
  assert.equal((await subscriber.next()).data.pushMessage.message, "-5");
  assert.equal((await subscriber.next()).data.pushMessage.message, "--json");
  // After `--`, only as many arguments as the command takes are literal: a stray one is an error.
  const extra = await cli(["push", "news", "--", "-5", "more", "--token", token, ...http]);
  assert.equal(extra.code, EXIT.usage);
});

Deno.test("[e2e] CLI channel list needs $ADMIN_TOKEN and lists every channel", async (t) => {
  const adminToken = "cli-admin-token-0123456789";
  await t.step("without ADMIN_TOKEN on the server: exit 4 naming ADMIN_TOKEN", async () => {
    await using server = await startTestServer();
    const run = await cli(["channel", "list"], {
      env: { PUSHSERVER_HTTP: server.httpUrl, ADMIN_TOKEN: adminToken },
    });
    assert.equal(run.code, EXIT.notFound);
    assert.match(run.stderr, /^pushserver: 404 .*ADMIN_TOKEN/);
  });

  await using server = await startTestServer({ ADMIN_TOKEN: adminToken });
  const env = { PUSHSERVER_HTTP: server.httpUrl };
  for (const name of ["zeta", "alpha"]) await cli(["create", name], { env });

  await t.step("no $ADMIN_TOKEN here: a usage error", async () => {
    const run = await cli(["channel", "list"], { env });
    assert.equal(run.code, EXIT.usage);
    assert.match(run.stderr, /channel list needs \$ADMIN_TOKEN/);
  });

  await t.step("the right token: names, sorted, one per line; --json the totals", async () => {
    const run = await cli(["channel", "list"], { env: { ...env, ADMIN_TOKEN: adminToken } });
    assert.deepEqual(run, { code: 0, stdout: "alpha\nzeta\n", stderr: "" });
    const json = await cli(["list", "--json"], { env: { ...env, ADMIN_TOKEN: adminToken } });
    assert.deepEqual(JSON.parse(json.stdout), {
      channels: ["alpha", "zeta"],
      channelsAmount: 2,
      clientsAmount: 0,
    });
  });

  await t.step("a wrong token exits 3", async () => {
    const run = await cli(["list"], { env: { ...env, ADMIN_TOKEN: "wrong-token-0123456789" } });
    assert.equal(run.code, EXIT.auth);
  });
});

Deno.test("[e2e] CLI subscribe waits for a grant on a private channel while the others run", async () => {
  await using server = await startTestServer();
  const publisher = new PushPublisher({ baseUrl: server.httpUrl });
  const news = await publisher.createChannel("news");
  const room = await publisher.createChannel("room", { private: true });
  const controller = new AbortController();
  let stdout = "";
  let stderr = "";
  const waiters: [RegExp, () => void][] = [];
  const seen = (pattern: RegExp, of: () => string) => {
    const { promise, resolve } = Promise.withResolvers<void>();
    if (pattern.test(of())) resolve();
    else waiters.push([pattern, resolve]);
    return within(5000, promise, String(pattern));
  };
  const wake = () => {
    for (const [pattern, resolve] of waiters) if (pattern.test(stdout + stderr)) resolve();
  };
  const exited = runCli(["subscribe", "room", "news", "--ws", server.wsUrl], {
    stdout: (text) => {
      stdout += text;
      wake();
    },
    stderr: (text) => {
      stderr += text;
      wake();
    },
    env: {},
    signal: controller.signal,
    grantRetryMs: 10,
  });
  await seen(/subscribed to news as [0-9a-f-]{36}\n/, () => stderr);
  const uuid = /subscribed to news as ([0-9a-f-]{36})/.exec(stderr)![1]!;
  assert.match(
    stderr,
    new RegExp(
      `^channel "room" is private: waiting for a grant for ${uuid} \\(pushserver cli channel authorize room ${uuid} --token T\\)\n`,
    ),
  );
  await publisher.push("news", news.channelToken, "while waiting");
  await seen(/news: while waiting\n/, () => stdout);

  await publisher.authorize("room", room.channelToken, uuid);
  await seen(/subscribed to room \(granted\)\n/, () => stderr);
  await publisher.push("room", room.channelToken, "inside");
  await seen(/room: inside\n/, () => stdout);
  controller.abort();
  assert.equal(await within(5000, exited, "the CLI to exit"), EXIT.ok);
  assert.equal(stdout, "news: while waiting\nroom: inside\n");
});
