/** A wrong-token flood must not lock out other publishers, nor creates (issue 12, item 3). */
import assert from "node:assert/strict";
import { request } from "node:http";
import { join } from "node:path";
import { action } from "../_helpers.ts";
import { ServerProcess } from "./_process.ts";

const FLOOD = new URL("./_token_flood.ts", import.meta.url).pathname;

/**
 * POSTs JSON from the local address `from` (fetch cannot choose one; node:http can) and returns
 * the status and how long the answer took.
 */
function postFrom(
  from: string,
  port: number,
  path: string,
  body: unknown,
): Promise<{ status: number; ms: number; body: string }> {
  const started = performance.now();
  const { promise, resolve, reject } = Promise.withResolvers<
    { status: number; ms: number; body: string }
  >();
  const req = request({
    host: "127.0.0.1",
    port,
    path,
    method: "POST",
    localAddress: from,
    headers: { "content-type": "application/json" },
  }, (res) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => text += chunk);
    res.on(
      "end",
      () => resolve({ status: res.statusCode!, ms: performance.now() - started, body: text }),
    );
  });
  req.on("error", reject);
  req.end(JSON.stringify(body));
  return promise;
}

/** What a publisher on 127.0.0.2 saw of its first push and a create during a flood. */
interface FloodOutcome {
  readonly pushed: { status: number; ms: number; body: string };
  readonly created: { status: number; ms: number; body: string };
  /** The attackers' answers, by status. */
  readonly statuses: Record<string, number>;
}

/**
 * Restarts a server (so the publisher's token is not verified yet), floods it with wrong tokens
 * at `concurrency` from `addresses` claimed addresses (0: all from 127.0.0.1 itself), and once
 * the flood is in full swing has 127.0.0.2 push with its right token, then create a channel.
 */
async function underFlood(
  concurrency: number,
  addresses: number,
  extraEnv: Record<string, string> = {},
): Promise<FloodOutcome> {
  const dir = await Deno.makeTempDir({ prefix: "pushserver-flood-" });
  // The attack is about bcrypt time, so bcrypt must cost real time: at cost 9 (~35 ms a check,
  // half the default) the old first-come slots kept both the push (429s) and the create (queued
  // behind 64 checks: over 1 s) out, and the bounds leave room for a busy machine.
  const env = { DB_PATH: join(dir, "p.db"), BCRYPT_COST: "9", LOG_LEVEL: "error", ...extraEnv };
  try {
    // The channel is created by an earlier process, so after the restart its token is not
    // verified yet: the publisher's first push needs a bcrypt check, like the attacker's.
    let token: string;
    {
      await using first = await ServerProcess.spawn(env);
      const created = await postFrom(
        "127.0.0.2",
        first.httpPort,
        "/channel/create",
        action("CREATE_CHANNEL", { channel: "news" }),
      );
      assert.equal(created.status, 200);
      token = JSON.parse(created.body).data.channelToken;
      first.kill("SIGTERM");
      assert.equal((await first.exit()).code, 0);
    }
    await using server = await ServerProcess.spawn(env);
    // The attackers in their own process, each sending its next wrong token as soon as the last
    // is answered; bounded: the flood ends after 20 s at most.
    const flood = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        FLOOD,
        `${server.httpUrl}/push`,
        String(concurrency),
        "20",
        String(addresses),
      ],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const lines = flood.stdout.pipeThrough(new TextDecoderStream()).values();
    let pushed;
    let created;
    try {
      // Once 2,000 answers came back and every address had a token checked, every queue is as
      // full as the flood makes it and every attacking address has sent a wrong token.
      assert.equal((await lines.next()).value?.trim(), "ready");
      pushed = await postFrom(
        "127.0.0.2",
        server.httpPort,
        "/push",
        action("PUSH_MESSAGE", {
          channel: "news",
          channelToken: token,
          recipients: [],
          message: "hello",
        }),
      );
      created = await postFrom(
        "127.0.0.2",
        server.httpPort,
        "/channel/create",
        action("CREATE_CHANNEL", { channel: "second" }),
      );
    } finally {
      await flood.stdin.close();
    }
    const statuses = JSON.parse((await lines.next()).value ?? "{}");
    await lines.return?.();
    assert.equal((await flood.status).code, 0);
    return { pushed, created, statuses };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "[e2e][single] a wrong-token flood from 127.0.0.1 at concurrency 1,024: a publisher on 127.0.0.2 gets its first push answered within 1 s, a create within 1.5 s",
  ignore: Deno.build.os !== "linux", // 127.0.0.2 is a loopback address on Linux only
  async fn() {
    const { pushed, created, statuses } = await underFlood(1024, 0);
    assert.equal(pushed.status, 200, pushed.body);
    assert.ok(pushed.ms < 1000, `first push took ${Math.round(pushed.ms)} ms`);
    assert.equal(created.status, 200, created.body);
    // PROTOCOL.md v1.2 allows a create 1.5 s under a flood: it hashes on its own worker, but that
    // worker shares the cores with both verify workers (~1.0–1.3 s measured with other load).
    assert.ok(created.ms < 1500, `create took ${Math.round(created.ms)} ms`);
    // Once its failure budget was spent, the attacker was answered 429 without bcrypt.
    assert.ok((statuses["429"] ?? 0) > 10 * (statuses["403"] ?? 0), JSON.stringify(statuses));
  },
});

Deno.test({
  name:
    "[e2e][single] 64 addresses × 16 concurrent wrong tokens (through a trusted proxy) after a restart: a clean publisher's first push answers 200 within 1 s, its create within 1.5 s",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // The size (64 × 16). Per-address fairness alone put the publisher behind every
    // address's turn: its first push took 18.8 s. Clean sources first bound it by one check.
    const { pushed, created, statuses } = await underFlood(1024, 64, {
      TRUSTED_PROXIES: "127.0.0.1",
    });
    assert.equal(pushed.status, 200, pushed.body);
    assert.ok(pushed.ms < 1000, `first push took ${Math.round(pushed.ms)} ms`);
    assert.equal(created.status, 200, created.body);
    assert.ok(created.ms < 1500, `create took ${Math.round(created.ms)} ms`);
    // Every address was checked and refused (403), so each was a source of its own.
    assert.ok((statuses["403"] ?? 0) >= 64, JSON.stringify(statuses));
  },
});
