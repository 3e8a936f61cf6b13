/**
 * The pushserver command line: channel admin and push through the publisher SDK, and a live
 * subscriber through the client. Exit codes follow the protocol's error codes ({@link EXIT}).
 */
import { parseArgs } from "node:util";
import {
  PushClient,
  PushError,
  type PushHandler,
  type StreamPosition,
} from "./client/pushserver.js";
import { PushApiError, PushPublisher } from "./publisher/publisher.js";
import { VERSION } from "./version.ts";
import { mintSubscriberToken } from "./publisher/subscriber_token.js";

/** Exit codes: one per class of protocol error, since exit statuses only go up to 255. */
export const EXIT = {
  ok: 0,
  /** 500 or anything unexpected. */
  failure: 1,
  /** Bad command line. */
  usage: 2,
  /** 401 or 403: token missing or wrong. */
  auth: 3,
  /** 404: no such channel. */
  notFound: 4,
  /** 409: the channel name is taken. */
  conflict: 5,
  /** 400: the server refused the request as malformed (e.g. a bad channel name or UUID). */
  badRequest: 6,
  /** 413: the message is too large. */
  tooLarge: 7,
  /** 408, 429 or 503: the server is busy, shutting down, or the request took too long. */
  unavailable: 8,
  /** The server could not be reached. */
  network: 9,
  /** 507: the server holds as many channels as it may (`MAX_CHANNELS`). */
  full: 10,
} as const;

/** Maps a protocol status code (0: no answer) to an exit code. */
export function exitCodeFor(status: number): number {
  switch (status) {
    case 0:
      return EXIT.network;
    case 400:
      return EXIT.badRequest;
    case 401:
    case 403:
      return EXIT.auth;
    case 404:
      return EXIT.notFound;
    case 409:
      return EXIT.conflict;
    case 413:
      return EXIT.tooLarge;
    case 408:
    case 429:
    case 503:
      return EXIT.unavailable;
    case 507:
      return EXIT.full;
    default:
      return EXIT.failure;
  }
}

