import assert from "node:assert/strict";
import { channelName, describeIssue, isChannelName } from "../../src/protocol/fields.ts";

Deno.test("channelName and isChannelName refuse lone surrogates and accept surrogate pairs", () => {
  for (const name of ["sur\ud800", "\udc00", "a\udc00\ud800b", "\ud83d"]) {
    assert.equal(isChannelName(name), false, JSON.stringify(name));
    const parsed = channelName.safeParse(name);
    assert.ok(!parsed.success, JSON.stringify(name));
    assert.equal(
      describeIssue(parsed.error),
      "body must be well-formed Unicode (no lone surrogate)",
    );
  }
  for (const name of ["sur\ud83d\ude00", "sur\ufffd", "频道"]) {
    assert.equal(isChannelName(name), true, name);
    assert.equal(channelName.safeParse(name).success, true, name);
  }
});

Deno.test("hasLoneSurrogate() finds a lone surrogate in a string or anywhere inside a JSON value", async () => {
  const { hasLoneSurrogate, pushMessage } = await import("../../src/protocol/fields.ts");
  for (
    const bad of ["\ud800", "a\udc00", ["ok", ["\ud83d"]], { a: { b: "x\udfff" } }, {
      "k\ud800": 1,
    }]
  ) {
    assert.equal(hasLoneSurrogate(bad), true, JSON.stringify(bad));
  }
  for (
    const good of ["", "\ud83d\ude00", "\ufffd", 1, null, true, ["a", { b: ["c"] }], { "😀": "😀" }]
  ) {
    assert.equal(hasLoneSurrogate(good), false, JSON.stringify(good));
  }
  // 100,000 levels of nesting (a 200 KB body) is walked without overflowing the stack.
  let deep: unknown = "\ud800";
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.equal(hasLoneSurrogate(deep), true);
  const parsed = pushMessage.safeParse("a\ud800");
  assert.ok(!parsed.success);
  assert.equal(describeIssue(parsed.error), "body must be well-formed Unicode (no lone surrogate)");
});
