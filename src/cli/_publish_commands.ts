/**
 * The publishing commands (v1.2, issue 20): `push` (with `--json`, `--receipt`) and
 * `push --batch FILE`, and `history`.
 */
import type { StreamPosition } from "../client/pushserver.js";
import type { PushPublisher } from "../publisher/publisher.js";
import { parsePosition, required } from "./_args.ts";
import { EXIT, exitCodeFor, UsageError } from "./_exit.ts";

/** What `push` needs besides the publisher. */
export interface PushCommandOptions {
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
export async function pushCommand(
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
export async function historyCommand(
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
