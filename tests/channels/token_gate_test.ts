import assert from "node:assert/strict";
import { checkKey, sourceOf, TokenGate } from "../../src/channels/token_gate.ts";
import { PushError } from "../../src/errors.ts";

/** A verification a test finishes by hand; `started` records the order checks got a lane. */
class Verifications {
  readonly started: string[] = [];
  readonly #waiting = new Map<string, PromiseWithResolvers<boolean>>();

  /** A verify function labelled `label`. */
  of(label: string): () => Promise<boolean> {
    return () => {
      this.started.push(label);
      const settle = Promise.withResolvers<boolean>();
      this.#waiting.set(label, settle);
      return settle.promise;
    };
  }

  /** Ends the running check `label` with `valid`, and lets the gate move on. */
  async finish(label: string, valid = false): Promise<void> {
    const settle = this.#waiting.get(label);
    assert.ok(settle !== undefined, `${label} is running`);
    this.#waiting.delete(label);
    settle.resolve(valid);
    await tick();
  }
}

/** Lets settled promises' reactions run. */
const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function isTooMany(error: unknown, details: RegExp): boolean {
  assert.ok(error instanceof PushError);
  assert.equal(error.code, "too_many_requests");
  assert.match(error.details!, details);
  return true;
}

Deno.test("TokenGate runs one check per lane and takes the next round-robin across sources", async () => {
  const gate = new TokenGate({ lanes: 1, maxPending: 64 });
  const v = new Verifications();
  const results: Promise<boolean>[] = [];
  for (const label of ["a1", "a2", "a3", "a4", "a5"]) {
    results.push(gate.check(v.of(label), undefined, "10.0.0.1"));
  }
  results.push(gate.check(v.of("b1"), undefined, "10.0.0.2"));
  assert.deepEqual(v.started, ["a1"]);
  assert.equal(gate.pending, 6);
  // Right tokens: both sources stay clean, so only the round-robin decides.
  await v.finish("a1", true);
  await v.finish("a2", true);
  // b1 came after a2 was already next in line; then it gets its turn before a3..a5.
  await v.finish("b1", true);
  for (const label of ["a3", "a4", "a5"]) await v.finish(label, true);
  assert.deepEqual(v.started, ["a1", "a2", "b1", "a3", "a4", "a5"]);
  assert.deepEqual(await Promise.all(results), Array(6).fill(true));
  assert.equal(gate.pending, 0);
});

Deno.test("TokenGate answers 429 without bcrypt once a source has used its failure budget; it refills at its rate", async () => {
  let clock = 0;
  const gate = new TokenGate({
    lanes: 4,
    maxPending: 64,
    failureBurst: 10,
    failuresPerSecond: 1,
    penaltyMs: 0,
    now: () => clock,
  });
  let runs = 0;
  const wrong = () => {
    runs++;
    return Promise.resolve(false);
  };
  for (let i = 0; i < 10; i++) {
    assert.equal(await gate.check(wrong, undefined, "10.0.0.1"), false);
  }
  assert.equal(runs, 10);
  await assert.rejects(
    gate.check(wrong, undefined, "10.0.0.1"),
    (error) =>
      isTooMany(error, /^Too many wrong channel tokens from this address; retry in 1 s$/) &&
      (error as PushError).retryAfterS === 1,
  );
  assert.equal(runs, 10, "refused without running bcrypt");
  // Another source is not affected.
  assert.equal(await gate.check(wrong, undefined, "10.0.0.2"), false);
  clock += 1000;
  assert.equal(await gate.check(wrong, undefined, "10.0.0.1"), false);
  await assert.rejects(gate.check(wrong, undefined, "10.0.0.1"), PushError);
  assert.equal(runs, 12);
});

