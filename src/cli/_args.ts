/**
 * The command line: the help text, option parsing (options anywhere, `--` for arguments that
 * start with "-") and the checks of option values that several commands share.
 */
import { parseArgs } from "node:util";
import type { StreamPosition } from "../client/pushserver.js";
import type { PushPublisher } from "../publisher/publisher.js";
import { UsageError } from "./_exit.ts";

export const USAGE = `Usage: pushserver cli <command> [options]

Commands:
  channel create NAME            create a channel; prints its token (shown only once)
       [--private]               only authorized connections may subscribe
       [--history SIZE[,TTL]]    keep the newest SIZE pushes for TTL seconds (default
                                 86400) so subscribers can recover missed pushes
  channel ping NAME [--token T]  check that NAME exists (and that T is its token)
  channel delete NAME --token T  delete a channel
  channel authorize NAME UUID --token T
                                 let the connection UUID subscribe (private channels)
  channel revoke NAME UUID --token T
                                 remove UUID's grant and unsubscribe it
  channel rotate NAME --token T  replace the channel's token; prints the new one
  channel presence NAME --token T
                                 who is on NAME: the count, then one member per line
                                 (UUID and info); create presence channels with --presence
  channel list                   list every channel (needs $ADMIN_TOKEN, the server's)
  push NAME MESSAGE --token T    push MESSAGE ("-" reads stdin) to NAME's subscribers
       [--to UUID]...            only to these subscribers
       [--json]                  MESSAGE is JSON text (any value but null), sent as that
                                 value; the answer is printed as JSON
       [--receipt]               print what the push reached (delivered, undelivered)
  push --batch FILE [--token T]  push every line of FILE ("-" reads stdin), one JSON object
                                 {"channel","message",…} each (channelToken defaults to
                                 --token), 100 per request; one result line per push
  history NAME --token T         print a history channel's retained pushes, oldest first;
       [--since OFFSET:EPOCH]    only those after a position; prints "position
       [--limit N]               OFFSET:EPOCH NAME" to stderr; at most N pushes
  subscribe NAME...              print pushes as they arrive, until Ctrl-C; prints the
                                 connection's UUID, and waits for a grant on a private
                                 channel (see "channel authorize") while the others run
       [--count N] [--json]      stop after N pushes; one JSON object per line
       [--since OFFSET:EPOCH]... resume from a position (one per NAME, in order); on
                                 exit, prints "position OFFSET:EPOCH NAME" to stderr
                                 for each history channel
  help                           show this help
  token NAME... --ttl SECONDS    mint a subscriber token (JWT) for private channels NAME...
       [--audience AUD]          ("room:*" = every channel starting "room:"), signed with
       [--key FILE [--alg ALG]]  $JWT_SECRET (HS256), or a PKCS#8 PEM private key (ES256
                                 by default, or RS256)
  (the channel commands also work without the "channel" prefix)

Options (anywhere on the line):
  --http URL    publisher HTTP URL (default $PUSHSERVER_HTTP or http://localhost:5223)
  --ws URL      subscriber WebSocket URL (default $PUSHSERVER_WS or ws://localhost:5222)
  --token T     channel token (default $PUSHSERVER_TOKEN)
  --json        print JSON instead of plain text
  -h, --help    show this help
  --version     print the version
  --            what follows are the command's arguments, even if they start with "-"
                (push news -- "-5" --token T); options may follow once all are given
  $PUSHSERVER_CREATE_TOKEN is sent as the bearer token of "create" (server's CREATE_TOKEN).

Exit codes: 0 ok, 1 failure/500, 2 usage (also a malformed --http/--ws URL), 3 401/403,
4 404, 5 409, 6 400, 7 413, 8 408/429/503, 9 server unreachable, 10 507 (server full).
`;

/**
 * The URL of `--http`/`--ws` (or its environment variable, or the default), checked: a value
 * without a scheme (`localhost:5223`) is a usage error that suggests the full URL.
 */
export function serverUrl(
  option: "--http" | "--ws",
  value: string | undefined,
  variable: string,
  env: Readonly<Record<string, string | undefined>>,
  fallback: string,
): string {
  const given = value ?? env[variable];
  if (given === undefined || given === "") return fallback;
  const schemes = option === "--http" ? ["http:", "https:"] : ["ws:", "wss:"];
  let url: URL | undefined;
  try {
    url = new URL(given);
  } catch {
    url = undefined;
  }
  if (url === undefined || !schemes.includes(url.protocol) || url.hostname === "") {
    const source = value === undefined ? `$${variable}` : option;
    const scheme = schemes[0]!.replace(":", "://");
    throw new UsageError(
      `${source} expects a ${schemes.map((s) => `${s}//`).join(" or ")} URL, got "${given}" ` +
        `(e.g. ${scheme}${given.replace(/^[a-z]+:\/\//i, "")})`,
    );
  }
  return given;
}

/** `OFFSET:EPOCH`, as `subscribe` prints it, for `--since`. */
export function parsePosition(text: string): StreamPosition {
  const match = /^(\d+):(.+)$/.exec(text);
  const offset = Number(match?.[1]);
  if (!match || !Number.isSafeInteger(offset)) {
    throw new UsageError(`--since expects OFFSET:EPOCH (as printed by subscribe), got "${text}"`);
  }
  return { offset, epoch: match[2] as string };
}

