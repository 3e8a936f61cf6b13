/** pushserver entry point: config from the environment, both ports, graceful stop on signals. */
import { ConfigError, loadConfig } from "./src/config.ts";
import { jsonLogger } from "./src/log.ts";
import { startServer } from "./src/server.ts";
import { main as cli } from "./src/cli.ts";

/** Hard deadline for a graceful stop. */
const EXIT_DEADLINE_MS = 10_000;

async function main(): Promise<number> {
  let server;
  try {
    const config = loadConfig(Deno.env.toObject());
    const logger = jsonLogger(config.logLevel);
    // Last line of defence: a stray rejected promise is logged, not allowed to end the process.
    globalThis.addEventListener("unhandledrejection", (event) => {
      event.preventDefault();
      logger.error("unhandled rejection", { error: event.reason });
    });
    server = await startServer(config, { logger });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    fatal(error.message);
    return 1;
  }
  const running = server;
  const { promise: signalled, resolve } = Promise.withResolvers<undefined>();
  // A second signal (Ctrl-C can deliver SIGINT twice) must not interrupt the drain.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => resolve(undefined));
  }
  // A port lost for good ends the process with exit 1, so that a supervisor restarts it.
  const lost = await Promise.race([signalled, running.lost]);
  if (lost !== undefined) fatal(lost.message);
  setTimeout(() => Deno.exit(1), EXIT_DEADLINE_MS);
  await running.shutdown();
  return lost === undefined ? 0 : 1;
}

/** The one line a supervisor's log shows when the process stops with exit 1. */
function fatal(message: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`pushserver: ${message}\n`));
}

// `pushserver cli …` (also in the compiled binary) runs the command-line client instead.
if (import.meta.main) {
  Deno.exit(Deno.args[0] === "cli" ? await cli(Deno.args.slice(1)) : await main());
}
