import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { loadSubscriberTokens } from "../../src/channels/subscriber_token_config.ts";

Deno.test("JWT_SECRET shorter than 32 bytes stops the start, naming it (never echoing it)", () => {
  assert.throws(
    () => loadConfig({ JWT_SECRET: "short-secret" }),
    (error: unknown) =>
      error instanceof ConfigError && /^JWT_SECRET.*32 bytes/.test(error.message) &&
      !error.message.includes("short-secret"),
  );
  const config = loadConfig({ JWT_SECRET: "x".repeat(32), JWT_AUDIENCE: " push " });
  assert.equal(config.jwtSecret, "x".repeat(32));
  assert.equal(config.jwtAudience, "push");
  assert.equal(config.jwtPublicKeysPath, undefined);
});

Deno.test("JWT_PUBLIC_KEYS: an unreadable or unusable file stops the start, naming it", async () => {
  const now = () => 0;
  await assert.rejects(
    loadSubscriberTokens({
      jwtSecret: undefined,
      jwtAudience: undefined,
      jwtPublicKeysPath: "/nonexistent/keys.pem",
    }, now),
    (error: unknown) =>
      error instanceof ConfigError && /^JWT_PUBLIC_KEYS: cannot read/.test(error.message),
  );
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "not a key");
    await assert.rejects(
      loadSubscriberTokens({
        jwtSecret: undefined,
        jwtAudience: undefined,
        jwtPublicKeysPath: file,
      }, now),
      (error: unknown) =>
        error instanceof ConfigError && /^JWT_PUBLIC_KEYS: .*no PEM/.test(error.message),
    );
  } finally {
    await Deno.remove(file);
  }
  assert.equal(
    await loadSubscriberTokens(
      { jwtSecret: undefined, jwtAudience: undefined, jwtPublicKeysPath: undefined },
      now,
    ),
    undefined,
  );
});