/** `SIZE[,TTL]` → history options; TTL defaults to one day. */
export function parseHistory(text: string): { size: number; ttlSeconds: number } {
  const match = /^(\d+)(?:,(\d+))?$/.exec(text);
  if (!match) {
    throw new UsageError(
      `--history expects SIZE or SIZE,TTL_SECONDS (e.g. 100,3600), got "${text}"`,
    );
  }
  return { size: Number(match[1]), ttlSeconds: Number(match[2] ?? DEFAULT_HISTORY_TTL_S) };
}

/** TTL of `--history SIZE` without one: a day. */
const DEFAULT_HISTORY_TTL_S = 86_400;

/** The options that take a value (`--token T`); everything else is a flag or a positional. */
const VALUE_OPTIONS = new Set([
  "--http",
  "--ws",
  "--token",
  "--to",
  "--count",
  "--since",
  "--ttl",
  "--audience",
  "--key",
  "--alg",
  "--history",
  "--limit",
  "--batch",
]);

/** How many arguments each command takes after its name (Infinity: one or more). */
const ARITY: Readonly<Record<string, number>> = {
  create: 1,
  ping: 1,
  delete: 1,
  rotate: 1,
  presence: 1,
  authorize: 2,
  revoke: 2,
  push: 2,
  history: 1,
  list: 0,
  token: Infinity,
  help: Infinity,
  subscribe: Infinity,
};

const PARSE_OPTIONS = {
  http: { type: "string" },
  ws: { type: "string" },
  token: { type: "string" },
  to: { type: "string", multiple: true },
  count: { type: "string" },
  since: { type: "string", multiple: true },
  ttl: { type: "string" },
  audience: { type: "string" },
  key: { type: "string" },
  alg: { type: "string" },
  history: { type: "string" },
  limit: { type: "string" },
  batch: { type: "string" },
  receipt: { type: "boolean", default: false },
  private: { type: "boolean", default: false },
  presence: { type: "boolean", default: false },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
  version: { type: "boolean", default: false },
} as const;

/**
 * The command line as options and positionals. Options may come anywhere. An option that takes a
 * value always takes the next argument (`--token -x…`: a base64url token starts with "-" about
 * once in 64, which parseArgs alone refuses as ambiguous). `--` ends the options as usual, so a
 * message or name may start with "-"; once the command has all its arguments, options may follow
 * again (`push news -- "-5" --token T` works like `push news --token T -- "-5"`).
 */
export function parseCommandLine(args: readonly string[]): CommandLine {
  const before: string[] = [];
  let literal: string[] = [];
  let after: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      const positionals = before.filter(isPositional);
      const words = positionals[0] === "channel" ? positionals.slice(1) : positionals;
      const arity = words.length === 0 ? Infinity : ARITY[words[0]!] ?? Infinity;
      const missing = Math.max(0, arity - (words.length - 1));
      literal = args.slice(i + 1, i + 1 + missing);
      after = joinOptionValues(args.slice(i + 1 + missing));
      break;
    }
    if (VALUE_OPTIONS.has(arg) && i + 1 < args.length) before.push(`${arg}=${args[++i]}`);
    else before.push(arg);
  }
  const { values, positionals } = parseOptions([...before, ...after]);
  const leading = before.filter(isPositional).length;
  return {
    values,
    positionals: [...positionals.slice(0, leading), ...literal, ...positionals.slice(leading)],
  };
}

function parseOptions(args: string[]) {
  return parseArgs({ args, allowPositionals: true, strict: true, options: PARSE_OPTIONS });
}

/** The parsed options. */
export type CliValues = ReturnType<typeof parseOptions>["values"];

/** The options, and the positionals in order (the command and its arguments). */
export interface CommandLine {
  readonly values: CliValues;
  readonly positionals: string[];
}

function isPositional(arg: string): boolean {
  return arg === "-" || !arg.startsWith("-");
}

/** `--token VALUE` → `--token=VALUE`, so that the value may start with "-". */
function joinOptionValues(args: readonly string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (VALUE_OPTIONS.has(arg) && i + 1 < args.length) joined.push(`${arg}=${args[++i]}`);
    else joined.push(arg);
  }
  return joined;
}

/** parseArgs's complaint in this CLI's words (its own suggestion has an unbalanced quote). */
export function parseArgsMessage(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const option = /option '([^']*)'/.exec((error as Error).message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option !== undefined) {
    return `unknown option "${option}"; an argument that starts with "-" goes after --, ` +
      `e.g. push NAME -- "${option}" --token T`;
  }
  return (error as Error).message;
}

export function one(rest: readonly string[], usage: string): string {
  if (rest.length !== 1) throw new UsageError(`expected: ${usage}`);
  return rest[0] as string;
}

export function required(token: string | undefined): string {
  if (token === undefined || token === "") {
    throw new UsageError("this command needs --token T (or $PUSHSERVER_TOKEN)");
  }
  return token;
}

export function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_");
}

/** What a command gets from the command line and its environment. */
export interface CommandContext {
  readonly values: CliValues;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly httpUrl: string;
  /** `--token` or `$PUSHSERVER_TOKEN`. */
  readonly token: string | undefined;
  readonly publisher: PushPublisher;
  readonly out: (text: string) => void;
  /** Prints `text`, or `json` as one line with `--json`. */
  readonly print: (text: string, json: unknown) => void;
}
