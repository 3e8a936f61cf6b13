import assert from "node:assert/strict";
import { EXIT, exitCodeFor, runCli } from "../src/cli.ts";
import { startTestServer, TestClient } from "./_helpers.ts";
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
    [0, 400, 401, 403, 404, 409, 413, 429, 500, 503, 502].map(exitCodeFor),
    [9, 6, 3, 3, 4, 5, 7, 8, 1, 8, 1],
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
    const run = await cli(["push", "news", "hello there", "--json"], {
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
  assert.match(http.stderr, /^pushserver: cannot reach the server/);
  const ws = await cli(["subscribe", "x", "--ws", `ws://127.0.0.1:${port}`]);
  assert.equal(ws.code, EXIT.network);
  assert.match(ws.stderr, /^pushserver: 0 Connection failed/);
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
