import assert from "node:assert/strict";
import { join } from "node:path";
import { action, post } from "../_helpers.ts";
import { ServerProcess } from "./_process.ts";

const ROUNDS = 3;
const ACKED_BEFORE_KILL = 100;
const CONCURRENCY = 16;

// SIGKILL over the SQLite file: durability of the local store (single only; cluster durability is Redis's).
Deno.test("[e2e][single] SIGKILL during a storm of creates loses no acknowledged channel", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pushserver-durability-" });
  const dbPath = join(dir, "push.db");
  const acked = new Map<string, string>(); // channel → token, for every create that got a 200
  let failedInFlight = 0;

  for (let round = 0; round < ROUNDS; round++) {
    await using server = await ServerProcess.spawn({ DB_PATH: dbPath });
    const killed = Promise.withResolvers<void>();
    let ackedThisRound = 0;
    let next = 0;
    const worker = async () => {
      // Bounded: stops at the kill, or after 2,000 attempts per round at the latest.
      while (next < 2000) {
        const channel = `r${round}-c${next++}`;
        try {
          const reply = await post(
            `${server.httpUrl}/channel/create`,
            action("CREATE_CHANNEL", { channel }),
          );
          assert.equal(reply.status, 200, JSON.stringify(reply.body));
          acked.set(channel, reply.body.data.channelToken);
          if (++ackedThisRound === ACKED_BEFORE_KILL) {
            server.kill("SIGKILL");
            killed.resolve();
          }
        } catch (error) {
          if (error instanceof assert.AssertionError) throw error;
          failedInFlight++; // the connection died with the process: the outcome is unknown
          return;
        }
      }
    };
    const storm = Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await killed.promise;
    await storm;
    const status = await server.exit();
    assert.equal(status.signal, "SIGKILL");
  }

  await using server = await ServerProcess.spawn({ DB_PATH: dbPath });
  const lost: string[] = [];
  for (const [channel, channelToken] of acked) {
    const reply = await post(
      `${server.httpUrl}/channel/ping`,
      action("PING_CHANNEL", { channel, channelToken }),
    );
    if (reply.status !== 200) lost.push(`${channel}: ${reply.status}`);
  }
  assert.deepEqual(lost, []);
  assert.ok(acked.size >= ROUNDS * ACKED_BEFORE_KILL);
  // The restarted server still creates channels and uses them.
  const fresh = await post(
    `${server.httpUrl}/channel/create`,
    action("CREATE_CHANNEL", { channel: "after" }),
  );
  assert.equal(fresh.status, 200);
  server.kill("SIGTERM");
  assert.equal((await server.exit()).code, 0);
  await Deno.remove(dir, { recursive: true });
  // The kill really landed mid-storm: other creates were still waiting for their answer.
  assert.ok(failedInFlight >= ROUNDS, `${failedInFlight} creates cut off`);
});
