/** Server configuration, read once from an environment map and validated with zod. */
import { z } from "zod";
import { parseTrustedProxies } from "./client_address.ts";
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
  /** Wrong channel tokens a source may send at once (`TOKEN_FAILURE_BURST`). */
  readonly tokenFailureBurst: number;
  /** …and per second after that (`TOKEN_FAILURE_RATE`). */
  readonly tokenFailureRate: number;
  /** Proxies whose `X-Forwarded-For` names the client (IPs or CIDRs); empty = none. */
  readonly trustedProxies: readonly string[];
  /** Subscriptions over all connections (`MAX_SUBSCRIPTIONS`). */
  readonly maxSubscriptions: number;
  readonly corsOrigins: readonly string[];
  /** Origins allowed to open a WebSocket (lower-cased); empty = any. */
  readonly wsOrigins: readonly string[];
  readonly shutdownTimeoutMs: number;
  /** When set, creating a channel needs it as a bearer token. */
  readonly createToken: string | undefined;
  readonly maxChannels: number;
  /** Cluster mode: the shared Redis (`REDIS_URL`); unset = single node on SQLite. */
  readonly redisUrl: string | undefined;
  /** Prefix of every Redis key and pub/sub channel of this deployment. */
  readonly redisPrefix: string;
  /** The open-file limit the connection caps derive from, when set (`OPEN_FILE_LIMIT`). */
  readonly openFileLimit: number | undefined;
  // Replays (v1.2 "Replays are streamed").
  /** History bytes all recovery replays together may hold in memory (`MAX_REPLAY_BYTES_IN_FLIGHT`). */
  readonly maxReplayBytesInFlight: number;
  // Subscriber tokens (v1.2 "Subscriber tokens (JWT), beside grants").
  /** `JWT_SECRET`: HS256 key for subscriber tokens (32+ bytes). */
  readonly jwtSecret: string | undefined;
  /** `JWT_PUBLIC_KEYS`: path of a PEM or JWKS file of RS256/ES256 public keys (read at start). */
  readonly jwtPublicKeysPath: string | undefined;
  /** `JWT_AUDIENCE`: when set, a subscriber token's `aud` must name it. */
  readonly jwtAudience: string | undefined;
  // Presence (v1.2 "Presence").
  /** `PRESENCE_MAX_MEMBERS`: most members of one presence channel; a subscribe past it is 429. */
  readonly presenceMaxMembers: number;
  /** `PRESENCE_EVENTS_MAX`: above this many members a channel sends no `Joined`/`Left` frames. */
  readonly presenceEventsMax: number;
  /**
   * `PRESENCE_TTL_MS` (cluster mode; for tests, keep the default in production): a member entry
   * lives this long unrefreshed; nodes refresh every quarter of it. 20 s gives PROTOCOL.md's
   * "a dead node's members are Left within 30 s" (see src/cluster/redis_channel_presence.ts).
   */
  readonly presenceTtlMs: number;
  /** Webhooks (v1.2 "Webhooks"): where channel events are sent, and how; unset = off. */
  readonly webhook: WebhookConfig | undefined;
}

/** `WEBHOOK_URL`, `WEBHOOK_SECRET` and `WEBHOOK_RETRY_S`. */
export interface WebhookConfig {
  /** http(s) URL every delivery is POSTed to. */
  readonly url: string;
  /** HMAC-SHA256 key of the `X-Pushserver-Signature` header (16+ characters; never logged). */
  readonly secret: string;
  /** How long a delivery is retried before it is dropped, in seconds. */
  readonly retryS: number;
}

/**
 * An optional number setting from `min` to `max`: blank gives `fallback`; text that `accepts`
 * refuses, or a value out of range, is an issue naming the setting and what it must be.
 */
function numberSetting(
  name: string,
  fallback: number,
  min: number,
  max: number,
  what: string,
  accepts: (text: string, value: number) => boolean,
) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return fallback;
      const value = Number(raw.trim());
      if (!accepts(raw.trim(), value) || value < min || value > max) {
        ctx.addIssue({
          code: "custom",
          message: `${name} must be ${what} from ${min} to ${max}, got "${raw}"`,
        });
        return z.NEVER;
      }
      return value;
    });
}

function integer(name: string, fallback: number, min: number, max: number) {
  return numberSetting(
    name,
    fallback,
    min,
    max,
    "a whole number",
    (text, value) => /^\d+$/.test(text) && Number.isSafeInteger(value),
  );
}

/** A decimal number from `min` to `max` (e.g. a rate: `0.5`). */
function decimal(name: string, fallback: number, min: number, max: number) {
  return numberSetting(name, fallback, min, max, "a number", (text) => /^\d+(\.\d+)?$/.test(text));
}

