/** The admin sampler: bounded ring buffer, rates from counters, cluster sums (injected clock). */
import assert from "node:assert/strict";
import { mergeSamples, type Reading, Sampler, toSeries } from "../../src/admin/sampler.ts";
import { ChannelActivity } from "../../src/admin/activity.ts";

function world() {
  let now = 1_000_000;
  let reading: Reading = {
    connections: 0,
    subscriptions: 0,
    channels: 0,
    pushes: 0,
    deliveries: 0,
    errors: {},
  };
  const sampler = new Sampler({ read: () => reading, now: () => now, windowMs: 10_000 });
  return {
    sampler,
    advance: (ms: number) => now += ms,
    set: (next: Partial<Reading>) => reading = { ...reading, ...next },
  };
}

Deno.test("Sampler turns counters into per-second rates and keeps gauges as read", () => {
  const { sampler, advance, set } = world();
  sampler.sample();
  advance(1000);
  set({ connections: 7, pushes: 10, deliveries: 30, errors: { "404": 2 } });
  const sample = sampler.sample();
  assert.equal(sample.connections, 7);
  assert.equal(sample.pushesPerSecond, 10);
  assert.equal(sample.deliveriesPerSecond, 30);
  assert.deepEqual(sample.errorsPerSecond, { "404": 2 });
  advance(2000);
  set({ pushes: 14 });
  assert.equal(sampler.sample().pushesPerSecond, 2);
});

Deno.test("Sampler holds at most the window, oldest first", () => {
  const { sampler, advance, set } = world();
  assert.equal(sampler.capacity, 10);
  for (let i = 0; i < 25; i++) {
    set({ connections: i });
    sampler.sample();
    advance(1000);
  }
  const samples = sampler.samples();
  assert.ok(samples.length <= 10);
  assert.deepEqual(
    samples.map((s) => s.connections),
    [15, 16, 17, 18, 19, 20, 21, 22, 23, 24].slice(-samples.length),
  );
  assert.ok(samples.every((s, i) => i === 0 || s.t > samples[i - 1]!.t));
});

Deno.test("mergeSamples sums nodes per second, carrying a late node's gauges without its rates", () => {
  const a = [
    {
      t: 1000,
      connections: 2,
      subscriptions: 2,
      channels: 5,
      pushesPerSecond: 1,
      deliveriesPerSecond: 1,
      errorsPerSecond: {},
    },
    {
      t: 2000,
      connections: 3,
      subscriptions: 3,
      channels: 5,
      pushesPerSecond: 2,
      deliveriesPerSecond: 2,
      errorsPerSecond: { "403": 1 },
    },
  ];
  const b = [
    {
      t: 1000,
      connections: 10,
      subscriptions: 1,
      channels: 5,
      pushesPerSecond: 4,
      deliveriesPerSecond: 4,
      errorsPerSecond: { "403": 2 },
    },
  ];
  const merged = mergeSamples([a, b], 1000);
  assert.deepEqual(merged.map((s) => [s.t, s.connections, s.pushesPerSecond, s.channels]), [
    [1000, 12, 5, 5],
    [2000, 13, 2, 5],
  ]);
  const series = toSeries(merged);
  assert.deepEqual(series.errorsPerSecond, { "403": [2, 1] });
  assert.deepEqual(series.t, [1000, 2000]);
});

Deno.test("ChannelActivity counts pushes per minute over a sliding window and forgets idle channels", () => {
  let now = 60_000 * 100;
  const activity = new ChannelActivity(() => now);
  for (let i = 0; i < 6; i++) activity.push("a");
  assert.equal(activity.perMinute("a"), 6);
  now += 90_000; // half way into the next minute: half of the previous minute still counts
  assert.equal(activity.perMinute("a"), 3);
  assert.deepEqual([...activity.takeChanged().keys()], ["a"]);
  assert.deepEqual([...activity.takeChanged().keys()], []);
  now += 120_000;
  assert.equal(activity.perMinute("a"), 0);
  assert.deepEqual(activity.sweep(), ["a"]);
});
