import assert from "node:assert/strict";
import { ChannelCache } from "../../src/channels/cache.ts";
import {
  type ChannelServiceOptions,
  createChannelService as createService,
} from "../../src/channels/service.ts";
import { SqliteChannelStore } from "../../src/local/sqlite_store.ts";
import type { TokenHasher } from "../../src/channels/tokens.ts";
import { PushError } from "../../src/errors.ts";

/** A hasher that records verify calls and can hold them open. */
function countingHasher(): TokenHasher & {
  verifies: number;
  hold: PromiseWithResolvers<void> | undefined;
} {
  const hasher = {
    verifies: 0,
    hold: undefined as PromiseWithResolvers<void> | undefined,
    hash: (token: string) => Promise.resolve(`h:${token}`),
    async verify(token: string, hash: string) {
      hasher.verifies++;
      if (hasher.hold) await hasher.hold.promise;
      return hash === `h:${token}`;
    },
    close() {},
  };
  return hasher;
}

const V1 = { private: false, history: null } as const;

/** The service as a single node builds it: every record of the SQLite store cached. */
async function createChannelService(
  options: Omit<ChannelServiceOptions, "cache" | "store"> & { store: SqliteChannelStore },
) {
  return createService({
    ...options,
    cache: new ChannelCache({ records: await options.store.list() }),
  });
}

async function setup(maxTokenChecks = 8) {
  const store = new SqliteChannelStore(":memory:");
  const hasher = countingHasher();
  let n = 0;
  const service = await createChannelService({
    store,
    hasher,
    maxTokenChecks,
    now: () => 1000,
    generateToken: () => `token-${++n}`,
  });
  return { store, hasher, service, [Symbol.dispose]: () => store.close() };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error) => error instanceof PushError && error.code === code);
}

Deno.test("service.create() stores only the hash and refuses a taken name", async () => {
  using world = await setup();
  const token = (await world.service.create("news", V1)).token;
  assert.equal(token, "token-1");
  const stored = await world.store.get("news");
  assert.deepEqual({ ...stored, epoch: "?" }, {
    name: "news",
    tokenHash: "h:token-1",
    createdAt: 1000,
    epoch: "?",
    private: false,
    history: null,
  });
  assert.match(stored!.epoch, /^[0-9a-f]{16}$/);
  await rejectsWith(world.service.create("news", V1), "channel_exists");
  assert.equal((await world.service.lookup("news"))?.name, "news");
  assert.deepEqual(await world.service.names(), ["news"]);
});

Deno.test("service.authorize(): 404, then 401 for null, then 403 for a wrong token", async () => {
  using world = await setup();
  const token = (await world.service.create("news", V1)).token;
  await rejectsWith(world.service.authorize("nope", null), "unknown_channel");
  await rejectsWith(world.service.authorize("news", null), "token_missing");
  await rejectsWith(world.service.authorize("news", "wrong"), "token_invalid");
  await world.service.authorize("news", token);
});

Deno.test("a right token pays bcrypt at most once; a wrong one pays it every time", async () => {
  using world = await setup();
  const token = (await world.service.create("news", V1)).token;
  for (let i = 0; i < 5; i++) await world.service.authorize("news", token);
  assert.equal(world.hasher.verifies, 0, "the creator's token is known from create");
  for (let i = 0; i < 3; i++) {
    await rejectsWith(world.service.authorize("news", "bad"), "token_invalid");
  }
  assert.equal(world.hasher.verifies, 3);
});

Deno.test("after a restart the first right token is verified with bcrypt, then cached", async () => {
  using world = await setup();
  const token = (await world.service.create("news", V1)).token;
  const restarted = await createChannelService({
    store: world.store,
    hasher: world.hasher,
    maxTokenChecks: 8,
  });
  await restarted.authorize("news", token);
  await restarted.authorize("news", token);
  assert.equal(world.hasher.verifies, 1);
});

Deno.test("ping with null checks existence only; with a token it checks the token", async () => {
  using world = await setup();
  const token = (await world.service.create("news", V1)).token;
  await world.service.ping("news", null);
  await world.service.ping("news", token);
  await rejectsWith(world.service.ping("news", "bad"), "token_invalid");
  await rejectsWith(world.service.ping("nope", null), "unknown_channel");
});

