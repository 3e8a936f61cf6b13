import assert from "node:assert/strict";
import { parseInbound } from "../../src/protocol/inbound.ts";

Deno.test("parseInbound() accepts SUBSCRIBE and UNSUBSCRIBE, with or without uuid", () => {
  for (const action of ["SUBSCRIBE", "UNSUBSCRIBE"] as const) {
    const result = parseInbound(
      JSON.stringify({ messageType: "CLIENT_ACTION", action, data: { channel: "c" } }),
    );
    assert.ok(result.ok);
    assert.equal(result.value.action, action);
    assert.equal(result.value.uuid, undefined);
  }
  const withUuid = parseInbound(
    JSON.stringify({
      messageType: "CLIENT_ACTION",
      action: "SUBSCRIBE",
      data: { channel: "c" },
      uuid: "u",
    }),
  );
  assert.ok(withUuid.ok);
  assert.equal(withUuid.value.uuid, "u");
  const nullUuid = parseInbound(
    JSON.stringify({
      messageType: "CLIENT_ACTION",
      action: "SUBSCRIBE",
      data: { channel: "c" },
      uuid: null,
    }),
  );
  assert.ok(nullUuid.ok, "a null uuid means none was given");
});

Deno.test("parseInbound() maps non-JSON to Bad JSON and wrong shapes to Invalid message", () => {
  const badJson = parseInbound("{nope");
  assert.ok(!badJson.ok);
  assert.equal(badJson.error.status, 400);
  assert.equal(badJson.error.code, "frame_bad_json");
  for (
    const text of [
      "null",
      "[]",
      '"SUBSCRIBE"',
      '{"messageType":"CLIENT_ACTION","action":"JOIN","data":{"channel":"c"}}',
      '{"messageType":"CLIENT_ACTION","action":"SUBSCRIBE","data":{}}',
      '{"messageType":"CLIENT_ACTION","action":"SUBSCRIBE","data":{"channel":"c"},"uuid":1}',
      '{"action":"SUBSCRIBE","data":{"channel":"c"}}',
    ]
  ) {
    const result = parseInbound(text);
    assert.ok(!result.ok, text);
    assert.equal(result.error.code, "invalid_frame", text);
    assert.equal(typeof result.error.details, "string");
  }
});
