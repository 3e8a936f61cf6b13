/**
 * The ChannelStore contract, and the channel rules over it, run with the same test bodies
 * against every store: SQLite (single node) and Redis (cluster; a redis-server per test).
 */
import assert from "node:assert/strict";
import { createChannelService } from "../../src/channels/service.ts";
import type { Channel } from "../../src/channels/store.ts";
import type { TokenHasher } from "../../src/channels/tokens.ts";
import { PushError } from "../../src/errors.ts";
import { openStore, STORES } from "./_stores.ts";

function record(
  name: string,
  createdAt = 1,
  epoch = `e-${name}`,
  tokenHash = `h-${name}`,
): Channel {
  return { name, tokenHash, createdAt, epoch, private: false, history: null };
}

const MAX = Number.MAX_SAFE_INTEGER;

for (const kind of STORES) {
  Deno.test(`[${kind}] store.insert(): ok, then taken without overwriting; full past max, taken first`, async () => {
    await using world = await openStore(kind);
    const { store } = world;
    assert.equal(await store.insert(record("n"), MAX), "ok");
    assert.deepEqual(await store.get("n"), record("n"));
    assert.equal(await store.insert({ ...record("n", 9), tokenHash: "other" }, MAX), "taken");
    assert.equal((await store.get("n"))?.tokenHash, "h-n");
    assert.equal(await store.insert(record("N"), MAX), "ok", "names are case-sensitive");
    assert.equal(await store.insert(record("third"), 2), "full");
    assert.equal(await store.insert(record("n"), 2), "taken", "a taken name is taken, not full");
    assert.equal(await store.get("third"), undefined);
    const options = { ...record("opts"), private: true, history: { size: 5, ttlSeconds: 60 } };
    assert.equal(await store.insert(options, MAX), "ok");
    assert.deepEqual(await store.get("opts"), options, "options round-trip");
  });

  Deno.test(`[${kind}] store.names() is oldest first; count() follows inserts and deletes`, async () => {
    await using world = await openStore(kind);
    const { store } = world;
    assert.deepEqual(await store.names(), []);
    assert.equal(await store.count(), 0);
    await store.insert(record("b", 2), MAX);
    await store.insert(record("a", 1), MAX);
    await store.insert(record("c", 3), MAX);
    assert.deepEqual(await store.names(), ["a", "b", "c"]);
    assert.equal(await store.count(), 3);
    assert.equal(await store.delete(record("b", 2)), "done");
    assert.deepEqual(await store.names(), ["a", "c"]);
    assert.equal(await store.count(), 2);
  });

  Deno.test(`[${kind}] store.delete() is a compare-and-set on epoch and token hash`, async () => {
    await using world = await openStore(kind);
    const { store } = world;
    const n = record("n");
    assert.equal(await store.delete(n), "gone", "no such channel");
    await store.insert(n, MAX);
    assert.equal(await store.delete({ ...n, epoch: "older" }), "changed", "another record");
    assert.equal(await store.delete({ ...n, tokenHash: "rotated" }), "changed", "another hash");
    assert.deepEqual(await store.get("n"), n, "a refused delete changes nothing");
    assert.equal(await store.delete(n), "done");
    assert.equal(await store.get("n"), undefined);
    assert.equal(await store.delete(n), "gone");
  });

  Deno.test(`[${kind}] store.rotate() is a compare-and-set on epoch and token hash`, async () => {
    await using world = await openStore(kind);
    const { store } = world;
    const n = record("n");
    assert.equal(await store.rotate(n, "new"), "gone");
    await store.insert(n, MAX);
    assert.equal(await store.rotate({ ...n, tokenHash: "stale" }, "new"), "changed");
    assert.equal(await store.rotate({ ...n, epoch: "other" }, "new"), "changed");
    assert.equal(await store.rotate(n, "new"), "done");
    assert.deepEqual(await store.get("n"), { ...n, tokenHash: "new" });
    assert.equal(await store.rotate(n, "newer"), "changed", "two rotations cannot both win");
    assert.equal(await store.delete(n), "changed", "nor a delete checked against the old token");
  });

  Deno.test(`[${kind}] a deleted and re-created channel is another record`, async () => {
    await using world = await openStore(kind);
    const { store } = world;
    const first = record("n", 1, "e1");
    const second = record("n", 2, "e2");
    await store.insert(first, MAX);
    assert.equal(await store.delete(first), "done");
    assert.equal(await store.insert(second, MAX), "ok");
    assert.equal(await store.rotate(first, "x"), "changed");
    assert.equal(await store.delete(first), "changed");
    assert.deepEqual(await store.get("n"), second);
  });
}

for (const kind of STORES) {
  Deno.test(`[${kind}] a write the storage refuses is 503 unavailable, never a driver error`, async () => {
    await using world = await openStore(kind);
    const { store } = world;
    const n = record("n");
    await store.insert(n, MAX);
    await world.break();
    const unavailable = (error: unknown) =>
      error instanceof PushError && error.code === "unavailable" && error.status === 503;
    await assert.rejects(store.insert(record("m"), MAX), unavailable);
    await assert.rejects(store.rotate(n, "new"), unavailable);
    // (A delete frees space: Redis still runs it out of memory, SQLite not on a full disk.)
  });
}

