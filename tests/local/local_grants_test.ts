import assert from "node:assert/strict";
import type { Channel } from "../../src/channels/store.ts";
import { PushError } from "../../src/errors.ts";
import type { ChannelEvent } from "../../src/hub/broker.ts";
import { Hub } from "../../src/hub/hub.ts";
import { LocalGrants } from "../../src/local/local_grants.ts";

function channel(name: string, epoch = "e1"): Channel {
  return { name, tokenHash: "h", createdAt: 0, epoch, private: true, history: null };
}

function world(maxGrants = 2) {
  const hub = new Hub({ maxSubscriptionsPerConnection: 100 });
  const events: [string, ChannelEvent][] = [];
  const grants = new LocalGrants({
    hub,
    handler: { onPublication() {}, onChannelEvent: (name, event) => events.push([name, event]) },
    maxGrants,
  });
  const ids = ["a", "b"].map((id) => {
    const uuid = `0000000${id}-0000-4000-8000-000000000000`;
    hub.add({ id: uuid, compact: false, send: () => true, close() {} });
    return uuid;
  }) as [string, string];
  return { hub, grants, events, ids };
}

Deno.test("grants: per connection and channel epoch, bounded, gone with the connection or the channel", async () => {
  const { grants, ids: [a, b] } = world();
  assert.equal(await grants.grant(a, channel("p")), true);
  assert.equal(await grants.grant("ffffffff-0000-4000-8000-000000000000", channel("p")), false);
  assert.equal(grants.isGranted(a, channel("p")), true);
  assert.equal(
    grants.isGranted(a, channel("p", "e2")),
    false,
    "a re-created channel needs a new grant",
  );
  assert.equal(grants.isGranted(b, channel("p")), false);
  await grants.grant(a, channel("q"));
  await assert.rejects(
    grants.grant(a, channel("r")),
    (e) => e instanceof PushError && e.status === 429,
  );
  grants.forgetChannel("p");
  assert.equal(grants.isGranted(a, channel("p")), false);
  grants.connection(a, false);
  assert.equal(grants.isGranted(a, channel("q")), false);
  assert.equal(await grants.grant(a, channel("r")), true, "the limit counts held grants only");
});

Deno.test("grants.revoke() takes the grant back and announces it (the hub unsubscribes)", async () => {
  const { grants, events, ids: [a] } = world();
  await grants.grant(a, channel("p"));
  await grants.revoke(a, channel("p"));
  assert.equal(grants.isGranted(a, channel("p")), false);
  assert.deepEqual(events, [["p", { type: "revoked", uuid: a }]]);
});
