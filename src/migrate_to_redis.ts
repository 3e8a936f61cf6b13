/**
 * `migrate-to-redis`: copies every channel of a single-node SQLite file into Redis for cluster
 * mode — token hash, creation time, epoch and options, and the history (stream top and the
 * entries still retained) — so every token and every recovery position keeps working.
 * Run it while the single node is stopped. Channels already in Redis are left alone, so a second
 * run after an interruption finishes the job.
 */
import { parseArgs } from "node:util";
import { EVERY_ENTRY } from "./history/log.ts";
import { SqliteChannelStore } from "./local/sqlite_store.ts";
import { Keys } from "./cluster/keys.ts";
import { closeRedis, openRedis, redactUrl } from "./cluster/redis.ts";
import { RedisChannelStore } from "./cluster/redis_store.ts";

const USAGE = `Usage: deno task migrate-to-redis --from FILE --to REDIS_URL [--prefix PREFIX]
       (or: pushserver migrate-to-redis ...)

Copies every channel (token hash, options, history) from the SQLite file of a single node into
Redis, for cluster mode. Stop the single node first. Channels already in Redis are skipped.

  --from FILE      the SQLite file (DB_PATH of the single node, e.g. data/pushserver.db)
  --to URL         redis://[user:password@]host:port[/db] (default $REDIS_URL)
  --prefix PREFIX  key prefix (default $REDIS_PREFIX or "pushserver:")

Exit codes: 0 done, 1 failure (or a name taken by another channel in Redis), 2 usage.
`;

/** Where the command reads and writes; tests replace it. */
export interface MigrateIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now: () => number;
}

/** Runs the migration and resolves with the exit code; never calls `Deno.exit`. */
export async function runMigration(
  args: readonly string[],
  io: Partial<MigrateIo> = {},
): Promise<number> {
  const out = io.stdout ?? ((text: string) => Deno.stdout.writeSync(encoder.encode(text)));
  const err = io.stderr ?? ((text: string) => Deno.stderr.writeSync(encoder.encode(text)));
  const env = io.env ?? {};
  const now = io.now ?? Date.now;
  let values;
  try {
    values = parseArgs({
      args: [...args],
      strict: true,
      options: {
        from: { type: "string" },
        to: { type: "string" },
        prefix: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (error) {
    err(`migrate-to-redis: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const to = values.to ?? env.REDIS_URL;
  if (values.from === undefined || to === undefined || to === "") {
    err(`migrate-to-redis: --from and --to (or $REDIS_URL) are required\n${USAGE}`);
    return 2;
  }
  const prefix = values.prefix ?? env.REDIS_PREFIX ?? "pushserver:";

  try {
    await Deno.stat(values.from);
  } catch {
    err(`migrate-to-redis: cannot read "${values.from}"\n`);
    return 1;
  }
  let sqlite: SqliteChannelStore | undefined;
  let redis;
  try {
    sqlite = new SqliteChannelStore(values.from);
    redis = await openRedis(to, "pushserver-migrate");
    const target = new RedisChannelStore(redis, new Keys(prefix));
    let copied = 0;
    let present = 0;
    const conflicts: string[] = [];
    for (const channel of await sqlite.list()) {
      const top = sqlite.topOffset(channel.name, channel.epoch);
      const outcome = await target.insert(channel, Number.MAX_SAFE_INTEGER, top);
      if (outcome !== "ok") {
        const existing = await target.get(channel.name);
        if (existing?.epoch === channel.epoch && existing.tokenHash === channel.tokenHash) {
          present++;
        } else conflicts.push(channel.name);
        continue;
      }
      if (channel.history !== null) {
        const cutoff = now() - channel.history.ttlSeconds * 1000;
        const entries = sqlite.readHistory(channel.name, 0, EVERY_ENTRY).filter((e) =>
          e.createdAt >= cutoff
        );
        await target.importHistory(channel, top, entries, now());
      }
      copied++;
    }
    out(
      `migrate-to-redis: copied ${copied} channel(s) to ${redactUrl(to)} (prefix "${prefix}")` +
        (present > 0 ? `; ${present} already there` : "") + "\n",
    );
    if (conflicts.length > 0) {
      err(
        `migrate-to-redis: ${conflicts.length} name(s) already taken by other channels in Redis, ` +
          `not copied: ${conflicts.map((n) => JSON.stringify(n)).join(", ")}\n`,
      );
      return 1;
    }
    return 0;
  } catch (error) {
    err(`migrate-to-redis: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    sqlite?.close();
    if (redis !== undefined) await closeRedis(redis);
  }
}

const encoder = new TextEncoder();

if (import.meta.main) {
  Deno.exit(await runMigration(Deno.args, { env: Deno.env.toObject() }));
}