/** Fewest characters of a secret the operator chooses (`ADMIN_TOKEN`). */
export const MIN_SECRET_CHARS = 16;

/**
 * `value` as a browser serializes it in the `Origin` header (`scheme://host[:port]`, lower case,
 * default port dropped), or undefined when it is not such an origin. `null` (sandboxed frames,
 * file pages) is kept as is, so an operator can allow it explicitly.
 */
function asOrigin(value: string): string | undefined {
  if (value === "null") return value;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  // A path, query, fragment or credentials mean the operator wrote a URL, not an origin.
  if (url.pathname !== "/" || /[?#@]/.test(value) || /^https?:\/\/[^/]*\/./i.test(value)) {
    return undefined;
  }
  return url.origin;
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
  ADMIN_TOKEN: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return undefined;
      const length = [...v].length;
      if (length < MIN_SECRET_CHARS) {
        // The token itself is never echoed, only its length.
        ctx.addIssue({
          code: "custom",
          message:
            `ADMIN_TOKEN must be at least ${MIN_SECRET_CHARS} characters long, got ${length}`,
        });
        return z.NEVER;
      }
      return v;
    }),
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
  TOKEN_FAILURE_BURST: integer("TOKEN_FAILURE_BURST", 20, 1, 1_000_000),
  TOKEN_FAILURE_RATE: decimal("TOKEN_FAILURE_RATE", 2, 0.01, 1_000_000),
  TRUSTED_PROXIES: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const parsed = parseTrustedProxies(raw ?? "");
      if (parsed.ok) return parsed.value;
      ctx.addIssue({
        code: "custom",
        message: `TRUSTED_PROXIES must list IP addresses or CIDR blocks: ${parsed.error}`,
      });
      return z.NEVER;
    }),
  MAX_SUBSCRIPTIONS: integer("MAX_SUBSCRIPTIONS", 5_000_000, 1, 1_000_000_000),
  PRESENCE_MAX_MEMBERS: integer("PRESENCE_MAX_MEMBERS", 10_000, 1, 10_000_000),
  PRESENCE_EVENTS_MAX: integer("PRESENCE_EVENTS_MAX", 1000, 0, 10_000_000),
  PRESENCE_TTL_MS: integer("PRESENCE_TTL_MS", 20_000, 400, 20_000),
  CORS_ORIGINS: z
    .string()
    .optional()
    .transform((v) => (v ?? "").split(",").map((o) => o.trim()).filter((o) => o !== "")),
  WS_ORIGINS: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const origins = (raw ?? "").split(",").map((o) => o.trim()).filter((o) => o !== "");
      const normalized: string[] = [];
      for (const origin of origins) {
        const value = asOrigin(origin);
        if (value === undefined) {
          ctx.addIssue({
            code: "custom",
            message: `WS_ORIGINS must list origins such as https://app.example, got "${origin}"`,
          });
          return z.NEVER;
        }
        normalized.push(value);
      }
      return normalized;
    }),
  SHUTDOWN_TIMEOUT_MS: integer("SHUTDOWN_TIMEOUT_MS", 8000, 100, 60_000),
  CREATE_TOKEN: z
    .string()
    .optional()
    .transform((v) => (v === "" ? undefined : v))
    .refine((v) => v === undefined || v.length >= 16, {
      error: "CREATE_TOKEN must be at least 16 characters long",
    }),
  MAX_CHANNELS: integer("MAX_CHANNELS", 1_000_000, 1, 100_000_000),
  REDIS_URL: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()))
    // The URL may hold a password: the message never repeats it.
    .refine((v) => v === undefined || isRedisUrl(v), {
      error:
        "REDIS_URL must be a redis:// or rediss:// URL (redis://[user:password@]host:port[/db])",
    }),
  REDIS_PREFIX: z
    .string()
    .default("pushserver:")
    .refine((v) => /^[\x21-\x7e]{1,64}$/.test(v), {
      error: "REDIS_PREFIX must be 1 to 64 printable ASCII characters without spaces",
    }),
  // 0 = unset: read from the OS where the process may (see fd_limit.ts).
  OPEN_FILE_LIMIT: integer("OPEN_FILE_LIMIT", 0, 64, 1_000_000_000),
  // Replays (v1.2 "Replays are streamed"): 64 MiB by default, 1 MiB to 4 GiB.
  MAX_REPLAY_BYTES_IN_FLIGHT: integer(
    "MAX_REPLAY_BYTES_IN_FLIGHT",
    64 * 1024 * 1024,
    1024 * 1024,
    4 * 1024 * 1024 * 1024,
  ),
  // Subscriber tokens (v1.2): JWT_SECRET (HS256), JWT_PUBLIC_KEYS (file), JWT_AUDIENCE.
  JWT_SECRET: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === "" ? undefined : v))
    // The secret itself is never echoed, only its length.
    .refine((v) => v === undefined || new TextEncoder().encode(v).length >= 32, {
      error: "JWT_SECRET must be at least 32 bytes long (HS256)",
    }),
  JWT_PUBLIC_KEYS: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim())),
  JWT_AUDIENCE: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim())),
  // Webhooks (v1.2): WEBHOOK_URL with WEBHOOK_SECRET (checked together in loadConfig).
  WEBHOOK_URL: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()))
    .refine((v) => v === undefined || isHttpUrl(v), {
      error: "WEBHOOK_URL must be an http:// or https:// URL",
    }),
  WEBHOOK_SECRET: z
    .string()
    .optional()
    .transform((v) => (v === "" ? undefined : v))
    // The secret itself is never echoed, only its length.
    .refine((v) => v === undefined || [...v].length >= MIN_SECRET_CHARS, {
      error: `WEBHOOK_SECRET must be at least ${MIN_SECRET_CHARS} characters long`,
    }),
  WEBHOOK_RETRY_S: integer("WEBHOOK_RETRY_S", 86_400, 1, 30 * 86_400),
});

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}

function isRedisUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "redis:" || url.protocol === "rediss:") && url.hostname !== "";
  } catch {
    return false;
  }
}

/**
 * Why the configuration was rejected: one line per problem, each naming its variable, so that
 * several bad settings are all reported at once.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
  /** One line per bad setting, each starting with the variable's name. */
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const lines = typeof problems === "string" ? [problems] : problems;
    super(lines.join("\n"));
    this.problems = lines;
  }
}

/** Parses and validates configuration from an environment map (it never reads `Deno.env` itself). */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const parsed = envSchema.safeParse(env);
  const problems = new Map<string, string>();
  for (const issue of parsed.error?.issues ?? []) {
    const variable = String(issue.path[0] ?? "configuration");
    const line = issue.message.startsWith(variable)
      ? issue.message
      : `${variable}: ${issue.message}`;
    if (!problems.has(variable)) problems.set(variable, line);
  }
  const clash = portClash(env);
  if (clash !== undefined) problems.set("PORT_WS", clash);
  if (
    env.WEBHOOK_URL?.trim() && !env.WEBHOOK_SECRET && !problems.has("WEBHOOK_URL") &&
    !problems.has("WEBHOOK_SECRET")
  ) {
    problems.set("WEBHOOK_SECRET", "WEBHOOK_SECRET is required when WEBHOOK_URL is set");
  }
  if (!parsed.success || problems.size > 0) throw new ConfigError([...problems.values()]);
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
    tokenFailureBurst: e.TOKEN_FAILURE_BURST,
    tokenFailureRate: e.TOKEN_FAILURE_RATE,
    trustedProxies: e.TRUSTED_PROXIES,
    maxSubscriptions: e.MAX_SUBSCRIPTIONS,
    corsOrigins: e.CORS_ORIGINS,
    wsOrigins: e.WS_ORIGINS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    createToken: e.CREATE_TOKEN,
    maxChannels: e.MAX_CHANNELS,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    openFileLimit: e.OPEN_FILE_LIMIT === 0 ? undefined : e.OPEN_FILE_LIMIT,
    maxReplayBytesInFlight: e.MAX_REPLAY_BYTES_IN_FLIGHT,
    jwtSecret: e.JWT_SECRET,
    jwtPublicKeysPath: e.JWT_PUBLIC_KEYS,
    jwtAudience: e.JWT_AUDIENCE,
    presenceMaxMembers: e.PRESENCE_MAX_MEMBERS,
    presenceEventsMax: e.PRESENCE_EVENTS_MAX,
    presenceTtlMs: e.PRESENCE_TTL_MS,
    webhook: e.WEBHOOK_URL === undefined
      ? undefined
      : { url: e.WEBHOOK_URL, secret: e.WEBHOOK_SECRET!, retryS: e.WEBHOOK_RETRY_S },
  };
}

/** Both listeners on one (non-zero) port cannot work: say so rather than "address in use". */
function portClash(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const ws = envSchema.shape.PORT_WS.safeParse(env.PORT_WS);
  const http = envSchema.shape.PORT_HTTP.safeParse(env.PORT_HTTP);
  if (!ws.success || !http.success || ws.data !== http.data || ws.data === 0) return undefined;
  return `PORT_WS and PORT_HTTP are both ${ws.data}: the subscriber and publisher ports must differ`;
}
