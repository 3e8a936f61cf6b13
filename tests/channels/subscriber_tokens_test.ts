import assert from "node:assert/strict";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import {
  coversChannel,
  importPublicKeys,
  JWT_LEEWAY_S,
  subscriberTokens,
} from "../../src/channels/subscriber_tokens.ts";

const SECRET = "a-secret-of-at-least-32-bytes-for-hs256!";
const NOW_S = 1_800_000_000;
const now = () => NOW_S * 1000;

function hs256(claims: Record<string, unknown>, secret = SECRET): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(secret));
}

const valid = { channels: ["news"], exp: NOW_S + 60 };

Deno.test("coversChannel() matches exact names and `*` prefixes only", () => {
  assert.equal(coversChannel(["news"], "news"), true);
  assert.equal(coversChannel(["news"], "news2"), false);
  assert.equal(coversChannel(["user:42:*"], "user:42:inbox"), true);
  assert.equal(coversChannel(["user:42:*"], "user:43:inbox"), false);
  assert.equal(coversChannel(["*"], "anything"), true);
  assert.equal(coversChannel("news", "news"), false);
  assert.equal(coversChannel(undefined, "news"), false);
  assert.equal(coversChannel([42, "x"], "news"), false);
});

Deno.test("HS256 tokens: accepted with the channel, refused with the reason", async (t) => {
  const tokens = (await subscriberTokens({ secret: SECRET, now }))!;

  await t.step("a valid token ends its subscription at exp + leeway", async () => {
    const verdict = await tokens.verify(await hs256(valid), "news");
    assert.deepEqual(verdict, { ok: true, endsAtMs: (NOW_S + 60 + JWT_LEEWAY_S) * 1000 });
  });
  await t.step("`*` suffix grants a prefix", async () => {
    const token = await hs256({ channels: ["room:*"], exp: NOW_S + 60 });
    assert.equal((await tokens.verify(token, "room:1")).ok, true);
    assert.deepEqual(await tokens.verify(token, "news"), {
      ok: false,
      reason: "channel not in token",
    });
  });
  await t.step("expired past the 30 s leeway; accepted within it", async () => {
    assert.deepEqual(await tokens.verify(await hs256({ ...valid, exp: NOW_S - 31 }), "news"), {
      ok: false,
      reason: "expired",
    });
    assert.equal(
      (await tokens.verify(await hs256({ ...valid, exp: NOW_S - 20 }), "news")).ok,
      true,
    );
  });
  await t.step("nbf in the future (past the leeway)", async () => {
    const verdict = await tokens.verify(await hs256({ ...valid, nbf: NOW_S + 120 }), "news");
    assert.deepEqual(verdict, { ok: false, reason: "not yet valid" });
    const near = await tokens.verify(await hs256({ ...valid, nbf: NOW_S + 10 }), "news");
    assert.equal(near.ok, true);
  });
  await t.step("wrong signature", async () => {
    const token = await hs256(valid, "another-secret-of-at-least-32-bytes!!");
    assert.deepEqual(await tokens.verify(token, "news"), { ok: false, reason: "bad signature" });
  });
  await t.step("alg: none", async () => {
    const token = new UnsecuredJWT(valid).encode();
    assert.deepEqual(await tokens.verify(token, "news"), { ok: false, reason: "bad signature" });
  });
  await t.step("not a JWT at all", async () => {
    assert.deepEqual(await tokens.verify("nope", "news"), { ok: false, reason: "bad signature" });
  });
  await t.step("no exp claim", async () => {
    assert.deepEqual(await tokens.verify(await hs256({ channels: ["news"] }), "news"), {
      ok: false,
      reason: "no exp claim",
    });
  });
  await t.step("a channels claim that is not an array", async () => {
    const token = await hs256({ channels: "news", exp: NOW_S + 60 });
    assert.deepEqual(await tokens.verify(token, "news"), {
      ok: false,
      reason: "channel not in token",
    });
  });
});

