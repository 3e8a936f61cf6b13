import assert from "node:assert/strict";
import { PushError } from "../../src/errors.ts";
import { bcryptHasher, newToken, sameDigest, tokenDigest } from "../../src/channels/tokens.ts";

Deno.test("newToken() is 32 random bytes as 43 base64url characters", () => {
  const tokens = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const token = newToken();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    const padded = token.replaceAll("-", "+").replaceAll("_", "/") + "=";
    assert.equal(atob(padded).length, 32);
    tokens.add(token);
  }
  assert.equal(tokens.size, 200);
});

Deno.test("bcryptHasher() hashes off the main thread and verifies only the right token", async () => {
  const hasher = bcryptHasher(4);
  try {
    const token = newToken();
    const hash = await hasher.hash(token);
    assert.match(hash, /^\$2[aby]\$04\$.{53}$/);
    assert.ok(!hash.includes(token));
    assert.equal(await hasher.verify(token, hash), true);
    assert.equal(await hasher.verify(token + "x", hash), false);
    assert.equal(await hasher.verify("", hash), false);
  } finally {
    hasher.close();
  }
});

Deno.test("bcryptHasher() keeps the event loop responsive while hashing at cost 10", async () => {
  const hasher = bcryptHasher(10);
  try {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = performance.now();
    await Promise.all([hasher.hash("a"), hasher.hash("b")]);
    const elapsed = performance.now() - started;
    clearInterval(timer);
    // If bcrypt ran on this thread the interval could not fire at all during the hash.
    assert.ok(ticks > 0, `no timer tick during ${elapsed.toFixed(0)} ms of hashing`);
  } finally {
    hasher.close();
  }
});

Deno.test("a closed hasher rejects new work", async () => {
  const hasher = bcryptHasher(4);
  hasher.close();
  await assert.rejects(hasher.hash("x"), /closed/);
});

Deno.test("tokenDigest() and sameDigest() compare tokens by SHA-256", () => {
  assert.ok(sameDigest(tokenDigest("abc"), tokenDigest("abc")));
  assert.ok(!sameDigest(tokenDigest("abc"), tokenDigest("abd")));
  assert.ok(!sameDigest(tokenDigest("abc"), new Uint8Array(3)));
});

Deno.test("bcryptHasher() hashes on its own worker: a hash does not queue behind verifications", async () => {
  const hasher = bcryptHasher(10);
  try {
    const hash = await hasher.hash("token");
    let verified = 0;
    // 16 verifications on the 2 verify workers take about 8 bcrypt times.
    const verifications = Array.from(
      { length: 16 },
      () => hasher.verify("wrong", hash).then(() => verified++),
    );
    await hasher.hash("another");
    assert.ok(verified <= 8, `${verified} of 16 verifications finished before the hash`);
    await Promise.all(verifications);
  } finally {
    hasher.close();
  }
});

Deno.test("a crashed bcrypt worker is a reported 503, not a plain Error", async () => {
  const faults: string[] = [];
  const crashing = bcryptHasher(4, {
    workerUrl: new URL("./_crashing_worker.ts", import.meta.url),
    reportFault: (job, error) => faults.push(`${job}: ${(error as Error).message}`),
  });
  try {
    await assert.rejects(
      crashing.verify("token", "$2a$04$invalidinvalidinvalidinvalidinvalidinvalidinvalidinv"),
      (e) => e instanceof PushError && e.status === 503,
    );
    assert.equal(faults.length, 1);
    assert.match(faults[0]!, /^bcrypt: bcrypt worker failed: .*out of memory/);
  } finally {
    crashing.close();
  }
});

Deno.test("a job bcrypt refuses is a reported 500, not a plain Error", async () => {
  const faults: string[] = [];
  const hasher = bcryptHasher(4, { reportFault: (job) => faults.push(job) });
  try {
    // A stored "hash" with an unknown bcrypt version: bcrypt throws instead of comparing.
    const corrupt = "$9z$04$" + "a".repeat(53);
    await assert.rejects(
      hasher.verify("x", corrupt),
      (e) => e instanceof PushError && e.status === 500 && e.details === null,
    );
    assert.deepEqual(faults, ["bcrypt"]);
  } finally {
    hasher.close();
  }
});
