/** pushserver entry point: config from the environment, both ports, graceful stop on signals. */
import { ConfigError, loadConfig } from "./src/config.ts";
import { jsonLogger } from "./src/log.ts";
import { startServer } from "./src/server.ts";
import { main as cli } from "./src/cli/main.ts";
import { runMigration } from "./src/migrate_to_redis.ts";

/**
 * How long past `SHUTDOWN_TIMEOUT_MS` a graceful stop may take before the process exits 1 anyway:
 * the protocol promises exit 0 within SHUTDOWN_TIMEOUT_MS + 2 s, and the server's own stop needs
 * up to one second of it to close the listeners after abandoning requests.
 */
const EXIT_GRACE_MS = 2_000;

async function main(): Promise<number> {
  // Listen for signals before the listening line can be printed: without a listener the OS
  // default ends the process at once (exit 143), so a supervisor's SIGTERM right after start
  // would skip the graceful stop. A second signal (Ctrl-C can deliver SIGINT twice) must not
  // interrupt the drain.
  const { promise: signalled, resolve } = Promise.withResolvers<undefined>();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => resolve(undefined));
  }
  let server;
  let config;
  try {
    config = loadConfig(Deno.env.toObject());
    const logger = jsonLogger(config.logLevel);
    // Last line of defence: a stray rejected promise is logged, not allowed to end the process.
    globalThis.addEventListener("unhandledrejection", (event) => {
      event.preventDefault();
      logger.error("unhandled rejection", { error: event.reason });
    });
    server = await startServer(config, { logger });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) fatal(problem);
    return 1;
  }
  const running = server;
  // A port lost for good ends the process with exit 1, so that a supervisor restarts it.
  const lost = await Promise.race([signalled, running.lost]);
  if (lost !== undefined) fatal(lost.message);
  setTimeout(() => Deno.exit(1), config.shutdownTimeoutMs + EXIT_GRACE_MS);
  await running.shutdown();
  return lost === undefined ? 0 : 1;
}

/** The one line a supervisor's log shows when the process stops with exit 1. */
function fatal(message: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`pushserver: ${message}\n`));
}

// `pushserver cli …` (also in the compiled binary) runs the command-line client instead, and
// `pushserver migrate-to-redis …` copies a single node's channels into Redis.
if (import.meta.main) {
  const [command, ...rest] = Deno.args;
  Deno.exit(
    command === "cli"
      ? await cli(rest)
      : command === "migrate-to-redis"
      ? await runMigration(rest, { env: Deno.env.toObject() })
      : await main(),
  );
}
