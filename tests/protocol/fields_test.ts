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
