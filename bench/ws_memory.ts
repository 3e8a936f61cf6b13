/**
 * What inbound WebSocket messages cost the server's memory: each scenario starts `main.ts` as a
 * fresh subprocess, attacks it over raw sockets, and reads its VmRSS from /proc. Prints the table
 * quoted in the README ("Reliability": WebSocket messages). Not part of `deno task bench`; run it
 * by hand (about three minutes): `deno run -A bench/ws_memory.ts`.
 */
import { ServerProcess } from "../tests/e2e/_process.ts";
import { encodeFrame, frameHeader, RawWebSocket, writeAll } from "../tests/e2e/_raw_ws.ts";

const MiB = 1024 * 1024;

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Opens `count` raw connections and reads each one's Connected frame. */
async function connectAll(port: number, count: number): Promise<RawWebSocket[]> {
  const sockets = await Promise.all(
    Array.from({ length: count }, () => RawWebSocket.connect(port)),
  );
  await Promise.all(sockets.map((socket) => socket.nextFrame()));
  return sockets;
}

/** Sends `count` non-final 32 KiB text fragments (the message never ends). */
async function sendFragments(socket: RawWebSocket, count: number): Promise<void> {
  const fragment = new Uint8Array(32 * 1024).fill(0x61);
  await writeAll(socket.conn, encodeFrame(0x1, fragment, false));
  const continuation = encodeFrame(0x0, fragment, false);
  for (let i = 1; i < count; i++) await writeAll(socket.conn, continuation);
}

/** Runs `attack` against a fresh server; samples RSS every 20 ms for the peak. */
async function scenario(
  name: string,
  env: Record<string, string>,
  attack: (server: ServerProcess, delta: () => number) => Promise<string>,
): Promise<void> {
  await using server = await ServerProcess.spawn({ LOG_LEVEL: "warn", ...env });
  const pid = server.child.pid;
  await sleep(500);
  const base = rssMiB(pid);
  let peak = base;
  const sampler = setInterval(() => peak = Math.max(peak, rssMiB(pid)), 20);
  try {
    const result = await attack(server, () => rssMiB(pid) - base);
    const line = `| ${name} | ${(peak - base).toFixed(0)} | ${result} |`;
    // deno-lint-ignore no-console -- this script's output is its report
    console.log(line);
  } finally {
    clearInterval(sampler);
  }
}

// deno-lint-ignore no-console -- this script's output is its report
console.log(
  "| attack | peak RSS growth (MB) | what happened |\n| --- | --- | --- |",
);

await scenario("10 connections × one complete 50 MiB text frame", {}, async (server, delta) => {
  const payload = new Uint8Array(50 * MiB).fill(0x61);
  const sockets = await connectAll(server.wsPort, 10);
  const started = performance.now();
  await Promise.all(sockets.map(async (socket) => {
    await writeAll(socket.conn, frameHeader(0x1, payload.length));
    await writeAll(socket.conn, payload);
  }));
  const codes = new Set(await Promise.all(sockets.map((socket) => socket.closeCode())));
  const closedMs = performance.now() - started;
  for (const socket of sockets) socket.close();
  await sleep(3000);
  const after3 = delta();
  await sleep(27_000);
  return `closed ${[...codes].join(",")} after ${(closedMs / 1000).toFixed(1)} s; ` +
    `+${after3.toFixed(0)} MB 3 s later, +${delta().toFixed(0)} MB 30 s later (GC)`;
});

await scenario(
  "10 connections × 49 MiB of a declared 50 MiB frame, held",
  {},
  async (server, delta) => {
    const part = new Uint8Array(49 * MiB).fill(0x61);
    const sockets = await connectAll(server.wsPort, 10);
    await Promise.all(sockets.map(async (socket) => {
      await writeAll(socket.conn, frameHeader(0x1, 50 * MiB));
      await writeAll(socket.conn, part);
    }));
    await sleep(1000);
    const holding = delta();
    for (const socket of sockets) socket.close();
    await sleep(2000);
    return `+${holding.toFixed(0)} MB while held (until the heartbeat, ~60 s); ` +
      `+${delta().toFixed(0)} MB 2 s after the TCP close`;
  },
);

await scenario("a frame header declaring 64 MiB", {}, async (server, delta) => {
  const [socket] = await connectAll(server.wsPort, 1);
  const started = performance.now();
  await writeAll(socket!.conn, frameHeader(0x1, 64 * MiB));
  await writeAll(socket!.conn, new Uint8Array(MiB)).catch(() => {});
  const code = await socket!.closeCode();
  socket!.close();
  return `dropped by the runtime (close frame: ${code ?? "none"}) after ` +
    `${(performance.now() - started).toFixed(0)} ms; +${delta().toFixed(0)} MB`;
});

await scenario(
  "1 connection × 1,600 non-final 32 KiB fragments (50 MiB), no pongs, default heartbeat",
  {},
  async (server, delta) => {
    const [socket] = await connectAll(server.wsPort, 1);
    const started = performance.now();
    await sendFragments(socket!, 1600);
    await sleep(500);
    const holding = delta();
    const code = await socket!.closeCode();
    const heldS = (performance.now() - started) / 1000;
    socket!.close();
    await sleep(2000);
    return `+${holding.toFixed(0)} MB held ${heldS.toFixed(0)} s until the heartbeat closed it ` +
      `(${code}); +${delta().toFixed(0)} MB 2 s later`;
  },
);

await scenario(
  "1 connection × 6,400 non-final 32 KiB fragments (200 MiB), no pongs",
  { WS_IDLE_TIMEOUT_S: "5" },
  async (server, delta) => {
    const [socket] = await connectAll(server.wsPort, 1);
    await sendFragments(socket!, 6400);
    await sleep(500);
    const holding = delta();
    const code = await socket!.closeCode();
    socket!.close();
    return `+${holding.toFixed(0)} MB held (past the 64 MiB frame cap: fragments have none); ` +
      `closed ${code} by the heartbeat`;
  },
);

await scenario(
  "1 connection × 1,600 fragments (50 MiB), answering pings, WS_IDLE_TIMEOUT_S=5",
  { WS_IDLE_TIMEOUT_S: "5" },
  async (server, delta) => {
    const [socket] = await connectAll(server.wsPort, 1);
    await sendFragments(socket!, 1600);
    let pings = 0;
    let closedBy: number | null | undefined;
    const reader = (async () => {
      for (;;) {
        const frame = await socket!.nextFrame();
        if (frame === null || frame.opcode === 0x8) return closedBy = frame?.opcode ?? null;
        if (frame.opcode === 0x9) {
          pings++;
          await writeAll(socket!.conn, encodeFrame(0xa, frame.payload));
        }
      }
    })();
    await sleep(20_000);
    const holding = delta();
    const open = closedBy === undefined;
    socket!.close();
    await reader.catch(() => {});
    return `after 20 s (4 × the idle timeout) and ${pings} pongs: ` +
      `${open ? "still open" : "closed"}, +${holding.toFixed(0)} MB held`;
  },
);
