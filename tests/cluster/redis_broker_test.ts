import assert from "node:assert/strict";
import { decodePush, encodePush } from "../../src/cluster/redis_broker.ts";
import { decodeEntry, encodeEntry } from "../../src/cluster/redis_store.ts";

Deno.test("push payloads and history entries survive their encodings", () => {
  const message = "line 1\nline 2: with colons, commas";
  assert.deepEqual(decodePush(encodePush(message, [])), { message, recipients: [] });
  const uuids = ["0b7c2f4e-1d2a-4c3b-9e8f-7a6b5c4d3e2f", "1b7c2f4e-1d2a-4c3b-9e8f-7a6b5c4d3e2f"];
  assert.deepEqual(decodePush(encodePush(message, uuids)), { message, recipients: uuids });
  // The form the publish script builds for a stored push.
  assert.deepEqual(decodePush(`H42:0123abcd\n${message}`), {
    message,
    recipients: [],
    offset: 42,
    epoch: "0123abcd",
  });
  assert.equal(decodePush("garbage"), undefined);
  const entry = { offset: 7, createdAt: 1_700_000_000_123, message };
  assert.deepEqual(decodeEntry(encodeEntry(entry)), entry);
});