Deno.test("TokenGate delays the 429 of a source over its budget (a tarpit), and close() answers at once", async () => {
  const gate = new TokenGate({ lanes: 1, maxPending: 64, failureBurst: 1, penaltyMs: 40 });
  assert.equal(await gate.check(() => Promise.resolve(false)), false);
  const started = performance.now();
  await assert.rejects(gate.check(() => Promise.resolve(false)), PushError);
  // 0.5–1.5 × the penalty.
  assert.ok(performance.now() - started >= 19, "answered after the penalty");
  const waiting = gate.check(() => Promise.resolve(false));
  gate.close();
  await assert.rejects(waiting, PushError);
});

Deno.test("TokenGate: a right token costs nothing from the budget", async () => {
  const gate = new TokenGate({
    lanes: 1,
    maxPending: 64,
    failureBurst: 10,
    penaltyMs: 0,
    now: () => 0,
  });
  for (let i = 0; i < 50; i++) {
    assert.equal(await gate.check(() => Promise.resolve(true), undefined, "10.0.0.1"), true);
  }
  for (let i = 0; i < 10; i++) {
    assert.equal(
      await gate.check(() => Promise.resolve(false), undefined, "10.0.0.1"),
      false,
    );
  }
  await assert.rejects(
    gate.check(() => Promise.resolve(true), undefined, "10.0.0.1"),
    PushError,
  );
});

Deno.test("TokenGate: when full, the longest queue gives up its newest check to a newcomer", async () => {
  // One running, three waiting: the queue (MAX_TOKEN_CHECKS counts waiting checks) is full.
  const gate = new TokenGate({ lanes: 1, maxPending: 3, failureBurst: 100 });
  const v = new Verifications();
  const attacker = ["x1", "x2", "x3", "x4"].map((label) =>
    gate.check(v.of(label), undefined, "10.0.0.1")
  );
  assert.equal(gate.pending, 4);
  const newcomer = gate.check(v.of("n1"), undefined, "10.0.0.2");
  // x4 (the attacker's newest, still waiting) was dropped with 429.
  await assert.rejects(attacker[3]!, (e) => isTooMany(e, /in progress; retry shortly/));
  assert.equal(gate.pending, 4);
  // The attacker cannot take the place back: its queue is already the longest.
  await assert.rejects(
    gate.check(v.of("x5"), undefined, "10.0.0.1"),
    (e) => isTooMany(e, /in progress/),
  );
  await v.finish("x1");
  // x1 was wrong: the attacker now waits behind clean sources.
  await v.finish("n1", true);
  assert.equal(await newcomer, true);
  await v.finish("x2");
  await v.finish("x3");
  assert.deepEqual(v.started, ["x1", "n1", "x2", "x3"]);
  await Promise.allSettled(attacker);
});

Deno.test("TokenGate: when the queue is full, a source that already has the most waiting is refused", async () => {
  const gate = new TokenGate({ lanes: 1, maxPending: 2 });
  const v = new Verifications();
  const admitted = ["a1", "a2", "a3"].map((label) =>
    gate.check(v.of(label), undefined, "10.0.0.1")
  );
  await assert.rejects(
    gate.check(v.of("a4"), undefined, "10.0.0.1"),
    (e) => isTooMany(e, /in progress/) && (e as PushError).retryAfterS === undefined,
  );
  for (const label of ["a1", "a2", "a3"]) await v.finish(label, true);
  assert.deepEqual(await Promise.all(admitted), [true, true, true]);
});

Deno.test("TokenGate: identical checks in flight share one bcrypt run and one budget token", async () => {
  const gate = new TokenGate({
    lanes: 1,
    maxPending: 64,
    failureBurst: 10,
    penaltyMs: 0,
    now: () => 0,
  });
  const v = new Verifications();
  const key = checkKey("$2a$04$hash", new Uint8Array([1, 2, 255]));
  assert.equal(key, "$2a$04$hash 0102ff");
  const first = gate.check(v.of("once"), key, "10.0.0.1");
  const same = Array.from(
    { length: 20 },
    () => gate.check(v.of("again"), key, "10.0.0.1"),
  );
  assert.equal(gate.pending, 1);
  await v.finish("once", false);
  assert.deepEqual(await Promise.all([first, ...same]), Array(21).fill(false));
  assert.deepEqual(v.started, ["once"]);
  // Only one token was spent: 9 more wrong checks are allowed.
  for (let i = 0; i < 9; i++) {
    assert.equal(
      await gate.check(() => Promise.resolve(false), undefined, "10.0.0.1"),
      false,
    );
  }
  await assert.rejects(
    gate.check(() => Promise.resolve(false), undefined, "10.0.0.1"),
    PushError,
  );
});