const USAGE = `Usage: pushserver cli <command> [options]

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

class UsageError extends Error {}

/** The server at `url` did not answer (exit 9); the message names the URL. */
class UnreachableError extends Error {
  constructor(url: string, reason: string) {
    super(`cannot reach the server at ${url}: ${reason}`);
  }
}

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

    switch (command) {
      case "token": {
        if (rest.length === 0) throw new UsageError("expected: token NAME... --ttl SECONDS");
        const ttlSeconds = Number(values.ttl);
        if (values.ttl === undefined || !/^\d+$/.test(values.ttl) || ttlSeconds < 1) {
          throw new UsageError(
            `--ttl must be a whole number of seconds from 1, got "${values.ttl}"`,
          );
        }
        const alg = values.alg ?? "ES256";
        if (alg !== "ES256" && alg !== "RS256") {
          throw new UsageError(`--alg must be ES256 or RS256, got "${alg}"`);
        }
        const base = {
          channels: rest,
          ttlSeconds,
          ...(values.audience === undefined ? {} : { audience: values.audience }),
        };
        let minted: string;
        if (values.key !== undefined) {
          const privateKey = await Deno.readTextFile(values.key);
          minted = await mintSubscriberToken({ ...base, privateKey, alg });
        } else {
          const secret = env.JWT_SECRET;
          if (!secret) throw new UsageError("token needs $JWT_SECRET (HS256) or --key FILE");
          minted = await mintSubscriberToken({ ...base, secret });
        }
        print(minted, { token: minted, channels: rest, ttlSeconds });
        return EXIT.ok;
      }
      case "create": {
        const channel = one(rest, "create NAME");
        const createToken = env.PUSHSERVER_CREATE_TOKEN;
        const creator = createToken
          ? new PushPublisher({
            baseUrl: httpUrl,
            headers: { authorization: `Bearer ${createToken}` },
          })
          : publisher;
        const created = await creator.createChannel(channel, {
          ...(values.private ? { private: true } : {}),
          ...(values.presence ? { presence: true } : {}),
          ...(values.history === undefined ? {} : { history: parseHistory(values.history) }),
        });
        print(created.channelToken, created);
        return EXIT.ok;
      }
      case "authorize":
      case "revoke": {
        if (rest.length !== 2) throw new UsageError(`expected: ${command} NAME UUID --token T`);
        const [channel, uuid] = rest as [string, string];
        if (command === "authorize") {
          await publisher.authorize(channel, required(token), uuid);
          print("Authorized", { channel, uuid, authorized: true });
        } else {
          await publisher.revoke(channel, required(token), uuid);
          print("Revoked", { channel, uuid, revoked: true });
        }
        return EXIT.ok;
      }
      case "rotate": {
        const channel = one(rest, "rotate NAME --token T");
        const rotated = await publisher.rotateToken(channel, required(token));
        print(rotated.channelToken, rotated);
        return EXIT.ok;
      }
      // --- Presence (v1.2) ---
      case "presence": {
        const channel = one(rest, "presence NAME --token T");
        const result = await publisher.presence(channel, required(token));
        const lines = [
          `${result.count}${result.truncated ? " (list truncated)" : ""}`,
          ...result.members.map((m) => `${m.uuid} ${JSON.stringify(m.info)}`),
        ];
        print(lines.join("\n"), result);
        return EXIT.ok;
      }
      // --- end presence ---
      case "ping": {
        const channel = one(rest, "ping NAME");
        await publisher.ping(channel, token ?? null);
        print("OK", { channel, ok: true });
        return EXIT.ok;
      }
      case "delete": {
        const channel = one(rest, "delete NAME --token T");
        await publisher.deleteChannel(channel, required(token));
        print("Deleted", { channel, deleted: true });
        return EXIT.ok;
      }
      case "list": {
        if (rest.length !== 0) throw new UsageError("expected: channel list (no arguments)");
        const adminToken = env.ADMIN_TOKEN;
        if (adminToken === undefined || adminToken === "") {
          throw new UsageError("channel list needs $ADMIN_TOKEN (the server's ADMIN_TOKEN)");
        }
        const listing = await listChannels(httpUrl, adminToken);
        if (values.json) out(`${JSON.stringify(listing)}\n`);
        else for (const name of listing.channels) out(`${name}\n`);
        return EXIT.ok;
      }
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
    if (error instanceof UnreachableError) {
      err(`pushserver: ${error.message}\n`);
      return EXIT.network;
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

/**
 * The URL of `--http`/`--ws` (or its environment variable, or the default), checked: a value
 * without a scheme (`localhost:5223`) is a usage error that suggests the full URL.
 */
function serverUrl(
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

/** `GET /sysadmin` with the admin token: the channel names, sorted, and the totals. */
async function listChannels(
  httpUrl: string,
  adminToken: string,
): Promise<{ channels: string[]; channelsAmount: number; clientsAmount: number }> {
  const response = await fetch(new URL("/sysadmin", httpUrl), {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  const body = await response.json().catch(() => null) as {
    message?: string;
    data?: { channels?: string[]; channelsAmount?: number; clientsAmount?: number } & {
      errorDetails?: string | null;
    };
  } | null;
  if (!response.ok) {
    throw new PushApiError(
      response.status,
      body?.message ?? response.statusText,
      body?.data?.errorDetails ?? null,
    );
  }
  const data = body?.data ?? {};
  return {
    channels: [...(data.channels ?? [])].sort(),
    channelsAmount: data.channelsAmount ?? 0,
    clientsAmount: data.clientsAmount ?? 0,
  };
}

/**
 * Prints pushes until `count` arrived, the signal fires, or every channel is deleted or
 * revoked; then the position of each history channel (the last push printed), for `--since`.
 * A private channel this connection has no grant for is asked for again every `grantRetryMs`
 * until "channel authorize" lets this UUID in; the other channels run meanwhile.
 */
async function subscribe(
  wsUrl: string,
  channels: readonly string[],
  options: {
    count: number;
    /** The `--since` positions, for the first channels in order. */
    since: readonly StreamPosition[];
    json: boolean;
    out: (text: string) => void;
    err: (text: string) => void;
    signal: AbortSignal;
    grantRetryMs: number;
  },
): Promise<number> {
  const { out, err, signal } = options;
  if (signal.aborted) return EXIT.ok;
  const client = await PushClient.connect(wsUrl);
  const done = Promise.withResolvers<number>();
  const onAbort = () => done.resolve(EXIT.ok);
  signal.addEventListener("abort", onAbort, { once: true });
  /** Ends the grant waits when the command ends. */
  const stop = new AbortController();
  let received = 0;
  /** Per history channel: where the output stands (the last push printed, or the start). */
  const printed = new Map<string, StreamPosition>();
  /** Private channels waiting for a grant. */
  const waiting = new Set<string>();
  const left = (error: number) => {
    if (client.channels.length === 0 && waiting.size === 0) done.resolve(error);
  };
  const hint = (channel: string) =>
    err(
      `channel "${channel}" is private: waiting for a grant for ${client.uuid} ` +
        `(pushserver cli channel authorize ${channel} ${client.uuid} --token T)\n`,
    );
  const handler: PushHandler = (message, meta) => {
    if (received >= options.count) return;
    received++;
    const { offset, epoch } = meta;
    const line = { channel: meta.channel, message, uuid: meta.uuid, offset, epoch };
    out(options.json ? `${JSON.stringify(line)}\n` : `${meta.channel}: ${message}\n`);
    if (offset !== undefined && epoch !== undefined) {
      printed.set(meta.channel, { offset, epoch });
    }
    if (received >= options.count) done.resolve(EXIT.ok);
  };
  /** Subscribes; false when the channel is private and this connection has no grant yet. */
  const attempt = async (channel: string, since: StreamPosition | undefined) => {
    try {
      await client.subscribe(channel, handler, since === undefined ? {} : { since });
    } catch (error) {
      if (error instanceof PushError && error.code === 403) return false;
      throw error;
    }
    const start = client.position(channel);
    if (start && !printed.has(channel)) printed.set(channel, start);
    return true;
  };
  const awaitGrant = async (channel: string, since: StreamPosition | undefined) => {
    while (!stop.signal.aborted) {
      await pause(options.grantRetryMs, stop.signal);
      if (stop.signal.aborted) return;
      try {
        if (await attempt(channel, since)) {
          waiting.delete(channel);
          err(`subscribed to ${channel} (granted)\n`);
          return;
        }
      } catch (error) {
        waiting.delete(channel);
        err(`error on "${channel}": ${describe(error)}\n`);
        left(error instanceof PushError ? exitCodeFor(error.code) : EXIT.failure);
        return;
      }
    }
  };
  const waits: Promise<void>[] = [];
  try {
    client.on("disconnected", ({ code, delayMs }) => {
      err(`disconnected (code ${code}); reconnecting in ${delayMs} ms\n`);
    });
    client.on("reconnected", ({ uuid, channels }) => {
      err(`reconnected as ${uuid}; subscribed to ${channels.join(", ")}\n`);
      // A grant belongs to a connection: the new UUID needs its own.
      for (const channel of waiting) hint(channel);
    });
    client.on("notRecovered", ({ channel, position, epochChanged }) => {
      const why = epochChanged ? "the channel was re-created" : "they are no longer kept";
      err(
        `channel "${channel}": missed pushes could not be recovered (${why}); ` +
          `continuing after ${position.offset}:${position.epoch}\n`,
      );
      printed.set(channel, position);
    });
    client.on("channelDeleted", ({ channel }) => {
      err(`channel "${channel}" was deleted\n`);
      printed.delete(channel);
      left(EXIT.notFound);
    });
    client.on("subscriptionRevoked", ({ channel }) => {
      err(`subscription to "${channel}" was revoked\n`);
      printed.delete(channel);
      left(EXIT.auth);
    });
    client.on("error", ({ error, channel }) => {
      err(`error${channel === null ? "" : ` on "${channel}"`}: ${describe(error)}\n`);
      left(EXIT.notFound);
    });
    const subscribed: string[] = [];
    for (const [i, channel] of channels.entries()) {
      const since = options.since[i];
      if (await attempt(channel, since)) subscribed.push(channel);
      else {
        waiting.add(channel);
        hint(channel);
        waits.push(awaitGrant(channel, since));
      }
    }
    err(
      subscribed.length === 0
        ? `connected as ${client.uuid}\n`
        : `subscribed to ${subscribed.join(", ")} as ${client.uuid}\n`,
    );
    return await done.promise;
  } finally {
    stop.abort();
    await Promise.all(waits);
    signal.removeEventListener("abort", onAbort);
    await client.close();
    for (const [channel, { offset, epoch }] of printed) {
      err(`position ${offset}:${epoch} ${channel}\n`);
    }
  }
}

function describe(error: unknown): string {
  return error instanceof PushError
    ? `${error.code} ${error.message}: ${error.errorDetails}`
    : String(error);
}

/** Resolves after `ms`, or at once when `signal` aborts (the timer is cleared then). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** `OFFSET:EPOCH`, as `subscribe` prints it, for `--since`. */
function parsePosition(text: string): StreamPosition {
  const match = /^(\d+):(.+)$/.exec(text);
  const offset = Number(match?.[1]);
  if (!match || !Number.isSafeInteger(offset)) {
    throw new UsageError(`--since expects OFFSET:EPOCH (as printed by subscribe), got "${text}"`);
  }
  return { offset, epoch: match[2] as string };
}

/** `SIZE[,TTL]` → history options; TTL defaults to one day. */
function parseHistory(text: string): { size: number; ttlSeconds: number } {
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
function parseCommandLine(args: readonly string[]) {
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
  const { values, positionals } = parseArgs({
    args: [...before, ...after],
    allowPositionals: true,
    strict: true,
    options: PARSE_OPTIONS,
  });
  const leading = before.filter(isPositional).length;
  return {
    values,
    positionals: [...positionals.slice(0, leading), ...literal, ...positionals.slice(leading)],
  };
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
function parseArgsMessage(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const option = /option '([^']*)'/.exec((error as Error).message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option !== undefined) {
    return `unknown option "${option}"; an argument that starts with "-" goes after --, ` +
      `e.g. push NAME -- "${option}" --token T`;
  }
  return (error as Error).message;
}

function one(rest: readonly string[], usage: string): string {
  if (rest.length !== 1) throw new UsageError(`expected: ${usage}`);
  return rest[0] as string;
}

function required(token: string | undefined): string {
  if (token === undefined || token === "") {
    throw new UsageError("this command needs --token T (or $PUSHSERVER_TOKEN)");
  }
  return token;
}

function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_");
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

// --- v1.2 publishing commands (issue 20): push --json/--receipt/--batch, history ------------

/** What `push` needs besides the publisher. */
interface PushCommandOptions {
  readonly token: string | undefined;
  readonly to: readonly string[];
  readonly json: boolean;
  readonly receipt: boolean;
  readonly batch: string | undefined;
  readonly readStdin: () => Promise<string>;
  readonly out: (text: string) => void;
  readonly print: (text: string, json: unknown) => void;
}

/** `push NAME MESSAGE` (with `--json`, `--receipt`) or `push --batch FILE`. */
async function pushCommand(
  publisher: PushPublisher,
  rest: readonly string[],
  options: PushCommandOptions,
): Promise<number> {
  if (options.batch !== undefined) {
    if (rest.length !== 0) throw new UsageError("expected: push --batch FILE (no NAME MESSAGE)");
    return await pushBatchFile(publisher, options);
  }
  if (rest.length !== 2) {
    throw new UsageError(
      'expected: push NAME MESSAGE --token T (a MESSAGE that starts with "-" goes after ' +
        `--: push ${rest[0] ?? "NAME"} -- "-5" --token T)`,
    );
  }
  const [channel, text] = rest as [string, string];
  const raw = text === "-" ? await options.readStdin() : text;
  const message = options.json ? jsonMessage(raw, "MESSAGE") : raw;
  const sent = await publisher.push(channel, required(options.token), message, {
    recipients: options.to,
    ...(options.receipt ? { receipt: true } : {}),
  });
  options.print(sentLine(sent), { ...sent, sent: true });
  return EXIT.ok;
}

/** The JSON value of `text` (`--json`): any value but null. */
function jsonMessage(text: string, what: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(
      `with --json, ${what} must be JSON text (e.g. '"hello"' or '{"n":1}'), got "${text}"`,
    );
  }
  if (value === null) throw new UsageError(`${what} may be any JSON value but null`);
  return value;
}

/** `Sent`, with the stream position and what a receipt counted. */
function sentLine(sent: {
  offset?: number;
  epoch?: string;
  delivered?: number;
  undelivered?: string[];
  partial?: true;
}): string {
  const parts: string[] = [];
  if (sent.offset !== undefined) parts.push(`position ${sent.offset}:${sent.epoch}`);
  if (sent.delivered !== undefined) parts.push(`delivered ${sent.delivered}`);
  if (sent.undelivered !== undefined && sent.undelivered.length > 0) {
    parts.push(`undelivered ${sent.undelivered.join(",")}`);
  }
  if (sent.partial) parts.push("partial: a node did not answer in time");
  return parts.length === 0 ? "Sent" : `Sent (${parts.join("; ")})`;
}

/** Most pushes per `/push/batch` request. */
const BATCH_SIZE = 100;

/**
 * `push --batch FILE`: every non-blank line is one push's `data` as a JSON object (`channel`,
 * `message`, optional `channelToken` (default `--token`), `recipients`, `receipt`,
 * `idempotencyKey`), sent 100 per request. Prints one result per line, in order; exits 0 when
 * every push was sent, else with the exit code of the first one that was not.
 */
async function pushBatchFile(
  publisher: PushPublisher,
  options: PushCommandOptions,
): Promise<number> {
  const text = options.batch === "-"
    ? await options.readStdin()
    : await Deno.readTextFile(options.batch!);
  const pushes = text.split(/\r?\n/).flatMap((line, i) => {
    if (line.trim() === "") return [];
    let item: unknown;
    try {
      item = JSON.parse(line);
    } catch {
      throw new UsageError(`--batch line ${i + 1} is not JSON`);
    }
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      throw new UsageError(`--batch line ${i + 1} is not a JSON object`);
    }
    const push = item as Record<string, unknown>;
    const channelToken = push.channelToken ?? options.token;
    if (typeof push.channel !== "string" || typeof channelToken !== "string") {
      throw new UsageError(
        `--batch line ${i + 1} needs "channel" and a "channelToken" (or --token T)`,
      );
    }
    return [{ ...push, channel: push.channel, channelToken, message: push.message }];
  });
  if (pushes.length === 0) throw new UsageError("--batch: the file holds no pushes");
  let exit: number = EXIT.ok;
  for (let start = 0; start < pushes.length; start += BATCH_SIZE) {
    const results = await publisher.pushBatch(pushes.slice(start, start + BATCH_SIZE));
    for (const result of results) {
      if (result.ok) {
        const { ok: _, ...sent } = result;
        options.print(`${sent.channel}: ${sentLine(sent)}`, { ...sent, sent: true });
        continue;
      }
      const details = result.errorDetails === null ? "" : `: ${result.errorDetails}`;
      options.print(`${result.code} ${result.message}${details}`, result);
      if (exit === EXIT.ok) exit = exitCodeFor(result.code);
    }
  }
  return exit;
}

/**
 * `history NAME`: the retained pushes (after `--since`), oldest first, at most `--limit`, one per
 * line (`OFFSET TIME MESSAGE`, or a JSON object with `--json`); then on stderr the position to
 * read on from, as `subscribe` prints it.
 */
async function historyCommand(
  publisher: PushPublisher,
  channel: string,
  options: {
    token: string;
    since: readonly string[] | undefined;
    limit: string | undefined;
    json: boolean;
    out: (text: string) => void;
    err: (text: string) => void;
  },
): Promise<number> {
  if ((options.since?.length ?? 0) > 1) throw new UsageError("history takes one --since");
  const since = options.since?.[0] === undefined ? null : parsePosition(options.since[0]);
  const limit = options.limit === undefined ? Infinity : Number(options.limit);
  if (limit !== Infinity && !(Number.isSafeInteger(limit) && limit >= 1)) {
    throw new UsageError(`--limit must be a whole number from 1, got "${options.limit}"`);
  }
  let printed = 0;
  let position: StreamPosition | undefined = since ?? undefined;
  const pages = publisher.historyPages(channel, options.token, {
    since,
    limit: Math.min(limit, 1000),
  });
  for await (const page of pages) {
    if (page.recovered === false) {
      options.err(
        `the pushes after ${since!.offset}:${since!.epoch} are no longer all kept ` +
          `(or the channel was re-created); the channel is at ${page.offset}:${page.epoch}\n`,
      );
      position = { offset: page.offset, epoch: page.epoch };
      break;
    }
    position ??= { offset: 0, epoch: page.epoch };
    for (const publication of page.publications) {
      if (printed >= limit) break;
      const { offset, time, message } = publication;
      options.out(
        options.json
          ? `${JSON.stringify({ channel, offset, epoch: page.epoch, time, message })}\n`
          : `${offset} ${time} ${
            typeof message === "string" ? message : JSON.stringify(message)
          }\n`,
      );
      printed++;
      position = { offset, epoch: page.epoch };
    }
    if (printed >= limit) break;
  }
  if (position !== undefined) {
    options.err(`position ${position.offset}:${position.epoch} ${channel}\n`);
  }
  return EXIT.ok;
}

// --- end of v1.2 publishing commands -----------------------------------------------------

if (import.meta.main) Deno.exit(await main(Deno.args));
