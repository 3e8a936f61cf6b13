import assert from "node:assert/strict";
import { PushError } from "../../src/errors.ts";
import {
  clientAck,
  errorEnvelope,
  errorResponse,
  pushHead,
  pushMessage,
  pushTail,
  serverAck,
} from "../../src/protocol/outbound.ts";
import { exceedsUtf8Bytes, utf8ByteLength } from "../../src/protocol/fields.ts";

Deno.test("errorEnvelope() emits the documented ERROR shape", () => {
  assert.deepEqual(
    JSON.parse(errorEnvelope(new PushError("token_invalid", "Channel token is invalid"))),
    {
      messageType: "ERROR",
      code: 403,
      message: "Forbidden",
      data: { errorDetails: "Channel token is invalid" },
    },
  );
  assert.deepEqual(JSON.parse(errorEnvelope(new PushError("internal", null))).data, {
    errorDetails: null,
  });
  assert.equal(JSON.parse(errorEnvelope(new PushError("frame_bad_json", "x"))).message, "Bad JSON");
  assert.equal(
    JSON.parse(errorEnvelope(new PushError("unknown_channel", "x"))).message,
    "Not found",
  );
});

Deno.test("serverAck() and clientAck() emit the documented shapes", () => {
  assert.deepEqual(JSON.parse(serverAck("Created", "n", "tok")), {
    messageType: "SERVER_ACK",
    code: 200,
    message: "Created",
    data: { channel: "n", channelToken: "tok" },
  });
  assert.deepEqual(JSON.parse(clientAck("Subscribed", { uuid: "u", channels: ["a", "b"] })), {
    messageType: "CLIENT_ACK",
    code: 200,
    message: "Subscribed",
    data: { uuid: "u", subscribedChannels: ["a", "b"] },
  });
});

Deno.test("pushHead() + pushTail() is exactly the documented CLIENT_PUSH frame", () => {
  const channels = ['quote"d', "频道"];
  const frame = pushHead({ uuid: "u", channels }) +
    pushTail(pushMessage("频道", 'line\n"break" \u2028'));
  assert.deepEqual(JSON.parse(frame), {
    messageType: "CLIENT_PUSH",
    code: 200,
    message: "Push Message",
    data: {
      uuid: "u",
      subscribedChannels: channels,
      pushMessage: { channel: "频道", message: 'line\n"break" \u2028' },
    },
  });
});

Deno.test("utf8ByteLength() matches TextEncoder, lone surrogates included", () => {
  const encoder = new TextEncoder();
  for (const text of ["", "abc", "é", "€", "😀", "a😀b€é", "\ud800", "\udc00x", "\ud800\ud800"]) {
    assert.equal(utf8ByteLength(text), encoder.encode(text).byteLength, JSON.stringify(text));
    const size = encoder.encode(text).byteLength;
    assert.equal(exceedsUtf8Bytes(text, size), false);
    if (size > 0) assert.equal(exceedsUtf8Bytes(text, size - 1), true);
  }
});

Deno.test("errorResponse(): the catalog status, JSON content type, the ERROR envelope and extra headers", async () => {
  const response = errorResponse(
    new PushError("unavailable", "The server is shutting down"),
    { connection: "close" },
  );
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(response.headers.get("connection"), "close");
  assert.deepEqual(await response.json(), {
    messageType: "ERROR",
    code: 503,
    message: "Service Unavailable",
    data: { errorDetails: "The server is shutting down" },
  });
});
