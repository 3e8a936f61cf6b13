/**
 * The CLI's v1.2 publishing commands (issue 20): `push --json`, `push --receipt`,
 * `push --batch FILE.ndjson` and `history NAME [--since] [--limit]`, against a real server.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { EXIT, runCli } from "../src/cli/main.ts";
import { PushPublisher } from "../src/publisher/publisher.js";
import { startTestServer, TestClient } from "./_helpers.ts";

/** Runs the CLI in-process and captures its output. */
async function cli(
  args: string[],
  options: { stdin?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    env: {},
    stdin: () => Promise.resolve(options.stdin ?? ""),
  });
  return { code, stdout, stderr };
}

Deno.test("[e2e] CLI push --json, --receipt, --batch and history", async (t) => {
  await using server = await startTestServer();
  const http = ["--http", server.httpUrl];
  const publisher = new PushPublisher({ baseUrl: server.httpUrl });
  const news = await publisher.createChannel("news");
  const feed = await publisher.createChannel("feed", { history: { size: 50, ttlSeconds: 600 } });
  await using sub = await TestClient.connect(server.wsUrl);
  await sub.act("SUBSCRIBE", "news");
  await sub.act("SUBSCRIBE", "feed");

  await t.step("push --json sends the parsed value and prints the answer as JSON", async () => {
    const run = await cli([
      "push",
      "news",
      '{"score":[2,1],"final":true}',
      "--json",
      "--token",
      news.channelToken,
      ...http,
    ]);
    assert.equal(run.code, EXIT.ok, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { channel: "news", sent: true });
    assert.deepEqual((await sub.next()).data.pushMessage.message, { score: [2, 1], final: true });
    const number = await cli(
      ["push", "news", "-", "--json", "--token", news.channelToken, ...http],
      {
        stdin: "42",
      },
    );
    assert.equal(number.code, EXIT.ok, number.stderr);
    assert.equal((await sub.next()).data.pushMessage.message, 42);
  });

  await t.step("push without --json sends the text as a string, JSON-looking or not", async () => {
    const run = await cli(["push", "news", "42", "--token", news.channelToken, ...http]);
    assert.equal(run.code, EXIT.ok, run.stderr);
    assert.equal((await sub.next()).data.pushMessage.message, "42");
  });

  await t.step("push --json with a MESSAGE that is not JSON (or null) exits 2", async () => {
    for (const message of ["hello", "null", "{"]) {
      const run = await cli(["push", "news", message, "--json", "--token", "t", ...http]);
      assert.equal(run.code, EXIT.usage, message);
      assert.match(run.stderr, /JSON/);
    }
    assert.equal(await sub.receivedNothing(), true);
  });

  await t.step("push --receipt prints what the push reached", async () => {
    const run = await cli([
      "push",
      "news",
      "r",
      "--receipt",
      "--to",
      sub.uuid,
      "--to",
      "00000000-0000-4000-8000-000000000000",
      "--token",
      news.channelToken,
      ...http,
    ]);
    assert.equal(run.code, EXIT.ok, run.stderr);
    assert.equal(
      run.stdout,
      "Sent (delivered 1; undelivered 00000000-0000-4000-8000-000000000000)\n",
    );
    assert.equal((await sub.next()).data.pushMessage.message, "r");
    const json = await cli([
      "push",
      "feed",
      '"s"',
      "--receipt",
      "--json",
      "--token",
      feed.channelToken,
      ...http,
    ]);
    assert.deepEqual(JSON.parse(json.stdout), {
      channel: "feed",
      offset: 1,
      epoch: feed.epoch,
      delivered: 1,
      sent: true,
    });
    assert.equal((await sub.next()).data.pushMessage.message, "s");
  });

  await t.step(
    "push --batch FILE sends every line, 100 per request, one result per line",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "pushserver-cli-batch-" });
      try {
        const file = join(dir, "pushes.ndjson");
        const lines = [
          ...Array.from(
            { length: 120 },
            (_, i) => JSON.stringify({ channel: "feed", message: { i } }),
          ),
          "",
          JSON.stringify({ channel: "news", channelToken: "wrong", message: "no" }),
          JSON.stringify({ channel: "news", message: "last" }),
        ];
        await Deno.writeTextFile(file, lines.join("\n") + "\n");
        const run = await cli(["push", "--batch", file, "--token", feed.channelToken, ...http]);
        // The wrong token item fails (403 → exit 3); so does the last, whose default token is feed's.
        assert.equal(run.code, EXIT.auth, run.stderr);
        const out = run.stdout.trimEnd().split("\n");
        assert.equal(out.length, 122);
        assert.equal(out[0], `feed: Sent (position 2:${feed.epoch})`);
        assert.equal(out[119], `feed: Sent (position 121:${feed.epoch})`);
        assert.equal(out[120], "403 Forbidden: Channel token is invalid");
        assert.equal(out[121], "403 Forbidden: Channel token is invalid");
        for (let i = 0; i < 120; i++) {
          assert.deepEqual((await sub.next()).data.pushMessage.message, { i });
        }
        const json = await cli([
          "push",
          "--batch",
          "-",
          "--json",
          "--token",
          news.channelToken,
          ...http,
        ], {
          stdin: JSON.stringify({ channel: "news", message: [1, 2], receipt: true }),
        });
        assert.equal(json.code, EXIT.ok, json.stderr);
        assert.deepEqual(JSON.parse(json.stdout), { channel: "news", delivered: 1, sent: true });
        assert.deepEqual((await sub.next()).data.pushMessage.message, [1, 2]);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );

  await t.step(
    "push --batch refuses a line that is not a JSON object, before sending",
    async () => {
      const run = await cli(["push", "--batch", "-", "--token", "t", ...http], {
        stdin: `${JSON.stringify({ channel: "news", message: "a" })}\n[1]\n`,
      });
      assert.equal(run.code, EXIT.usage);
      assert.match(run.stderr, /line 2 is not a JSON object/);
      assert.equal(await sub.receivedNothing(), true);
    },
  );

  await t.step("history prints the retained pushes and the position to read on from", async () => {
    const run = await cli([
      "history",
      "feed",
      "--limit",
      "3",
      "--token",
      feed.channelToken,
      ...http,
    ]);
    assert.equal(run.code, EXIT.ok, run.stderr);
    const lines = run.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 3);
    // The channel keeps 50: the oldest retained push is 72 (offset n carries {i: n - 2}).
    assert.match(lines[0]!, /^72 \d{4}-\d\d-\d\dT[\d:.]+Z \{"i":70\}$/);
    assert.match(lines[2]!, /^74 \S+ \{"i":72\}$/);
    assert.equal(run.stderr, `position 74:${feed.epoch} feed\n`);
    const rest = await cli([
      "history",
      "feed",
      "--since",
      `119:${feed.epoch}`,
      "--json",
      "--token",
      feed.channelToken,
      ...http,
    ]);
    assert.equal(rest.code, EXIT.ok, rest.stderr);
    const entries = rest.stdout.trimEnd().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(entries.map((e) => [e.offset, e.message]), [[120, { i: 118 }], [121, {
      i: 119,
    }]]);
    assert.equal(entries[0].channel, "feed");
    assert.equal(entries[0].epoch, feed.epoch);
    assert.equal(rest.stderr, `position 121:${feed.epoch} feed\n`);
  });

  await t.step("history without --limit prints every retained push", async () => {
    const all = await cli(["history", "feed", "--token", feed.channelToken, ...http]);
    assert.equal(all.code, EXIT.ok, all.stderr);
    // size 50: the newest 50 of 121.
    const offsets = all.stdout.trimEnd().split("\n").map((line) => Number(line.split(" ")[0]));
    assert.deepEqual(offsets, Array.from({ length: 50 }, (_, i) => 72 + i));
  });

  await t.step("history from a stale position says so and prints the current top", async () => {
    const run = await cli([
      "history",
      "feed",
      "--since",
      "3:stale",
      "--token",
      feed.channelToken,
      ...http,
    ]);
    assert.equal(run.code, EXIT.ok);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /no longer all kept/);
    assert.match(run.stderr, new RegExp(`position 121:${feed.epoch} feed\n$`));
  });

  await t.step(
    "history errors: no history 409 (exit 5), wrong token 3, bad --limit 2",
    async () => {
      assert.equal(
        (await cli(["history", "news", "--token", news.channelToken, ...http])).code,
        EXIT.conflict,
      );
      assert.equal((await cli(["history", "feed", "--token", "wrong", ...http])).code, EXIT.auth);
      for (const limit of ["0", "x", "1.5"]) {
        const run = await cli(["history", "feed", "--limit", limit, "--token", "t", ...http]);
        assert.equal(run.code, EXIT.usage, limit);
      }
      assert.equal(
        (await cli(["push", "news", "x", "--limit", "3", "--token", "t"])).code,
        EXIT.usage,
      );
      assert.equal((await cli(["history", "feed", "--receipt", "--token", "t"])).code, EXIT.usage);
    },
  );
});
