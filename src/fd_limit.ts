/**
 * Connection caps derived from the process's open-file limit, so that the connections the server
 * accepts on purpose can never use up the descriptors it needs for everything else.
 */

/** Descriptors kept for stdio, both listeners, SQLite (db, WAL, shm), workers and the runtime. */
export const BASE_RESERVE = 64;

/** The caps the server enforces. */
export interface ConnectionCaps {
  /** Open WebSocket connections: `min(MAX_CONNECTIONS, limit - 64 - http)`. */
  readonly wsConnections: number;
  /** Publisher requests being handled at once: a quarter of the limit (at least 16). */
  readonly httpInFlight: number;
}

/**
 * The soft "Max open files" limit of this process from `/proc/self/limits` (Linux), or
 * `undefined` when it is unlimited or cannot be read: another OS, or no permission (Deno lets a
 * process read /proc/self only with --allow-all; with narrower permissions, set OPEN_FILE_LIMIT).
 */
export function openFileLimit(
  read: () => string = () => Deno.readTextFileSync("/proc/self/limits"),
): number | undefined {
  let text: string;
  try {
    text = read();
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  if (soft === undefined || !/^\d+$/.test(soft)) return undefined;
  return Number(soft);
}

/** Splits `fdLimit` between WebSocket connections and in-flight publisher requests. */
export function connectionCaps(
  maxConnections: number,
  fdLimit: number | undefined,
): ConnectionCaps {
  if (fdLimit === undefined) return { wsConnections: maxConnections, httpInFlight: Infinity };
  const httpInFlight = Math.max(16, Math.floor(fdLimit / 4));
  const wsRoom = Math.max(1, fdLimit - BASE_RESERVE - httpInFlight);
  return { wsConnections: Math.min(maxConnections, wsRoom), httpInFlight };
}