/** A hasher whose hash is readable and whose verifications can be held open. */
function testHasher(): TokenHasher & { hold: PromiseWithResolvers<void> | undefined } {
  const hasher = {
    hold: undefined as PromiseWithResolvers<void> | undefined,
    hash: (token: string) => Promise.resolve(`h:${token}`),
    async verify(token: string, hash: string) {
      if (hasher.hold) await hasher.hold.promise;
      return hash === `h:${token}`;
    },
    close() {},
  };
  return hasher;
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error) => error instanceof PushError && error.code === code);
}

const V1 = { private: false, history: null } as const;

for (const kind of STORES) {
  const service = async (world: Awaited<ReturnType<typeof openStore>>, maxChannels?: number) => {
    let n = 0;
    const hasher = testHasher();
    return {
      hasher,
      service: await createChannelService({
        store: world.store,
        cache: await world.cache(),
        hasher,
        maxTokenChecks: 8,
        ...(maxChannels === undefined ? {} : { maxChannels }),
        generateToken: () => `token-${++n}`,
      }),
    };
  };

  Deno.test(`[${kind}] service: 404 > 401 > 403; 409 taken; 507 past MAX_CHANNELS; names() and size`, async () => {
    await using world = await openStore(kind);
    const { service: s } = await service(world, 2);
    const { token } = await s.create("news", V1);
    await rejectsWith(s.authorize("nope", null), "unknown_channel");
    await rejectsWith(s.authorize("nope", "x"), "unknown_channel");
    await rejectsWith(s.authorize("news", null), "token_missing");
    await rejectsWith(s.authorize("news", "wrong"), "token_invalid");
    assert.equal((await s.authorize("news", token)).name, "news");
    await rejectsWith(s.create("news", V1), "channel_exists");
    await s.create("sports", V1);
    await rejectsWith(s.create("third", V1), "insufficient_storage");
    await rejectsWith(s.create("news", V1), "channel_exists");
    assert.deepEqual(await s.names(), ["news", "sports"]);
    assert.equal(s.size, 2);
    assert.equal((await s.lookup("news"))?.name, "news");
    assert.equal(await s.lookup("nope"), undefined);
  });

  Deno.test(`[${kind}] service: delete and rotate act on the checked record; the old token is refused at once`, async () => {
    await using world = await openStore(kind);
    const { service: s } = await service(world);
    const old = (await s.create("news", V1)).token;
    const fresh = await s.rotate("news", old);
    await rejectsWith(s.authorize("news", old), "token_invalid");
    await rejectsWith(s.rotate("news", old), "token_invalid");
    assert.equal((await world.store.get("news"))?.tokenHash, `h:${fresh}`);
    await s.delete("news", fresh);
    assert.equal(await world.store.get("news"), undefined);
    assert.equal(await s.lookup("news"), undefined);
    await rejectsWith(s.authorize("news", fresh), "unknown_channel");
    assert.equal(s.size, 0);
    const again = (await s.create("news", V1)).token;
    await rejectsWith(s.authorize("news", fresh), "token_invalid");
    await s.authorize("news", again);
  });

  Deno.test(`[${kind}] service: a token check that outlives a delete and re-create acts on nothing`, async () => {
    await using world = await openStore(kind);
    const first = await service(world);
    const old = (await first.service.create("news", V1)).token;
    // Another service over the same store (a restart, or another node) has not verified it yet.
    const other = await service(world);
    other.hasher.hold = Promise.withResolvers();
    const slowDelete = other.service.delete("news", old);
    const slowRotate = other.service.rotate("news", old);
    await new Promise((resolve) => setTimeout(resolve, 0));
    await first.service.forceDelete("news");
    const { channel } = await first.service.create("news", V1);
    other.hasher.hold.resolve();
    await rejectsWith(slowDelete, "token_invalid");
    await rejectsWith(slowRotate, "token_invalid");
    assert.deepEqual(await world.store.get("news"), channel, "the re-created channel survives");
  });

  Deno.test(`[${kind}] service: a token check that outlives a delete is 404`, async () => {
    await using world = await openStore(kind);
    const { service: s } = await service(world);
    const token = (await s.create("news", V1)).token;
    // Another service checks the token (with bcrypt) while the first deletes the channel.
    const other = await service(world);
    other.hasher.hold = Promise.withResolvers();
    const slowRotate = other.service.rotate("news", token);
    await new Promise((resolve) => setTimeout(resolve, 0));
    await s.delete("news", token);
    other.hasher.hold.resolve();
    await rejectsWith(slowRotate, "unknown_channel");
  });

  Deno.test(`[${kind}] service: operator actions need no token`, async () => {
    await using world = await openStore(kind);
    const { service: s } = await service(world);
    const old = (await s.create("news", V1)).token;
    const fresh = await s.forceRotate("news");
    await rejectsWith(s.authorize("news", old), "token_invalid");
    await s.authorize("news", fresh);
    assert.equal((await s.forceDelete("news")).name, "news");
    await rejectsWith(s.forceDelete("news"), "unknown_channel");
    await rejectsWith(s.forceRotate("news"), "unknown_channel");
  });
}
