/** Server configuration, read once from an environment map and validated with zod. */
import { z } from "zod";
import { LOG_LEVELS, type LogLevel } from "./log.ts";

/** Validated, immutable server settings. */
export interface Config {
  readonly host: string;
  readonly wsPort: number;
  readonly httpPort: number;
  readonly dbPath: string;
  readonly bcryptCost: number;
  readonly maxMessageBytes: number;
  readonly maxBodyBytes: number;
  readonly maxBodyBytesInFlight: number;
  readonly requestTimeoutS: number;
  readonly maxFrameBytes: number;
  readonly adminToken: string | undefined;
  readonly logLevel: LogLevel;
  readonly wsIdleTimeoutS: number;
  readonly maxConnections: number;
  readonly maxSubscriptionsPerConnection: number;
  readonly maxBufferedBytes: number;
  readonly frameRatePerS: number;
  readonly frameBurst: number;
  readonly maxTokenChecks: number;
  readonly corsOrigins: readonly string[];
  readonly shutdownTimeoutMs: number;
  /** The open-file limit the connection caps derive from, when set (`OPEN_FILE_LIMIT`). */
  readonly openFileLimit: number | undefined;
}

function integer(name: string, fallback: number, min: number, max: number) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return fallback;
      const value = Number(raw.trim());
      if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
        ctx.addIssue({
          code: "custom",
          message: `${name} must be a whole number from ${min} to ${max}, got "${raw}"`,
        });
        return z.NEVER;
      }
      return value;
    });
}

const envSchema = z.object({
  HOST: z.string().trim().min(1, "HOST must not be empty").default("0.0.0.0"),
  PORT_WS: integer("PORT_WS", 5222, 0, 65535),
  PORT_HTTP: integer("PORT_HTTP", 5223, 0, 65535),
  DB_PATH: z.string().min(1, "DB_PATH must not be empty").default("data/pushserver.db"),
  BCRYPT_COST: integer("BCRYPT_COST", 10, 4, 15),
  MAX_MESSAGE_BYTES: integer("MAX_MESSAGE_BYTES", 65536, 1, 1024 * 1024),
  MAX_BODY_BYTES: integer("MAX_BODY_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024),
  MAX_BODY_BYTES_IN_FLIGHT: integer(
    "MAX_BODY_BYTES_IN_FLIGHT",
    64 * 1024 * 1024,
    1024 * 1024,
    4 * 1024 * 1024 * 1024,
  ),
  REQUEST_TIMEOUT_S: integer("REQUEST_TIMEOUT_S", 30, 1, 3600),
  MAX_FRAME_BYTES: integer("MAX_FRAME_BYTES", 64 * 1024, 256, 16 * 1024 * 1024),
  ADMIN_TOKEN: z.string().optional().transform((v) => (v === "" ? undefined : v)),
  LOG_LEVEL: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const level = (raw ?? "info").trim().toLowerCase() || "info";
      if (!(LOG_LEVELS as readonly string[]).includes(level)) {
        ctx.addIssue({
          code: "custom",
          message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${raw}"`,
        });
        return z.NEVER;
      }
      return level as LogLevel;
    }),
  WS_IDLE_TIMEOUT_S: integer("WS_IDLE_TIMEOUT_S", 60, 1, 3600),
  MAX_CONNECTIONS: integer("MAX_CONNECTIONS", 50_000, 1, 10_000_000),
  MAX_SUBSCRIPTIONS_PER_CONNECTION: integer("MAX_SUBSCRIPTIONS_PER_CONNECTION", 1000, 1, 1_000_000),
  MAX_BUFFERED_BYTES: integer("MAX_BUFFERED_BYTES", 4 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  WS_FRAME_RATE: integer("WS_FRAME_RATE", 100, 1, 1_000_000),
  WS_FRAME_BURST: integer("WS_FRAME_BURST", 200, 1, 1_000_000),
  MAX_TOKEN_CHECKS: integer("MAX_TOKEN_CHECKS", 64, 1, 100_000),
  CORS_ORIGINS: z
    .string()
    .optional()
    .transform((v) => (v ?? "").split(",").map((o) => o.trim()).filter((o) => o !== "")),
  SHUTDOWN_TIMEOUT_MS: integer("SHUTDOWN_TIMEOUT_MS", 8000, 100, 60_000),
  // 0 = unset: read from the OS where the process may (see fd_limit.ts).
  OPEN_FILE_LIMIT: integer("OPEN_FILE_LIMIT", 0, 64, 1_000_000_000),
});

/** Why the configuration was rejected: names the variable, in one line. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses and validates configuration from an environment map (it never reads `Deno.env` itself). */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? "configuration");
    const message = issue?.message ?? "invalid value";
    throw new ConfigError(message.startsWith(variable) ? message : `${variable}: ${message}`);
  }
  const e = parsed.data;
  if (e.MAX_BODY_BYTES_IN_FLIGHT < e.MAX_BODY_BYTES) {
    throw new ConfigError(
      `MAX_BODY_BYTES_IN_FLIGHT (${e.MAX_BODY_BYTES_IN_FLIGHT}) must be at least MAX_BODY_BYTES (${e.MAX_BODY_BYTES})`,
    );
  }
  return {
    host: e.HOST,
    wsPort: e.PORT_WS,
    httpPort: e.PORT_HTTP,
    dbPath: e.DB_PATH,
    bcryptCost: e.BCRYPT_COST,
    maxMessageBytes: e.MAX_MESSAGE_BYTES,
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxBodyBytesInFlight: e.MAX_BODY_BYTES_IN_FLIGHT,
    requestTimeoutS: e.REQUEST_TIMEOUT_S,
    maxFrameBytes: e.MAX_FRAME_BYTES,
    adminToken: e.ADMIN_TOKEN,
    logLevel: e.LOG_LEVEL,
    wsIdleTimeoutS: e.WS_IDLE_TIMEOUT_S,
    maxConnections: e.MAX_CONNECTIONS,
    maxSubscriptionsPerConnection: e.MAX_SUBSCRIPTIONS_PER_CONNECTION,
    maxBufferedBytes: e.MAX_BUFFERED_BYTES,
    frameRatePerS: e.WS_FRAME_RATE,
    frameBurst: e.WS_FRAME_BURST,
    maxTokenChecks: e.MAX_TOKEN_CHECKS,
    corsOrigins: e.CORS_ORIGINS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    openFileLimit: e.OPEN_FILE_LIMIT === 0 ? undefined : e.OPEN_FILE_LIMIT,
  };
}