Deno.test("JWT_AUDIENCE: aud must name it", async () => {
  const tokens = (await subscriberTokens({ secret: SECRET, audience: "push", now }))!;
  assert.equal((await tokens.verify(await hs256({ ...valid, aud: "push" }), "news")).ok, true);
  assert.deepEqual(await tokens.verify(await hs256({ ...valid, aud: "other" }), "news"), {
    ok: false,
    reason: "wrong audience",
  });
  assert.deepEqual(await tokens.verify(await hs256(valid), "news"), {
    ok: false,
    reason: "wrong audience",
  });
});

Deno.test("ES256 and RS256 public keys from PEM, ES256 from a JWKS", async (t) => {
  const ec = await generateKeyPair("ES256", { extractable: true });
  const rsa = await generateKeyPair("RS256", { extractable: true });
  const pem = `${await exportSPKI(ec.publicKey)}\n${await exportSPKI(rsa.publicKey)}`;
  const fromPem = (await subscriberTokens({ publicKeys: pem, now }))!;
  const es = await new SignJWT(valid).setProtectedHeader({ alg: "ES256" }).sign(ec.privateKey);
  const rs = await new SignJWT(valid).setProtectedHeader({ alg: "RS256" }).sign(rsa.privateKey);

  await t.step("both algorithms verify against the PEM file's keys", async () => {
    assert.equal((await fromPem.verify(es, "news")).ok, true);
    assert.equal((await fromPem.verify(rs, "news")).ok, true);
  });
  await t.step("a JWKS file works the same", async () => {
    const jwk = { ...(await exportJWK(ec.publicKey)), kid: "k1", alg: "ES256" };
    const fromJwks =
      (await subscriberTokens({ publicKeys: JSON.stringify({ keys: [jwk] }), now }))!;
    const kid = await new SignJWT(valid).setProtectedHeader({ alg: "ES256", kid: "k1" })
      .sign(ec.privateKey);
    assert.equal((await fromJwks.verify(kid, "news")).ok, true);
    const other = await generateKeyPair("ES256");
    const forged = await new SignJWT(valid).setProtectedHeader({ alg: "ES256", kid: "k1" })
      .sign(other.privateKey);
    assert.deepEqual(await fromJwks.verify(forged, "news"), {
      ok: false,
      reason: "bad signature",
    });
  });
  await t.step("a token signed by another key", async () => {
    const other = await generateKeyPair("ES256");
    const forged = await new SignJWT(valid).setProtectedHeader({ alg: "ES256" })
      .sign(other.privateKey);
    assert.deepEqual(await fromPem.verify(forged, "news"), { ok: false, reason: "bad signature" });
  });
  await t.step("HS256 signed with the public key as its secret (algorithm confusion)", async () => {
    const confused = await hs256(valid, pem);
    assert.deepEqual(await fromPem.verify(confused, "news"), {
      ok: false,
      reason: "bad signature",
    });
    // With a JWT_SECRET configured too, HS256 is checked against that secret only.
    const both = (await subscriberTokens({ secret: SECRET, publicKeys: pem, now }))!;
    assert.deepEqual(await both.verify(confused, "news"), { ok: false, reason: "bad signature" });
    assert.equal((await both.verify(es, "news")).ok, true);
  });
  await t.step("an HS256 token is refused when only public keys are configured", async () => {
    assert.deepEqual(await fromPem.verify(await hs256(valid), "news"), {
      ok: false,
      reason: "bad signature",
    });
  });
});

Deno.test("importPublicKeys() explains a file it cannot use", async () => {
  await assert.rejects(importPublicKeys("hello"), /no PEM PUBLIC KEY block/);
  await assert.rejects(importPublicKeys("{nope"), /neither PEM nor valid JSON/);
  await assert.rejects(importPublicKeys('{"keys":[]}'), /non-empty "keys"/);
});

Deno.test("no key configured: no verifier", async () => {
  assert.equal(await subscriberTokens({ now }), undefined);
});
