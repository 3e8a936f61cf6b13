/**
 * `deno run -A --v8-flags=--expose-gc bench/heap_idle.ts [N] [--baseline] [--keep=DIR]`
 *
 * Where the memory of an idle subscribed connection goes. Starts pushserver in this process (the
 * real wiring, `startServer`) — or, with `--baseline`, the same raw `Deno.serve` broadcast program
 * as `baseline_broadcast.ts` — warms it up with 200 connections opened and closed, then takes a V8
 * heap snapshot with 0 and with N (default 5,000) idle subscribed connections held by a client
 * subprocess. Prints RSS, JS heap and external memory per connection, and the heap difference per
 * object type (the DevTools "comparison" view: count and self size per connection).
 */
import v8 from "node:v8";
import { loadConfig } from "../src/config.ts";
import { silentLogger } from "../src/log.ts";
import { startServer } from "../src/server.ts";
import { WsClient } from "./_ws_client.ts";

const encoder = new TextEncoder();
const print = (text: string) => Deno.stdout.writeSync(encoder.encode(text + "\n"));

interface Snapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[], ...unknown[]] };
  };
  nodes: number[];
  strings: string[];
}

/** Self size and count per object type, from a `.heapsnapshot` file. */
export function summarize(text: string): Map<string, { count: number; bytes: number }> {
  const snap = JSON.parse(text) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!;
    const name = snap.strings[snap.nodes[i + nameAt]!]!;
    const key = type === "object"
      ? name
      : type === "closure"
      ? `closure ${name || "(anonymous)"}`
      : type === "string" || type === "concatenated string" || type === "sliced string"
      ? "(string)"
      : type === "code" || type === "number" || type === "object shape"
      ? `(${type})`
      : `(${type}) ${name.slice(0, 60)}`;
    const entry = out.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snap.nodes[i + sizeAt]!;
    out.set(key, entry);
  }
  return out;
}

/** Resident set size of this process in bytes. */
function rss(): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return Number(match![1]) * 1024;
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error("run with --v8-flags=--expose-gc");
  for (let i = 0; i < 3; i++) collect();
}

/** Child mode: holds `count` subscribed connections until stdin closes. */
async function holdClients(port: number, count: number, subscribe: boolean): Promise<void> {
  const clients: WsClient[] = [];
  let next = 0;
  async function worker() {
    while (next < count) {
      next++;
      const client = await WsClient.connect("127.0.0.1", port);
      await client.nextText();
      if (subscribe) {
        await client.send(
          JSON.stringify({
            messageType: "CLIENT_ACTION",
            action: "SUBSCRIBE",
            data: { channel: "bench" },
          }),
        );
        const ack = await client.nextText();
        if (!ack.includes('"Subscribed"')) throw new Error(`subscribe failed: ${ack}`);
      }
      clients.push(client);
    }
  }
  await Promise.all(Array.from({ length: 100 }, worker));
  print("ready");
  for await (const _ of Deno.stdin.readable) {
    // Hold until the parent closes stdin.
  }
  // A close handshake, not a dropped socket: after an abrupt drop Deno keeps the socket object
  // until its heartbeat timer fires (half the idle timeout), which would delay the snapshot.
  await Promise.all(clients.map((client) => client.close()));
}

/** Runs `count` idle clients in a subprocess; resolves once they are all connected. */
async function clients(port: number, count: number, subscribe: boolean) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      `--hold=${port},${count},${subscribe}`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("ready")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("client process ended early");
    seen += value;
  }
  return {
    async stop() {
      await child.stdin.close();
      await reader.cancel();
      await child.status;
    },
  };
}

/** The raw broadcast baseline, in this process. */
function startBaseline(): {
  port: number;
  stop: () => Promise<void>;
  open: () => Promise<number>;
} {
  const sockets = new Set<WebSocket>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onopen = () => {
      sockets.add(socket);
      socket.send("{}");
    };
    socket.onclose = () => sockets.delete(socket);
    return response;
  });
  return {
    port: server.addr.port,
    stop: () => server.shutdown(),
    open: () => Promise.resolve(sockets.size),
  };
}

