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
}

/** A logger that writes JSON lines (`ts`, `level`, `msg`, fields) at or above `level`. */
export function jsonLogger(
  level: LogLevel,
  options: { write?: (line: string) => void; now?: () => number } = {},
): Logger {
  const encoder = new TextEncoder();
  const write = options.write ?? ((line: string) => Deno.stdout.writeSync(encoder.encode(line)));
  const now = options.now ?? Date.now;
  const threshold = LOG_LEVELS.indexOf(level);
  const emit = (lineLevel: LogLevel, always = false) => (msg: string, fields?: LogFields) => {
    if (!always && LOG_LEVELS.indexOf(lineLevel) < threshold) return;
    const record = { ts: new Date(now()).toISOString(), level: lineLevel, msg, ...fields };
    write(JSON.stringify(record, errorReplacer) + "\n");
  };
  return {
    enabled: (lineLevel) => LOG_LEVELS.indexOf(lineLevel) >= threshold,
    announce: emit("info", true),
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
  };
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
