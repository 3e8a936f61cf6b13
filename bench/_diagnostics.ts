/**
 * What a server's diagnostic output says about one measured window: the event-loop delay
 * reported by `_loop_monitor.ts`, and the garbage-collection pauses V8 printed with
 * `--trace-gc` (main isolate only: a worker's collections do not stop the event loop).
 */

/** A line `_loop_monitor.ts` or `--trace-gc` prints, worth keeping. */
export function isDiagnosticLine(line: string): boolean {
  return line.startsWith('{"loopMonitor"') || GC_LINE.test(line);
}

// e.g. `[123:0x55d1c0a8e000]     1498 ms: Scavenge 29.8 (36.1) -> 20.1 (36.1) MB, pooled: 0.0 MB,
// 5.23 / 0.00 ms (average mu = ...` — the pause is the first number of "X / Y ms".
const GC_LINE =
  /^\[\d+:(0x[0-9a-f]+)(?::\d+)?\]\s+(\d+) ms: ([A-Za-z() -]+?) [\d.]+ \([\d.]+\) -> [\d.]+ \([\d.]+\) MB,.*? ([\d.]+) \/ [\d.]+ ms/;

/** Event-loop delay and GC pauses within the window the loop monitor reported. */
export interface WindowDiagnostics {
  loopP99Ms: number;
  loopMaxMs: number;
  gcCount: number;
  gcMaxMs: number;
  gcTotalMs: number;
}

/**
 * Reads the kept lines of one server run. GC times are milliseconds since the isolate started,
 * the window's since the process's time origin: the two differ by a few milliseconds, nothing
 * against a window of seconds. `undefined` when the monitor reported no window.
 */
export function windowDiagnostics(lines: readonly string[]): WindowDiagnostics | undefined {
  let window: { fromMs: number; toMs: number; p99DelayMs: number; maxDelayMs: number } | undefined;
  const gcs: { isolate: string; at: number; pause: number }[] = [];
  for (const line of lines) {
    if (line.startsWith('{"loopMonitor"')) {
      window = (JSON.parse(line) as { loopMonitor: typeof window }).loopMonitor;
      continue;
    }
    const match = GC_LINE.exec(line);
    if (match !== null) {
      gcs.push({ isolate: match[1]!, at: Number(match[2]), pause: Number(match[4]) });
    }
  }
  if (window === undefined) return undefined;
  // The main isolate is the one that collects most (the bcrypt worker's barely does).
  const counts = new Map<string, number>();
  for (const gc of gcs) counts.set(gc.isolate, (counts.get(gc.isolate) ?? 0) + 1);
  const main = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  const inWindow = gcs.filter((gc) =>
    gc.isolate === main && gc.at >= window!.fromMs && gc.at <= window!.toMs
  );
  return {
    loopP99Ms: window.p99DelayMs,
    loopMaxMs: window.maxDelayMs,
    gcCount: inWindow.length,
    gcMaxMs: Math.max(0, ...inWindow.map((gc) => gc.pause)),
    gcTotalMs: inWindow.reduce((sum, gc) => sum + gc.pause, 0),
  };
}
