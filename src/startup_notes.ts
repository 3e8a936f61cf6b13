/**
 * What the server says when it starts: the listening line (ports, mode, version) and one warning
 * per setting left open while the server is reachable from other machines.
 */
import type { Config } from "./config.ts";
import { announce, type LogFields, type Logger } from "./log.ts";
import { VERSION } from "./version.ts";

/** The settings the start lines are made of. */
export type StartupConfig = Pick<Config, "host" | "redisUrl" | "createToken" | "wsOrigins">;

/**
 * `pushserver listening ws=HOST:PORT http=HOST:PORT mode=single`, or `mode=cluster
 * redis=HOST:PORT` (never the Redis URL's user or password).
 */
export function listeningLine(
  config: StartupConfig,
  ports: { readonly wsPort: number; readonly httpPort: number },
): string {
  const base = `pushserver listening ws=${config.host}:${ports.wsPort} ` +
    `http=${config.host}:${ports.httpPort}`;
  if (config.redisUrl === undefined) return `${base} mode=single`;
  const url = new URL(config.redisUrl);
  return `${base} mode=cluster redis=${url.hostname}:${url.port === "" ? "6379" : url.port}`;
}

/** Whether `host` accepts connections from this machine only. */
export function isLoopback(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return name === "localhost" || name === "::1" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/** One line per open default, when the server listens beyond loopback; none otherwise. */
export function openDefaultWarnings(config: StartupConfig): string[] {
  if (isLoopback(config.host)) return [];
  const warnings: string[] = [];
  if (config.createToken === undefined) {
    warnings.push(
      `CREATE_TOKEN is unset and HOST=${config.host}: anyone who reaches the HTTP port can ` +
        "create channels (set CREATE_TOKEN, or HOST=127.0.0.1)",
    );
  }
  if (config.wsOrigins.length === 0) {
    warnings.push(
      "WS_ORIGINS is unset: a page on any web site can open WebSockets to this server " +
        "(set WS_ORIGINS=https://your.app,...)",
    );
  }
  return warnings;
}

/** Writes the listening line (with `fields` and the version), then the open-default warnings. */
export function announceListening(
  logger: Logger,
  config: StartupConfig,
  start: { readonly wsPort: number; readonly httpPort: number; readonly fields: LogFields },
): void {
  announce(logger, listeningLine(config, start), { version: VERSION, ...start.fields });
  for (const warning of openDefaultWarnings(config)) logger.warn(warning);
}
