import assert from "node:assert/strict";
import {
  MAX_INFO_BYTES,
  presenceAck,
  presenceFrame,
  presenceInfo,
  presenceServerAck,
} from "../../src/protocol/presence.ts";

Deno.test("presenceInfo(): absent/null = {}, objects up to 1,024 bytes serialized, else 400", () => {
  assert.deepEqual(presenceInfo(undefined), { ok: true, value: "{}" });
  assert.deepEqual(presenceInfo(null), { ok: true, value: "{}" });
  assert.deepEqual(presenceInfo({ user: "ann" }), { ok: true, value: '{"user":"ann"}' });
  const fits = { s: "é".repeat((MAX_INFO_BYTES - 8) / 2) }; // {"s":""} is 8 bytes, é is 2
  assert.equal(presenceInfo(fits).ok, true);
  for (
    const bad of [[], "ann", 1, true, { s: "é".repeat((MAX_INFO_BYTES - 8) / 2 + 1) }, {
      s: "\ud800",
    }]
  ) {
    const parsed = presenceInfo(bad);
    assert.equal(parsed.ok, false, JSON.stringify(bad));
    if (!parsed.ok) {
      assert.equal(parsed.error.status, 400);
      assert.match(parsed.error.details ?? "", /^data\.info: /);
    }
  }
});

Deno.test("presence frames embed info as given and list truncated only when true", () => {
  const member = { uuid: "5f1d2e3c-4b5a-4697-8877-665544332211", info: '{"a":1}' };
  assert.deepEqual(JSON.parse(presenceFrame("Left", "r", member)), {
    messageType: "CLIENT_PRESENCE",
    code: 200,
    message: "Left",
    data: { channel: "r", uuid: member.uuid, info: { a: 1 } },
  });
  const snapshot = { count: 2, members: [member], truncated: true };
  assert.deepEqual(JSON.parse(presenceAck("r", snapshot)).data, {
    channel: "r",
    count: 2,
    members: [{ uuid: member.uuid, info: { a: 1 } }],
    truncated: true,
  });
  assert.deepEqual(
    JSON.parse(presenceServerAck("r", { count: 0, members: [], truncated: false })),
    {
      messageType: "SERVER_ACK",
      code: 200,
      message: "Presence",
      data: { channel: "r", channelToken: null, count: 0, members: [] },
    },
  );
});
