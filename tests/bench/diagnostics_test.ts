/** The latency scenario's diagnostics: loop delay from the monitor, GC pauses from --trace-gc. */
import assert from "node:assert/strict";
import { isDiagnosticLine, windowDiagnostics } from "../../bench/_diagnostics.ts";

const MAIN = "[3358:0x5648b3aea000]";
const WORKER = "[3358:0x7fd0c8060000]";
const scavenge = (isolate: string, at: number, pause: number) =>
  `${isolate}  ${at} ms: Scavenge 29.8 (36.1) -> 20.1 (36.1) MB, pooled: 0.0 MB, ${pause} / 0.00 ms (average mu = 0.991, current mu = 0.991) allocation failure; `;
const markCompact = (at: number, pause: number) =>
  `${MAIN}  ${at} ms: Incremental Mark-Compact (reduce) 18.9 (29.4) -> 16.5 (29.4) MB, pooled: 0.0 MB, ${pause} / 0.00 ms (+ 7.3 ms in 37 steps since start of marking, biggest step 0.5 ms, walltime since start of marking 64 ms) finalize incremental marking via stack guard; GC in old space requested`;
const monitor = JSON.stringify({
  loopMonitor: { fromMs: 1000, toMs: 2000, ticks: 190, p99DelayMs: 3.5, maxDelayMs: 7.25 },
});

Deno.test("isDiagnosticLine keeps monitor and GC lines, not the server's logs", () => {
  assert.equal(isDiagnosticLine(monitor), true);
  assert.equal(isDiagnosticLine(scavenge(MAIN, 5, 1.2)), true);
  assert.equal(isDiagnosticLine(markCompact(5, 1.2)), true);
  assert.equal(isDiagnosticLine('{"ts":"x","level":"warn","msg":"closing slow consumer"}'), false);
});

Deno.test("windowDiagnostics counts the main isolate's pauses inside the window only", () => {
  const lines = [
    scavenge(MAIN, 500, 9.9), // before the window
    scavenge(MAIN, 1200, 1.5),
    scavenge(WORKER, 1300, 20), // another isolate: does not stop the event loop
    markCompact(1500, 4.25),
    scavenge(MAIN, 1999, 0.5),
    scavenge(MAIN, 2500, 30), // after
    monitor,
  ];
  assert.deepEqual(windowDiagnostics(lines), {
    loopP99Ms: 3.5,
    loopMaxMs: 7.25,
    gcCount: 3,
    gcMaxMs: 4.25,
    gcTotalMs: 6.25,
  });
});

Deno.test("windowDiagnostics: no monitor line, no window; no GC in it, zeros", () => {
  assert.equal(windowDiagnostics([scavenge(MAIN, 1200, 1)]), undefined);
  assert.deepEqual(windowDiagnostics([monitor]), {
    loopP99Ms: 3.5,
    loopMaxMs: 7.25,
    gcCount: 0,
    gcMaxMs: 0,
    gcTotalMs: 0,
  });
});