Deno.test("TokenGate: a failing verification is passed on, refunded, and frees its lane", async () => {
  const gate = new TokenGate({ lanes: 1, maxPending: 64, penaltyMs: 0, now: () => 0 });
  for (let i = 0; i < 20; i++) {
    await assert.rejects(gate.check(() => Promise.reject(new Error("worker died"))), /worker died/);
  }
  assert.equal(gate.pending, 0);
  assert.equal(await gate.check(() => Promise.resolve(true)), true);
});

Deno.test("TokenGate.check() charges the source its caller names", async () => {
  const gate = new TokenGate({
    lanes: 1,
    maxPending: 64,
    failureBurst: 10,
    penaltyMs: 0,
    now: () => 0,
  });
  const wrong = () => Promise.resolve(false);
  await tick();
  for (let i = 0; i < 10; i++) await gate.check(wrong, undefined, "10.0.0.1");
  await tick();
  await assert.rejects(gate.check(wrong, undefined, "10.0.0.1"), PushError);
  // Without a named source, checks count against one "unknown" source, not 10.0.0.1.
  assert.equal(await gate.check(wrong), false);
});

Deno.test("TokenGate: right tokens never spend the budget, however many run at once (the v1.2 regression)", async () => {
  const gate = new TokenGate({ lanes: 2, maxPending: 64, failureBurst: 2, now: () => 0 });
  const v = new Verifications();
  // Before v1.2 each check took a budget token on arrival: the third of these got 429.
  const labels = Array.from({ length: 30 }, (_, i) => `right${i}`);
  const results = labels.map((label) => gate.check(v.of(label), undefined, "10.0.0.1"));
  for (const label of labels) await v.finish(label, true);
  assert.deepEqual(await Promise.all(results), Array(30).fill(true));
});

Deno.test("TokenGate consults the budget right before bcrypt: 40 wrong at once with a budget of 20 run at most 20 + lanes checks", async () => {
  const gate = new TokenGate({
    lanes: 2,
    maxPending: 64,
    failureBurst: 20,
    failuresPerSecond: 2,
    now: () => 0,
  });
  let runs = 0;
  const wrong = async () => {
    runs++;
    await tick();
    return false;
  };
  const results = await Promise.allSettled(
    Array.from({ length: 40 }, () => gate.check(wrong, undefined, "10.0.0.1")),
  );
  const forbidden = results.filter((r) => r.status === "fulfilled").length;
  assert.equal(forbidden, runs);
  assert.ok(runs >= 20 && runs <= 22, `${runs} bcrypt runs`);
  for (const result of results) {
    if (result.status === "rejected") {
      isTooMany(result.reason, /wrong channel tokens/);
      // 1 - tokens (down to -1 with two lanes) at 2 per second.
      assert.ok((result.reason as PushError).retryAfterS! >= 1);
    }
  }
});

Deno.test("TokenGate: a token verified once is never refused for an empty budget", async () => {
  const gate = new TokenGate({
    lanes: 1,
    maxPending: 64,
    failureBurst: 1,
    penaltyMs: 0,
    now: () => 0,
  });
  const key = checkKey("$2a$04$hash", new Uint8Array([7]));
  assert.equal(await gate.check(() => Promise.resolve(true), key, "10.0.0.1"), true);
  assert.equal(await gate.check(() => Promise.resolve(false), undefined, "10.0.0.1"), false);
  // The budget is empty now: unknown tokens get 429, the verified one still runs.
  await assert.rejects(gate.check(() => Promise.resolve(true), "other", "10.0.0.1"), PushError);
  assert.equal(await gate.check(() => Promise.resolve(true), key, "10.0.0.1"), true);
});

