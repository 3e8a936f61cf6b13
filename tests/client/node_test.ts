/**
 * The client in Node 20 (the machine's /usr/bin/node), with the `ws` package and with Node's own
 * `--experimental-websocket`: a failed first connection must reject cleanly, never crash or hang.
 */
import assert from "node:assert/strict";
import { createChannel, startTestServer } from "../_helpers.ts";
import { freePort, startV1Server } from "./_support.ts";

const CLIENT = new URL("../../src/client/pushserver.js", import.meta.url).href;
const PUBLISHER = new URL("../../src/publisher/publisher.js", import.meta.url).href;
/** `ws` from Deno's npm cache (pinned in deno.json, installed by `deno install`). */
const WS_PACKAGE = import.meta.resolve("ws");

/** What the Node script reports for one connection attempt. */
interface Attempt {
  readonly case: string;
  readonly rejected: boolean;
  readonly name?: string;
  readonly code?: number;
  readonly message?: string;
  readonly ms: number;
}

/**
 * Runs `PushClient.connect()` in Node against `closedPort` (nothing listens) and `silentPort`
 * (accepts TCP, never answers the handshake), each with `connectTimeoutMs`, and returns what
 * happened (`code` is null when Node did not end by itself within 20 s).
 */
async function connectInNode(
  implementation: "ws" | "builtin",
  ports: { closedPort: number; silentPort: number; connectTimeoutMs: number },
): Promise<{ code: number | null; attempts: Attempt[]; stderr: string }> {
  const script = `
    import { PushClient } from ${JSON.stringify(CLIENT)};
    ${implementation === "ws" ? `import WebSocket from ${JSON.stringify(WS_PACKAGE)};` : ""}
    // The WebSocket implementations are under test: no SSE fallback after them.
    const options = {
      transports: ["websocket"],
      connectTimeoutMs: ${ports.connectTimeoutMs},
      ${implementation === "ws" ? "WebSocket," : ""}
    };
    async function attempt(name, port) {
      const started = performance.now();
      try {
        await PushClient.connect("ws://127.0.0.1:" + port, options);
        return { case: name, rejected: false, ms: performance.now() - started };
      } catch (error) {
        return {
          case: name, rejected: true, name: error?.name, code: error?.code,
          message: error?.message, ms: performance.now() - started,
        };
      }
    }
    const results = [
      await attempt("refused", ${ports.closedPort}),
      await attempt("silent", ${ports.silentPort}),
    ];
    process.stdout.write(JSON.stringify(results));
  `;
  const run = await runNode(implementation, script);
  return {
    code: run.code,
    attempts: run.stdout === "" ? [] : JSON.parse(run.stdout),
    stderr: run.stderr,
  };
}

/**
 * Runs an ES module `script` in Node (with `--experimental-websocket` for "builtin"); killed
 * after 20 s if it has not ended by itself. `code` is null when it had to be killed.
 */
async function runNode(
  implementation: "ws" | "builtin",
  script: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const flags = implementation === "builtin" ? ["--experimental-websocket"] : [];
  const child = new Deno.Command("node", {
    args: [...flags, "--no-warnings", "--input-type=module", "-e", script],
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Bounded: a client whose connect() never settles would keep Node alive forever.
  const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    const output = await child.output();
    return {
      code: output.signal === null ? output.code : null,
      stdout: new TextDecoder().decode(output.stdout),
      stderr: new TextDecoder().decode(output.stderr),
    };
  } finally {
    clearTimeout(killer);
  }
}

/** A TCP listener that accepts connections and never writes a byte (a hung upstream). */
function silentListener(): Disposable & { port: number } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch {
      // The listener was closed.
    }
  })();
  return {
    port: listener.addr.port,
    [Symbol.dispose]() {
      listener.close();
      for (const conn of conns) conn.close();
      void accepting;
    },
  };
}

for (const implementation of ["ws", "builtin"] as const) {
  const label = implementation === "ws"
    ? "the ws package"
    : "Node 20's built-in WebSocket (--experimental-websocket)";
  Deno.test(`[e2e] in Node with ${label}, connect() rejects within connectTimeoutMs when nothing answers`, async () => {
    const connectTimeoutMs = 1000;
    using silent = silentListener();
    const run = await connectInNode(implementation, {
      closedPort: freePort(),
      silentPort: silent.port,
      connectTimeoutMs,
    });
    assert.equal(run.code, 0, `node did not end cleanly by itself:\n${run.stderr}`);
    assert.equal(run.stderr, "");
    assert.equal(run.attempts.length, 2);
    for (const attempt of run.attempts) {
      assert.equal(attempt.rejected, true, attempt.case);
      assert.equal(attempt.name, "PushError", attempt.case);
      assert.equal(attempt.code, 0, attempt.case);
      assert.equal(attempt.message, "Connection failed", attempt.case);
      // A refused connection fails at once; a silent one at the timeout, not much later.
      assert.ok(attempt.ms < connectTimeoutMs + 500, `${attempt.case}: ${attempt.ms} ms`);
    }
    const [, silentAttempt] = run.attempts;
    assert.ok(silentAttempt!.ms >= connectTimeoutMs - 50, `silent: ${silentAttempt!.ms} ms`);
  });
}

for (const implementation of ["ws", "builtin"] as const) {
  const imports = `
    import { PushClient } from ${JSON.stringify(CLIENT)};
    import { PushPublisher } from ${JSON.stringify(PUBLISHER)};
    ${implementation === "ws" ? `import WebSocket from ${JSON.stringify(WS_PACKAGE)};` : ""}
    const options = { connectTimeoutMs: 5000, ${implementation === "ws" ? "WebSocket" : ""} };
  `;

  Deno.test(`[e2e] in Node with ${implementation}, the client uses compact frames with this server`, async () => {
    await using server = await startTestServer();
    const token = await createChannel(server, "from-node");
    const script = imports + `
      const client = await PushClient.connect(process.env.WS_URL, options);
      const publisher = new PushPublisher({ baseUrl: process.env.HTTP_URL });
      const got = new Promise((resolve) => {
        client.subscribe("from-node", (message, meta) => resolve({ message, meta }))
          .then(() => publisher.push("from-node", process.env.TOKEN, "compact hello"));
      });
      const { message, meta } = await got;
      await client.close();
      process.stdout.write(JSON.stringify({ compact: client.compact, message, meta }));
    `;
    const run = await runNode(implementation, script, {
      WS_URL: server.wsUrl,
      HTTP_URL: server.httpUrl,
      TOKEN: token,
    });
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.equal(result.compact, true);
    assert.equal(result.message, "compact hello");
    assert.deepEqual(result.meta.subscribedChannels, ["from-node"]);
  });

  Deno.test(`[e2e] in Node with ${implementation}, the client speaks v1 to a server without compact frames`, async () => {
    // ws refuses a handshake whose answer names no subprotocol after one was offered; the
    // client then connects again without offering it.
    await using server = startV1Server();
    const script = imports + `
      const client = await PushClient.connect(process.env.WS_URL, options);
      const unsubscribe = await client.subscribe("old", () => {});
      const channels = client.channels;
      await client.close();
      process.stdout.write(JSON.stringify({ compact: client.compact, channels }));
    `;
    const run = await runNode(implementation, script, { WS_URL: server.url });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { compact: false, channels: ["old"] });
  });
}
