/**
 * The pushserver command line: channel admin and push through the publisher SDK, and a live
 * subscriber through the client. Exit codes follow the protocol's error codes ({@link EXIT}).
 * This module reads the command line and dispatches; each command lives in its own module.
 */
import { PushError } from "../client/pushserver.js";
import { PushApiError, PushPublisher } from "../publisher/publisher.js";
import { VERSION } from "../version.ts";
import {
  type CommandContext,
  isParseArgsError,
  one,
  parseArgsMessage,
  parseCommandLine,
  parsePosition,
  required,
  serverUrl,
  USAGE,
} from "./_args.ts";
import { channelCommand } from "./_channel_commands.ts";
import { EXIT, exitCodeFor, UsageError } from "./_exit.ts";
import { historyCommand, pushCommand } from "./_publish_commands.ts";
import { subscribe } from "./_subscribe.ts";
import { tokenCommand } from "./_token.ts";

export { EXIT, exitCodeFor };

/** Where the CLI reads and writes; tests replace all of it. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: () => Promise<string>;
  /** Aborting ends a running `subscribe` with exit code 0 (SIGINT/SIGTERM in the real CLI). */
  readonly signal: AbortSignal;
  /**
   * How often `subscribe` asks again for a private channel it has no grant for (the server
   * sends nothing when a grant arrives). Default {@link GRANT_RETRY_MS}.
   */
  readonly grantRetryMs: number;
}

/** Default pause between two SUBSCRIBE attempts on a private channel awaiting a grant. */
export const GRANT_RETRY_MS = 2_000;

/** Runs one CLI invocation and resolves with its exit code; never calls `Deno.exit`. */
export async function runCli(args: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const out = io.stdout ?? ((text: string) => writeAll(Deno.stdout, text));
  const err = io.stderr ?? ((text: string) => writeAll(Deno.stderr, text));
  const env = io.env ?? {};
  let target = "";
  try {
    const { values, positionals } = parseCommandLine(args);
    if (values.version) {
      out(`pushserver ${VERSION}\n`);
      return EXIT.ok;
    }
    if (values.help || positionals[0] === "help") {
      out(USAGE);
      return EXIT.ok;
    }
    if (positionals.length === 0) {
      err(USAGE);
      return EXIT.usage;
    }
    const words = positionals[0] === "channel" ? positionals.slice(1) : positionals;
    const [command, ...rest] = words;
    const httpUrl = serverUrl(
      "--http",
      values.http,
      "PUSHSERVER_HTTP",
      env,
      "http://localhost:5223",
    );
    const wsUrl = serverUrl("--ws", values.ws, "PUSHSERVER_WS", env, "ws://localhost:5222");
    target = command === "subscribe" ? wsUrl : httpUrl;
    const token = values.token ?? env.PUSHSERVER_TOKEN;
    const publisher = new PushPublisher({ baseUrl: httpUrl });
    const print = (text: string, json: unknown) =>
      out(`${values.json ? JSON.stringify(json) : text}\n`);
    if (
      command !== "create" && (values.private || values.presence || values.history !== undefined)
    ) {
      throw new UsageError("--private, --presence and --history only go with create");
    }
    if (command !== "subscribe" && command !== "history" && values.since !== undefined) {
      throw new UsageError("--since only goes with subscribe and history");
    }
    if (command !== "history" && values.limit !== undefined) {
      throw new UsageError("--limit only goes with history");
    }
    if (command !== "push" && (values.receipt || values.batch !== undefined)) {
      throw new UsageError("--receipt and --batch only go with push");
    }

    if (
      command !== "token" &&
      [values.ttl, values.audience, values.key, values.alg].some((v) => v !== undefined)
    ) {
      throw new UsageError("--ttl, --audience, --key and --alg only go with token");
    }

    const context: CommandContext = { values, env, httpUrl, token, publisher, out, print };
    if (command === "token") return await tokenCommand(rest, context);
    const channelExit = await channelCommand(command, rest, context);
    if (channelExit !== undefined) return channelExit;
    switch (command) {
      case "push": {
        return await pushCommand(publisher, rest, {
          token,
          to: values.to ?? [],
          json: values.json,
          receipt: values.receipt,
          batch: values.batch,
          readStdin: io.stdin ?? readStdin,
          out,
          print,
        });
      }
      case "history": {
        const channel = one(rest, "history NAME --token T [--since OFFSET:EPOCH] [--limit N]");
        return await historyCommand(publisher, channel, {
          token: required(token),
          since: values.since,
          limit: values.limit,
          json: values.json,
          out,
          err,
        });
      }
      case "subscribe": {
        if (rest.length === 0) throw new UsageError("expected: subscribe NAME...");
        const count = values.count === undefined ? Infinity : Number(values.count);
        if (count !== Infinity && !(Number.isSafeInteger(count) && count >= 1)) {
          throw new UsageError(`--count must be a whole number from 1, got "${values.count}"`);
        }
        const since = (values.since ?? []).map(parsePosition);
        if (since.length > rest.length) {
          throw new UsageError("--since is given once per channel, in order: too many of them");
        }
        return await subscribe(wsUrl, rest, {
          count,
          since,
          json: values.json,
          out,
          err,
          signal: io.signal ?? new AbortController().signal,
          grantRetryMs: io.grantRetryMs ?? GRANT_RETRY_MS,
        });
      }
      default:
        throw new UsageError(`unknown command "${positionals.join(" ")}"`);
    }
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      const message = error instanceof UsageError ? error.message : parseArgsMessage(error);
      err(`pushserver: ${message}\nRun "pushserver cli help" for usage.\n`);
      return EXIT.usage;
    }
    if ((error instanceof PushApiError || error instanceof PushError) && error.code === 0) {
      // The client's "no answer": nothing listens at the URL, or it is not a pushserver.
      const details = error.errorDetails === null ? "" : ` (${error.errorDetails})`;
      err(`pushserver: cannot reach the server at ${target}: ${error.message}${details}\n`);
      return EXIT.network;
    }
    if (error instanceof PushApiError || error instanceof PushError) {
      const details = error.errorDetails === null ? "" : `: ${error.errorDetails}`;
      err(`pushserver: ${error.code} ${error.message}${details}\n`);
      return exitCodeFor(error.code);
    }
    if (error instanceof TypeError) {
      // fetch rejects with a TypeError when the server cannot be reached.
      // Deno's cause reads "error sending request for url (…): …: Connection refused (os error
      // 111)"; its last part is the reason, and the URL is named once, by this line.
      const cause = error.cause instanceof Error ? error.cause.message : error.message;
      const reason = cause.split(": ").at(-1) ?? cause;
      err(`pushserver: cannot reach the server at ${target}: ${reason}\n`);
      return EXIT.network;
    }
    err(`pushserver: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.failure;
  }
}

async function readStdin(): Promise<string> {
  return (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
}

function writeAll(target: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(target.writeSync(bytes));
}

/** Entry point for `deno task cli` and `pushserver cli`: SIGINT/SIGTERM end a subscribe. */
export async function main(args: readonly string[]): Promise<number> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  const signals = ["SIGINT", "SIGTERM"] as const;
  for (const name of signals) Deno.addSignalListener(name, stop);
  try {
    return await runCli(args, { env: Deno.env.toObject(), signal: controller.signal });
  } finally {
    for (const name of signals) Deno.removeSignalListener(name, stop);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
