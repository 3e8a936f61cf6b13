/** A SQLite store whose disk can be made full: its writes then fail with a real SQLITE_FULL. */
import { DatabaseSync } from "node:sqlite";
import type { Channel, InsertResult, WriteResult } from "../../src/channels/store.ts";
import type { StoredPush } from "../../src/history/log.ts";
import { SqliteChannelStore } from "../../src/local/sqlite_store.ts";

/** The error `node:sqlite` throws when the database or disk is full (SQLITE_FULL, 13). */
export function sqliteFull(): Error {
  const db = new DatabaseSync(":memory:");
  try {
    db.exec("CREATE TABLE t (x)");
    const { page_count } = db.prepare("PRAGMA page_count").get() as { page_count: number };
    db.exec(`PRAGMA max_page_count = ${page_count}`);
    db.prepare("INSERT INTO t VALUES (randomblob(65536))").run();
  } catch (error) {
    if (error instanceof Error) return error;
  } finally {
    db.close();
  }
  throw new Error("SQLite did not report a full database");
}

/** Every write fails like a full disk while `full` is set; reads keep working, as they do. */
export class FullableStore extends SqliteChannelStore {
  full = false;
  /** Writes attempted while full. */
  refused = 0;

  #check(): void {
    if (!this.full) return;
    this.refused++;
    throw sqliteFull();
  }

  override insert(channel: Channel, max: number): Promise<InsertResult> {
    this.#check();
    return super.insert(channel, max);
  }

  override delete(expected: Channel): Promise<WriteResult> {
    this.#check();
    return super.delete(expected);
  }

  override rotate(expected: Channel, tokenHash: string): Promise<WriteResult> {
    this.#check();
    return super.rotate(expected, tokenHash);
  }

  override appendHistory(pushes: readonly StoredPush[]): boolean[] {
    this.#check();
    return super.appendHistory(pushes);
  }

  override probeWrite(): void {
    this.#check();
    super.probeWrite();
  }
}
