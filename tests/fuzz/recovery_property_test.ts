/**
 * Property (PROTOCOL.md v1.1, "History and recovery"): for any interleaving of pushes,
 * disconnects and resubscribes with `since`, what one client receives is the channel's sequence
 * without gap or duplicate whenever `recovered` was true; when it was false, the stream restarts
 * at `recovery.offset` and only because pushes the client missed are no longer retained.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { startTestServer } from "../_helpers.ts";
import { broadcast, createWith, type Json, WsClient } from "../e2e/_v11.ts";

/** Generated scenarios; each is a fresh channel on one server. Bounded: ≤ 12 steps of ≤ 6 pushes. */
export const RECOVERY_RUNS = 25;

type Step =
  | { kind: "push"; count: number; concurrent: boolean }
  | { kind: "disconnect" }
  | { kind: "resubscribe"; during: number }
  | { kind: "away"; missed: number; during: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("push" as const),
    count: fc.integer({ min: 1, max: 6 }),
    concurrent: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("disconnect" as const) }),
  fc.record({ kind: fc.constant("resubscribe" as const), during: fc.integer({ min: 0, max: 4 }) }),
  // Disconnected while pushes happen, then back with `since`: the case recovery exists for.
  fc.record({
    kind: fc.constant("away" as const),
    missed: fc.integer({ min: 1, max: 6 }),
    during: fc.integer({ min: 0, max: 3 }),
  }),
);

const scenario = fc.record({
  size: fc.constantFrom(3, 8, 10000),
  steps: fc.array(step, { maxLength: 12 }),
});

Deno.test("[fuzz] recovery: any interleaving of pushes, disconnects and resubscribes", async () => {
  await using server = await startTestServer();
  let run = 0;
  await fc.assert(
    fc.asyncProperty(scenario, async ({ size, steps }) => {
      const channel = `p${run++}`;
      const { token, epoch } = await createWith(server, channel, {
        history: { size, ttlSeconds: 3600 },
      });
      const messages = new Map<number, string>();
      let top = 0;
      let sent = 0;
      const push = async () => {
        const message = `${channel}-${sent++}`;
        const data = await broadcast(server, channel, token, message);
        assert.ok(!messages.has(data.offset), `offset ${data.offset} reused`);
        messages.set(data.offset, message);
        top = Math.max(top, data.offset);
      };
      const pushes = async (count: number, concurrent: boolean) => {
        if (concurrent) await Promise.all(Array.from({ length: count }, push));
        else for (let i = 0; i < count; i++) await push();
      };

      /** Where the client's stream stands: the last offset it received or was told to start at. */
      let last = 0;
      const received: number[] = [];
      let alwaysRecovered = true;
      const absorb = (frames: Json[]) => {
        for (const frame of frames) {
          assert.equal(frame.messageType, "CLIENT_PUSH", JSON.stringify(frame));
          const { offset, message, epoch: frameEpoch } = frame.data.pushMessage;
          assert.equal(frameEpoch, epoch);
          assert.equal(offset, last + 1, `contiguous: got ${offset} after ${last}`);
          assert.equal(message, messages.get(offset));
          received.push(offset);
          last = offset;
        }
      };

      let client: WsClient | undefined = await WsClient.connect(server.wsUrl);
      try {
        const first = await client.subscribe(channel);
        assert.deepEqual(first.data.recovery, { channel, epoch, offset: 0, recovered: false });
        const disconnect = async () => {
          if (client === undefined) return;
          await client.close();
          absorb(client.drain());
          client = undefined;
        };
        const resubscribe = async (during: number) => {
          await disconnect();
          client = await WsClient.connect(server.wsUrl);
          const since = { offset: last, epoch };
          const topBefore = top;
          const [ack] = await Promise.all([client.subscribe(channel, since), pushes(during, true)]);
          const topAfter = top;
          assert.equal(ack.message, "Subscribed", JSON.stringify(ack));
          const { recovery } = ack.data;
          assert.equal(recovery.epoch, epoch);
          if (recovery.recovered) {
            // Every push above `since` was retained when the server looked (top ≥ topBefore).
            assert.ok(topBefore - last <= size, `recovered although ${topBefore - last} > ${size}`);
            assert.ok(recovery.offset >= last);
          } else {
            // Not recovered only because something the client missed was trimmed.
            assert.ok(topAfter - last > size, `not recovered although all was retained`);
            assert.ok(recovery.offset >= last && recovery.offset <= topAfter);
            alwaysRecovered = false;
            last = recovery.offset;
          }
        };

        for (const s of steps) {
          if (s.kind === "push") await pushes(s.count, s.concurrent);
          else if (s.kind === "disconnect") await disconnect();
          else if (s.kind === "resubscribe") await resubscribe(s.during);
          else {
            await disconnect();
            await pushes(s.missed, true);
            await resubscribe(s.during);
          }
        }
        if (client === undefined) await resubscribe(0);
        if (last < top) absorb(await client!.pushesUpTo(top));
        assert.equal(last, top);
        assert.ok(await client!.receivedNothing(), "nothing after the top");
        if (alwaysRecovered) {
          assert.deepEqual(received, Array.from({ length: top }, (_, i) => i + 1));
        }
      } finally {
        await client?.close();
      }
    }),
    { numRuns: RECOVERY_RUNS },
  );
});