Deno.test("delete removes the channel and its cached digest; a re-created channel needs its new token", async () => {
  using world = await setup();
  const old = (await world.service.create("news", V1)).token;
  await rejectsWith(world.service.delete("news", null), "token_missing");
  await world.service.delete("news", old);
  assert.equal(await world.service.lookup("news"), undefined);
  assert.equal(await world.store.get("news"), undefined);
  const fresh = (await world.service.create("news", V1)).token;
  await rejectsWith(world.service.authorize("news", old), "token_invalid");
  await world.service.authorize("news", fresh);
});

Deno.test("concurrent wrong-token checks past the bound get 429 instead of queueing", async () => {
  using world = await setup(2);
  (await world.service.create("news", V1)).token;
  world.hasher.hold = Promise.withResolvers();
  // Two run (one per verify worker), MAX_TOKEN_CHECKS = 2 wait; the fifth is refused.
  const admitted = ["bad1", "bad2", "bad3", "bad4"].map((t) => world.service.authorize("news", t));
  await rejectsWith(world.service.authorize("news", "bad5"), "too_many_requests");
  world.hasher.hold.resolve();
  for (const check of admitted) await rejectsWith(check, "token_invalid");
  world.hasher.hold = undefined;
  await rejectsWith(world.service.authorize("news", "bad6"), "token_invalid");
});

Deno.test("create keeps the options and gives every created channel a new epoch", async () => {
  using world = await setup();
  const history = { size: 10, ttlSeconds: 60 };
  const first = await world.service.create("news", { private: true, history });
  assert.equal(first.channel.private, true);
  assert.deepEqual(first.channel.history, history);
  await world.service.delete("news", first.token);
  const second = await world.service.create("news", V1);
  assert.notEqual(second.channel.epoch, first.channel.epoch);
});

Deno.test("rotate: the old token is refused from the answer on, the new one works, durably", async () => {
  using world = await setup();
  const old = (await world.service.create("news", V1)).token;
  const fresh = await world.service.rotate("news", old);
  assert.notEqual(fresh, old);
  await rejectsWith(world.service.authorize("news", old), "token_invalid");
  await world.service.authorize("news", fresh);
  assert.equal((await world.store.get("news"))?.tokenHash, `h:${fresh}`);
  await rejectsWith(world.service.rotate("news", old), "token_invalid");
});

Deno.test("a delete whose token check is still running cannot delete a channel re-created meanwhile", async () => {
  using world = await setup();
  const old = (await world.service.create("news", V1)).token;
  // A fresh service has not verified the token yet, so the delete waits inside bcrypt.
  const restarted = await createChannelService({
    store: world.store,
    hasher: world.hasher,
    maxTokenChecks: 8,
    generateToken: () => "token-new",
  });
  world.hasher.hold = Promise.withResolvers();
  const slowDelete = restarted.delete("news", old);
  await new Promise((resolve) => setTimeout(resolve, 0));
  // Meanwhile the channel is deleted and re-created with another token (through `restarted`).
  const { channel } = await restarted.forceDelete("news").then(() => restarted.create("news", V1));
  world.hasher.hold.resolve();
  world.hasher.hold = undefined;
  await rejectsWith(slowDelete, "token_invalid");
  assert.equal(restarted.lookup("news"), channel, "the re-created channel survives");
  assert.equal((await world.store.get("news"))?.epoch, channel.epoch);
});

Deno.test("MAX_CHANNELS: a new name past the limit is 507, a taken name still 409", async () => {
  const store = new SqliteChannelStore(":memory:");
  try {
    const service = await createChannelService({
      store,
      hasher: countingHasher(),
      maxTokenChecks: 8,
      maxChannels: 1,
    });
    await service.create("a", V1);
    await rejectsWith(service.create("a", V1), "channel_exists");
    await rejectsWith(service.create("b", V1), "insufficient_storage");
  } finally {
    store.close();
  }
});
