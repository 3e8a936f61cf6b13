/**
 * The npm packages as a user gets them: `npm pack` both, install the tarballs into a throwaway
 * Node project (with Node 22 from the `node` npm package, leaving the system alone), and run a
 * script there that imports them, connects to a real server, pushes and receives — over
 * WebSocket and over SSE, and on a private channel with a minted subscriber token.
 * Run: `deno task packages:smoke` (CI runs it). Needs the npm registry for `node` and `jose`.
 */
import { join } from "node:path";
import { loadConfig } from "../src/config.ts";
import { silentLogger } from "../src/log.ts";
import { startServer } from "../src/server.ts";
import { pack, PACKAGE_FILES, type PackageName, stagePackage } from "./build.ts";

const JWT_SECRET = "smoke-secret-of-at-least-32-bytes-long";
const NODE_VERSION = "22";

const SCRIPT = `
import assert from "node:assert/strict";
import { PushClient } from "@pushserver/client";
import { PushPublisher } from "@pushserver/publisher";
import { mintSubscriberToken } from "@pushserver/publisher/subscriber-token";

assert.ok(process.versions.node.startsWith("${NODE_VERSION}."), process.versions.node);
const publisher = new PushPublisher({ baseUrl: process.env.HTTP_URL });
const { channelToken } = await publisher.createChannel("npm-news", {});
for (const transports of [["websocket"], ["sse"]]) {
  const client = await PushClient.connect(process.env.WS_URL, { transports });
  assert.equal(client.transport, transports[0]);
  let resolve;
  const got = new Promise((r) => resolve = r);
  await client.subscribe("npm-news", (message) => resolve(message));
  await publisher.push("npm-news", channelToken, "hello " + transports[0]);
  assert.equal(await got, "hello " + transports[0]);
  await client.close();
}
const vip = await publisher.createChannel("npm-vip", { private: true });
const token = await mintSubscriberToken({ secret: process.env.JWT_SECRET, channels: ["npm-*"], ttlSeconds: 60 });
const socket = new WebSocket(process.env.WS_URL);
const frames = [];
let wake;
socket.onmessage = (event) => { frames.push(JSON.parse(event.data)); wake?.(); };
const next = async () => { while (frames.length === 0) await new Promise((r) => wake = r); return frames.shift(); };
assert.equal((await next()).message, "Connected");
socket.send(JSON.stringify({ messageType: "CLIENT_ACTION", action: "SUBSCRIBE", data: { channel: "npm-vip", token } }));
assert.equal((await next()).message, "Subscribed");
await publisher.push("npm-vip", vip.channelToken, "private hello");
assert.equal((await next()).data.pushMessage.message, "private hello");
socket.close();
console.log("npm packages: ok");
`;

async function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
) {
  const output = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env ?? {},
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  if (!output.success) throw new Error(`${command} ${args.join(" ")} failed:\n${text}`);
  return text;
}

/** Packs, installs and runs the smoke script; resolves with the script's output. */
export async function smoke(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "pushserver_npm_" });
  const server = await startServer(
    loadConfig({
      HOST: "127.0.0.1",
      PORT_WS: "0",
      PORT_HTTP: "0",
      DB_PATH: ":memory:",
      BCRYPT_COST: "4",
      JWT_SECRET,
    }),
    { logger: silentLogger() },
  );
  try {
    const tarballs: string[] = [];
    for (const name of Object.keys(PACKAGE_FILES) as PackageName[]) {
      tarballs.push(await pack(await stagePackage(name, join(dir, "staged")), dir));
    }
    const project = join(dir, "project");
    await Deno.mkdir(project);
    await Deno.writeTextFile(
      join(project, "package.json"),
      JSON.stringify({ name: "throwaway", private: true, type: "module" }),
    );
    await run("npm", [
      "install",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      `node@${NODE_VERSION}`,
      ...tarballs,
    ], {
      cwd: project,
      env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? dir },
    });
    await Deno.writeTextFile(join(project, "smoke.mjs"), SCRIPT);
    return await run(join(project, "node_modules", ".bin", "node"), ["smoke.mjs"], {
      cwd: project,
      env: {
        WS_URL: `ws://127.0.0.1:${server.wsPort}`,
        HTTP_URL: `http://127.0.0.1:${server.httpPort}`,
        JWT_SECRET,
      },
    });
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const output = await smoke();
  await Deno.stdout.write(new TextEncoder().encode(output));
}
