// @ts-check
// @ts-self-types="./subscriber_token.d.ts"
/**
 * Minting subscriber tokens (JWT) for a backend: the token a client presents with `SUBSCRIBE`
 * on a private channel instead of waiting for `/channel/authorize`. Signing is `jose`'s; this
 * module only fixes the claims the server reads (`channels`, `exp`, optional `aud`, `nbf`).
 *
 * A separate module from publisher.js, which has no dependencies and is served to browsers:
 * tokens are signed where the key is, on a backend.
 */
import { importPKCS8, SignJWT } from "jose";

/**
 * @typedef {import("./subscriber_token.d.ts").MintTokenOptions} MintTokenOptions
 */

/**
 * Signs a token letting its holder subscribe to `channels` (an entry ending in `*` names every
 * channel with that prefix) for `ttlSeconds`.
 * @param {MintTokenOptions} options
 * @returns {Promise<string>}
 */
export async function mintSubscriberToken(options) {
  const { channels, ttlSeconds } = options;
  if (
    !Array.isArray(channels) || channels.length === 0 ||
    channels.some((c) => typeof c !== "string" || c === "")
  ) {
    throw new TypeError("mintSubscriberToken needs channels: a non-empty array of channel names");
  }
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new TypeError("mintSubscriberToken needs ttlSeconds: a whole number of seconds ≥ 1");
  }
  const nowS = Math.floor((options.now?.() ?? Date.now()) / 1000);
  const jwt = new SignJWT({ channels: [...channels] }).setIssuedAt(nowS).setExpirationTime(
    nowS + ttlSeconds,
  );
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
  if ("secret" in options && options.secret !== undefined) {
    const secret = new TextEncoder().encode(options.secret);
    if (secret.length < 32) throw new TypeError("an HS256 secret needs at least 32 bytes");
    return await jwt.setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(secret);
  }
  if ("privateKey" in options && options.privateKey !== undefined) {
    const alg = options.alg ?? "ES256";
    const key = typeof options.privateKey === "string"
      ? await importPKCS8(options.privateKey, alg)
      : options.privateKey;
    const header = options.keyId === undefined
      ? { alg, typ: "JWT" }
      : { alg, typ: "JWT", kid: options.keyId };
    return await jwt.setProtectedHeader(header).sign(key);
  }
  throw new TypeError("mintSubscriberToken needs a secret (HS256) or a privateKey (RS256/ES256)");
}