Deno.test("TokenGate runs checks of clean sources before those of sources that sent a wrong token in the last 10 minutes", async () => {
  let clock = 0;
  const gate = new TokenGate({
    lanes: 1,
    maxPending: 64,
    failureBurst: 100,
    now: () => clock,
  });
  const v = new Verifications();
  const attacker = ["d1", "d2", "d3", "d4"].map((l) => gate.check(v.of(l), undefined, "10.0.0.1"));
  await v.finish("d1"); // wrong: 10.0.0.1 is no longer clean
  const clean = gate.check(v.of("c1"), undefined, "10.0.0.2");
  await v.finish("d2");
  // Round-robin alone would run d3 next (it was queued first); the clean source goes first.
  const clean2 = gate.check(v.of("c2"), undefined, "10.0.0.3");
  await v.finish("c1", true);
  await v.finish("c2", true);
  assert.deepEqual(v.started, ["d1", "d2", "c1", "c2", "d3"]);
  await v.finish("d3");
  await v.finish("d4");
  assert.deepEqual(await Promise.all([clean, clean2]), [true, true]);
  await Promise.all(attacker);
  // Ten minutes after its last wrong token, 10.0.0.1 is clean again: plain round-robin.
  clock += 10 * 60_000;
  const later = ["d5", "d6"].map((l) => gate.check(v.of(l), undefined, "10.0.0.1"));
  const other = gate.check(v.of("c3"), undefined, "10.0.0.2");
  await v.finish("d5", true);
  await v.finish("d6", true);
  await v.finish("c3", true);
  // (While it was dirty, c3 would have run before d6.)
  assert.deepEqual(v.started.slice(6), ["d5", "d6", "c3"]);
  await Promise.all([...later, other]);
});

Deno.test("TokenGate: when full, the dirty source loses a tie for the most waiting checks; the newcomer's own source is refused when it has the most", async () => {
  const gate = new TokenGate({ lanes: 1, maxPending: 2, failureBurst: 100, now: () => 0 });
  const v = new Verifications();
  const dirty = ["d1", "d2", "d3"].map((l) => gate.check(v.of(l), undefined, "10.0.0.1"));
  await v.finish("d1"); // wrong: 10.0.0.1 is dirty; d2 runs, d3 waits
  const c1 = gate.check(v.of("c1"), undefined, "10.0.0.2"); // the queue is full
  const e1 = gate.check(v.of("e1"), undefined, "10.0.0.3");
  // 10.0.0.1 and 10.0.0.2 both had one waiting: the dirty one gave up its newest.
  await assert.rejects(dirty[2]!, (e) => isTooMany(e, /in progress/));
  // 10.0.0.2 now has as many waiting as anyone: its own newcomer is the one refused.
  await assert.rejects(gate.check(v.of("c2"), undefined, "10.0.0.2"), PushError);
  await v.finish("d2");
  await v.finish("c1", true);
  await v.finish("e1", true);
  assert.deepEqual(v.started, ["d1", "d2", "c1", "e1"]);
  assert.deepEqual(await Promise.all([c1, e1]), [true, true]);
  assert.deepEqual(await Promise.all(dirty.slice(0, 2)), [false, false]);
});

Deno.test("sourceOf() keys IPv4 by address and IPv6 by its /64", () => {
  assert.equal(sourceOf("127.0.0.1"), "127.0.0.1");
  assert.equal(sourceOf("::ffff:192.0.2.7"), "192.0.2.7");
  assert.equal(sourceOf("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  assert.equal(sourceOf("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  assert.equal(sourceOf("2001:0DB8:0001:0002::ffff"), "2001:db8:1:2::/64");
  assert.equal(sourceOf("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(sourceOf("::1"), "0:0:0:0::/64");
});
