/** Structured logging: one JSON object per line. Callers pass fields, never tokens or bodies. */

/** Log levels, least to most severe. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Extra structured fields of a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/** Where the server writes what happens. */
export interface Logger {
  /** Whether lines at `level` are written; lets hot paths skip building fields. Default: yes. */
  enabled?(level: LogLevel): boolean;
  /**
   * An `info` line written at every LOG_LEVEL: lifecycle lines that operators and tools wait
   * for (the listening line, the stop). Default: `info`.
   */
  announce?(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Lines that could not be written (closed pipe, full disk) and were dropped. Default: 0. */
  droppedLines?(): number;
}

/**
 * A logger that writes JSON lines (`ts`, `level`, `msg`, fields) at or above `level`. Logging
 * never fails its caller: a line that cannot be written (stdout closed, disk full) or built is
 * dropped and counted, since a log call sits on the path of answers that already took effect
 * (a create whose "channel created" line threw answered 500 with the channel created).
 */
export function jsonLogger(
  level: LogLevel,
  options: { write?: (line: string) => void; now?: () => number } = {},
): Logger {
  const write = options.write ?? writeStdout;
  const now = options.now ?? Date.now;
  const threshold = LOG_LEVELS.indexOf(level);
  let dropped = 0;
  const emit = (lineLevel: LogLevel, always = false) => (msg: string, fields?: LogFields) => {
    if (!always && LOG_LEVELS.indexOf(lineLevel) < threshold) return;
    try {
      const record = { ts: new Date(now()).toISOString(), level: lineLevel, msg, ...fields };
      write(JSON.stringify(record, errorReplacer) + "\n");
    } catch {
      dropped++;
    }
  };
  return {
    droppedLines: () => dropped,
    enabled: (lineLevel) => LOG_LEVELS.indexOf(lineLevel) >= threshold,
    announce: emit("info", true),
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
  };
}

const encoder = new TextEncoder();

/** Writes `line` to stdout whole: writeSync may write only part of it (a pipe near full). */
function writeStdout(line: string): void {
  let bytes = encoder.encode(line);
  while (bytes.byteLength > 0) {
    const written = Deno.stdout.writeSync(bytes);
    if (written <= 0) throw new Error("stdout accepts no more bytes");
    bytes = bytes.subarray(written);
  }
}

/** Writes a lifecycle line whatever the level (see {@link Logger.announce}). */
export function announce(logger: Logger, msg: string, fields?: LogFields): void {
  if (logger.announce !== undefined) logger.announce(msg, fields);
  else logger.info(msg, fields);
}

/** A logger that drops everything (tests). */
export function silentLogger(): Logger {
  const drop = () => {};
  return { enabled: () => false, debug: drop, info: drop, warn: drop, error: drop };
}

/** Errors serialize as name, message and stack instead of `{}`. */
function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack };
  }
  return value;
}
