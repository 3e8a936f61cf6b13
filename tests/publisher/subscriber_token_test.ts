import assert from "node:assert/strict";
import { decodeJwt, decodeProtectedHeader, exportPKCS8, exportSPKI, generateKeyPair } from "jose";
import { mintSubscriberToken } from "../../src/publisher/subscriber_token.js";
import { subscriberTokens } from "../../src/channels/subscriber_tokens.ts";

const SECRET = "sdk-secret-of-at-least-32-bytes-long!!";
const now = () => 1_800_000_000_000;

Deno.test("mintSubscriberToken() with a secret: HS256, the claims the server reads", async () => {
  const token = await mintSubscriberToken({
    secret: SECRET,
    channels: ["news", "room:*"],
    ttlSeconds: 600,
    audience: "push",
    now,
  });
  assert.equal(decodeProtectedHeader(token).alg, "HS256");
  const claims = decodeJwt(token);
  assert.deepEqual(claims.channels, ["news", "room:*"]);
  assert.equal(claims.exp, 1_800_000_600);
  assert.equal(claims.aud, "push");
  const verifier = (await subscriberTokens({ secret: SECRET, audience: "push", now }))!;
  assert.equal((await verifier.verify(token, "room:7")).ok, true);
  assert.equal((await verifier.verify(token, "other")).ok, false);
});

Deno.test("mintSubscriberToken() with a PEM private key: ES256 and RS256", async () => {
  for (const alg of ["ES256", "RS256"] as const) {
    const pair = await generateKeyPair(alg, { extractable: true });
    const token = await mintSubscriberToken({
      privateKey: await exportPKCS8(pair.privateKey),
      alg,
      channels: ["news"],
      ttlSeconds: 60,
      now,
    });
    assert.equal(decodeProtectedHeader(token).alg, alg);
    const verifier = (await subscriberTokens({
      publicKeys: await exportSPKI(pair.publicKey),
      now,
    }))!;
    assert.equal((await verifier.verify(token, "news")).ok, true, alg);
  }
});

Deno.test("mintSubscriberToken() refuses what the server would", async () => {
  await assert.rejects(
    mintSubscriberToken({ secret: "short", channels: ["a"], ttlSeconds: 1 }),
    /32 bytes/,
  );
  await assert.rejects(
    mintSubscriberToken({ secret: SECRET, channels: [], ttlSeconds: 1 }),
    /channels/,
  );
  await assert.rejects(
    mintSubscriberToken({ secret: SECRET, channels: ["a"], ttlSeconds: 0 }),
    /ttlSeconds/,
  );
});
