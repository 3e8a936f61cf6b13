/**
 * Holds `BEGIN EXCLUSIVE` on a SQLite file, as another process (a backup, the sqlite3 shell)
 * might: `deno run -A _sqlite_locker.ts <db path>`. Prints `locked`, keeps the lock until stdin
 * closes, then rolls back and prints `released`.
 */
import { DatabaseSync } from "node:sqlite";

const db = new DatabaseSync(Deno.args[0]!);
const encoder = new TextEncoder();
db.exec("BEGIN EXCLUSIVE");
await Deno.stdout.write(encoder.encode("locked\n"));
for await (const _ of Deno.stdin.readable) { /* wait for EOF */ }
db.exec("ROLLBACK");
db.close();
await Deno.stdout.write(encoder.encode("released\n"));
