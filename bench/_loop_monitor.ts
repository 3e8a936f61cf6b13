/**
 * Preloaded into a server by the bench (`deno run --preload=bench/_loop_monitor.ts`), for the
 * latency scenario only, into pushserver and the baseline alike: measures how late a 5 ms timer
 * fires, i.e. how long the event loop was busy or blocked. SIGUSR1 starts a window, SIGUSR2 ends
 * it and prints one line `{"loopMonitor":{...}}` on stderr (stdout carries V8's `--trace-gc`
 * lines, flushed by the C library in blocks that may split a line). SIGTERM ends the process at once, so
 * that V8's `--trace-gc` lines (buffered by the C library) are flushed and a bench run is not
 * slowed by a graceful shutdown.
 */
const INTERVAL_MS = 5;

let measuring = false;
let startedAt = 0;
let delays: number[] = [];
let last = performance.now();

const timer = setInterval(() => {
  const now = performance.now();
  if (measuring) delays.push(Math.max(0, now - last - INTERVAL_MS));
  last = now;
}, INTERVAL_MS);
Deno.unrefTimer(timer);

function write(value: unknown): void {
  Deno.stderr.writeSync(new TextEncoder().encode(JSON.stringify(value) + "\n"));
}

Deno.addSignalListener("SIGUSR1", () => {
  measuring = true;
  delays = [];
  startedAt = performance.now();
  last = startedAt;
});

Deno.addSignalListener("SIGUSR2", () => {
  measuring = false;
  const sorted = delays.sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  write({
    loopMonitor: {
      fromMs: startedAt,
      toMs: performance.now(),
      ticks: sorted.length,
      p99DelayMs: at(0.99),
      maxDelayMs: sorted.at(-1) ?? 0,
    },
  });
});

Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