async function main(): Promise<void> {
  const hold = Deno.args.find((a) => a.startsWith("--hold="));
  if (hold !== undefined) {
    const [port, count, subscribe] = hold.slice(7).split(",");
    return await holdClients(Number(port), Number(count), subscribe === "true");
  }
  const count = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 5000);
  const baseline = Deno.args.includes("--baseline");
  const keep = Deno.args.find((a) => a.startsWith("--keep="))?.slice(7);
  const dir = keep ?? await Deno.makeTempDir({ prefix: "pushserver-heap-" });
  await Deno.mkdir(dir, { recursive: true });

  let port: number;
  let stop: () => Promise<void>;
  /** How many connections the server still holds. */
  let open: () => Promise<number>;
  if (baseline) {
    ({ port, stop, open } = startBaseline());
  } else {
    const server = await startServer(
      loadConfig({
        HOST: "127.0.0.1",
        PORT_WS: "0",
        PORT_HTTP: "0",
        DB_PATH: `${dir}/heap.db`,
        BCRYPT_COST: "4",
        MAX_CONNECTIONS: "100000",
        LOG_LEVEL: "warn",
      }),
      { logger: silentLogger() },
    );
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/channel/create`, {
      method: "POST",
      body: JSON.stringify({
        messageType: "SERVER_ACTION",
        action: "CREATE_CHANNEL",
        data: { channel: "bench" },
      }),
    });
    if (response.status !== 200) throw new Error(`create answered ${response.status}`);
    await response.body?.cancel();
    port = server.wsPort;
    stop = () => server.shutdown();
    open = async () => {
      const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
      return Number(/^pushserver_connections (\d+)/m.exec(text)?.[1]);
    };
  }

  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const warm = await clients(port, 200, !baseline);
  await warm.stop();
  await pause(1000);

  /** Memory now, as the bench sees it (no forced GC), then after a full GC. */
  const spaces = () =>
    Object.fromEntries(
      v8.getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size]),
    );
  const reading = () => {
    const raw = { rss: rss(), heap: v8.getHeapStatistics(), spaces: spaces() };
    gc();
    const collected = { rss: rss(), heap: v8.getHeapStatistics() };
    return {
      rss: raw.rss,
      committed: raw.heap.total_heap_size,
      used: raw.heap.used_heap_size,
      rssAfterGc: collected.rss,
      committedAfterGc: collected.heap.total_heap_size,
      usedAfterGc: collected.heap.used_heap_size,
      external: Deno.memoryUsage().external,
      newSpace: raw.spaces.new_space ?? 0,
      oldSpace: raw.spaces.old_space ?? 0,
    };
  };
  const before = reading();
  const held = await clients(port, count, !baseline);
  await pause(2000);
  const after = reading();
  const afterFile = v8.writeHeapSnapshot(`${dir}/after.heapsnapshot`);
  await held.stop();
  // Back to 0 connections: the "before" snapshot is taken now, so that writing a snapshot
  // (which allocates a lot) cannot inflate the RSS readings above.
  while (await open() > 0) await pause(100);
  await pause(1000);
  gc();
  const beforeFile = v8.writeHeapSnapshot(`${dir}/before.heapsnapshot`);

  print(
    `${baseline ? "baseline (raw Deno.serve broadcast)" : "pushserver"}: ${count} idle ` +
      `${baseline ? "connected" : "subscribed"} connections, bytes per connection`,
  );
  const per = (key: keyof typeof before) =>
    ((after[key] - before[key]) / count).toFixed(0).padStart(7);
  print(`  RSS                     ${per("rss")}   after a full GC ${per("rssAfterGc")}`);
  print(
    `  JS heap committed       ${per("committed")}   after a full GC ${per("committedAfterGc")}`,
  );
  print(`  JS heap used            ${per("used")}   after a full GC ${per("usedAfterGc")}`);
  print(`  external (buffers)      ${per("external")}`);
  print(`  committed new space     ${per("newSpace")}   old space ${per("oldSpace")}`);
  const a = summarize(await Deno.readTextFile(beforeFile));
  const b = summarize(await Deno.readTextFile(afterFile));
  const rows = [...b].map(([key, { count: n, bytes }]) => {
    const old = a.get(key) ?? { count: 0, bytes: 0 };
    return { key, count: (n - old.count) / count, bytes: (bytes - old.bytes) / count };
  }).filter((r) => Math.abs(r.bytes) >= 1).sort((x, y) => y.bytes - x.bytes);
  print("  heap difference per connection (self size), by type:");
  for (const r of rows.slice(0, 30)) {
    print(`  ${r.bytes.toFixed(1).padStart(8)} B  ${r.count.toFixed(2).padStart(6)} ×  ${r.key}`);
  }
  const total = rows.reduce((sum, r) => sum + r.bytes, 0);
  print(`  ${total.toFixed(1).padStart(8)} B  total self size`);
  await stop();
  if (keep === undefined) await Deno.remove(dir, { recursive: true });
}

if (import.meta.main) await main();
