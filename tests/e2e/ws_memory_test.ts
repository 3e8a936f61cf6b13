/**
 * What an inbound WebSocket message can cost the server's memory, measured on a subprocess server
 * (VmRSS from /proc). Deno buffers a message whole before the server sees it; these tests pin
 * the parts the runtime and the heartbeat do bound (README, "Reliability": WebSocket messages).
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./_process.ts";
import { encodeFrame, frameHeader, RawWebSocket, writeAll } from "./_raw_ws.ts";

const MiB = 1024 * 1024;
/** fastwebsockets' cap on one frame's declared length in Deno 2.9 (not configurable). */
const RUNTIME_FRAME_CAP = 64 * MiB;

/** The server's resident memory in MiB (read by `cat`: Deno grants /proc only to --allow-all). */
async function rssMiB(pid: number): Promise<number> {
  const output = await new Deno.Command("cat", { args: [`/proc/${pid}/status`], stdout: "piped" })
    .output();
  const match = /VmRSS:\s+(\d+) kB/.exec(new TextDecoder().decode(output.stdout));
  assert.ok(match, `no VmRSS for ${pid}`);
  return Number(match[1]) / 1024;
}

/** Reads frames until the server closes: the close code, or null when it just dropped TCP. */
async function endOf(socket: RawWebSocket): Promise<{ code: number | null; pings: number }> {
  let pings = 0;
  const code = await socket.closeCode((frame) => {
    if (frame.opcode === 0x9) pings++;
  });
  return { code, pings };
}

// Memory per WebSocket is the runtime's and the transport's (single only).
Deno.test("[e2e][single] WebSocket memory: what the runtime and the heartbeat bound", async (t) => {
  // WS_IDLE_TIMEOUT_S=1: a client that answers no ping is closed about a second after its last
  // complete message, which is what bounds a message that never completes.
  await using server = await ServerProcess.spawn({ LOG_LEVEL: "warn", WS_IDLE_TIMEOUT_S: "1" });
  const pid = server.child.pid;

  await t.step(
    "a frame declaring 64 MiB is dropped at its header, before any payload",
    async () => {
      await using socket = await RawWebSocket.connect(server.wsPort);
      assert.ok(await socket.nextFrame(), "Connected");
      await writeAll(socket.conn, frameHeader(0x1, RUNTIME_FRAME_CAP));
      await writeAll(socket.conn, new Uint8Array(1024)).catch(() => {});
      const { code } = await endOf(socket);
      // Dropped by the runtime: TCP ends with no close frame. (The heartbeat would have closed
      // it with 1001, as the next step shows; a ping may still arrive first on a loaded machine,
      // so neither pings nor wall-clock time are asserted here.)
      assert.equal(code, null);
    },
  );

  await t.step(
    "one byte less is buffered instead, until the heartbeat closes it (1001)",
    async () => {
      await using socket = await RawWebSocket.connect(server.wsPort);
      assert.ok(await socket.nextFrame(), "Connected");
      await writeAll(socket.conn, frameHeader(0x1, RUNTIME_FRAME_CAP - 1));
      await writeAll(socket.conn, new Uint8Array(1024));
      const { code, pings } = await endOf(socket);
      assert.ok(pings >= 1, "the server pinged the stalled client first");
      assert.equal(code, 1001);
    },
  );

  await t.step(
    "unfinished fragments are held (no cap on their sum) and freed on close",
    async () => {
      // 512 × 32 KiB = 16 MiB in non-final fragments: the smallest amount that stands out from
      // RSS noise. Past 64 MiB they are held just the same (measured: 200 MiB → +202 MB).
      const before = await rssMiB(pid);
      await using socket = await RawWebSocket.connect(server.wsPort);
      assert.ok(await socket.nextFrame(), "Connected");
      const fragment = new Uint8Array(32 * 1024).fill(0x61);
      await writeAll(socket.conn, encodeFrame(0x1, fragment, false));
      const continuation = encodeFrame(0x0, fragment, false);
      for (let i = 1; i < 512; i++) await writeAll(socket.conn, continuation);
      // The heartbeat pings half a second after the last complete message; by then the server has
      // read every fragment (16 MiB over loopback takes milliseconds).
      const ping = await socket.nextFrame();
      assert.equal(ping?.opcode, 0x9);
      const holding = await rssMiB(pid);
      assert.ok(holding - before >= 12, `holding ${(holding - before).toFixed(1)} MiB more`);
      const { code } = await endOf(socket);
      assert.equal(code, 1001, "closed by the heartbeat: this client answers no ping");
      let after = await rssMiB(pid);
      for (let i = 0; i < 20 && after - before >= 6; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        after = await rssMiB(pid);
      }
      assert.ok(after - before < 6, `still ${(after - before).toFixed(1)} MiB more after close`);
    },
  );

  await t.step(
    "a message fragmented past the 64 MiB frame cap is assembled whole and handed over (then 1009)",
    async () => {
      // 65 × 1 MiB: the smallest whole-MiB message over the runtime's frame cap. Only a message
      // the runtime assembled and delivered can reach MAX_FRAME_BYTES and be closed 1009.
      await using socket = await RawWebSocket.connect(server.wsPort);
      assert.ok(await socket.nextFrame(), "Connected");
      const fragment = new Uint8Array(MiB).fill(0x61);
      await writeAll(socket.conn, encodeFrame(0x1, fragment, false));
      const continuation = encodeFrame(0x0, fragment, false);
      for (let i = 1; i < RUNTIME_FRAME_CAP / MiB; i++) await writeAll(socket.conn, continuation);
      await writeAll(socket.conn, encodeFrame(0x0, fragment, true));
      const { code } = await endOf(socket);
      assert.equal(code, 1009);
    },
  );
});
