import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { isSqliteBusy, retryWhileBusy } from "../../src/local/busy_retry.ts";
import { PushError } from "../../src/errors.ts";

/** What node:sqlite throws for a locked database. */
function busyError(): Error {
  return Object.assign(new Error("database is locked"), { code: "ERR_SQLITE_ERROR", errcode: 5 });
}

/** A store whose `write` is busy for the next `busy` calls; every attempt is logged. */
class FakeStore {
  #secret = "private";
  busy = 0;
  closed = false;
  readonly attempts: string[] = [];

  write(name: string): Promise<string> {
    this.attempts.push(name);
    if (this.busy > 0) {
      this.busy--;
      throw busyError();
    }
    return Promise.resolve(`wrote ${name}`);
  }

  async asyncWrite(name: string): Promise<string> {
    await Promise.resolve();
    return this.write(name);
  }

  broken(): Promise<void> {
    throw new Error("disk I/O error");
  }

  close(): void {
    this.closed = true;
  }

  get secret(): string {
    return this.#secret;
  }
}

Deno.test("retryWhileBusy() retries a busy call on timers until it succeeds", async () => {
  const fake = new FakeStore();
  const store = retryWhileBusy(fake, { retryMs: 5 });
  fake.busy = 2;
  assert.equal(await store.write("a"), "wrote a");
  assert.deepEqual(fake.attempts, ["a", "a", "a"]);
  // Not busy: straight through, no timer.
  assert.equal(await store.write("b"), "wrote b");
});

Deno.test("retryWhileBusy() answers 503 once a busy call passes its deadline", async () => {
  const fake = new FakeStore();
  const store = retryWhileBusy(fake, { retryMs: 5, deadlineMs: 50, attemptMs: 10 });
  fake.busy = 1_000;
  const started = performance.now();
  await assert.rejects(store.write("a"), (error) => {
    assert.ok(error instanceof PushError);
    assert.equal(error.code, "unavailable");
    assert.equal(error.status, 503);
    assert.equal(error.details, "The channel store is locked by another process; retry shortly");
    return true;
  });
  const elapsed = performance.now() - started;
  // Answered once another attempt could end past the 50 ms deadline.
  assert.ok(elapsed >= 40 && elapsed < 500, `${Math.round(elapsed)} ms`);
});

Deno.test("retryWhileBusy() makes later calls wait in line behind a busy one, then runs them in order", async () => {
  const fake = new FakeStore();
  const store = retryWhileBusy(fake, { retryMs: 5 });
  fake.busy = 3;
  const calls = [store.write("a"), store.write("b"), store.write("c")];
  assert.deepEqual(fake.attempts, ["a"], "b and c are not attempted while a is busy");
  assert.deepEqual(await Promise.all(calls), ["wrote a", "wrote b", "wrote c"]);
  assert.deepEqual(fake.attempts, ["a", "a", "a", "a", "b", "c"]);
});

Deno.test("retryWhileBusy() also retries methods that reject asynchronously", async () => {
  const fake = new FakeStore();
  const store = retryWhileBusy(fake, { retryMs: 5 });
  fake.busy = 1;
  assert.equal(await store.asyncWrite("a"), "wrote a");
  assert.deepEqual(fake.attempts, ["a", "a"]);
});

Deno.test("retryWhileBusy() passes other errors through at once", () => {
  const store = retryWhileBusy(new FakeStore());
  assert.throws(() => store.broken(), /disk I\/O error/);
});

Deno.test("retryWhileBusy() keeps getters and #private fields working", () => {
  assert.equal(retryWhileBusy(new FakeStore()).secret, "private");
});

Deno.test("retryWhileBusy(): close() answers waiting calls 503 and closes at once", async () => {
  const fake = new FakeStore();
  const store = retryWhileBusy(fake, { retryMs: 5 });
  fake.busy = 1_000;
  const waiting = store.write("a");
  store.close();
  assert.equal(fake.closed, true);
  await assert.rejects(waiting, PushError);
});

Deno.test("isSqliteBusy() recognizes node:sqlite's error for a database locked by another connection", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pushserver-busy-" });
  const holder = new DatabaseSync(join(dir, "x.db"));
  const other = new DatabaseSync(join(dir, "x.db"));
  try {
    holder.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (x)");
    other.exec("PRAGMA busy_timeout = 0");
    holder.exec("BEGIN EXCLUSIVE");
    const thrownBy = (write: () => void) => {
      try {
        write();
      } catch (error) {
        return error;
      }
      assert.fail("the write went through");
    };
    // A prepared statement's error carries `errcode`; exec()'s only the message.
    assert.ok(isSqliteBusy(thrownBy(() => other.prepare("INSERT INTO t VALUES (1)").run())));
    assert.ok(isSqliteBusy(thrownBy(() => other.exec("INSERT INTO t VALUES (1)"))));
    assert.equal(isSqliteBusy(new Error("database is locked")), false);
    assert.equal(isSqliteBusy(null), false);
    holder.exec("ROLLBACK");
  } finally {
    holder.close();
    other.close();
    await Deno.remove(dir, { recursive: true });
  }
});
