// @ts-check
// @ts-self-types="./webhook.d.ts"
/**
 * Checking a webhook delivery on the receiving backend: `X-Pushserver-Signature` is
 * `sha256=<lowercase hex HMAC-SHA256(WEBHOOK_SECRET, raw body)>`. WebCrypto only (Deno, Node ≥ 18,
 * browsers, workers); no dependencies.
 */

const HEADER = /^sha256=([0-9a-fA-F]{64})$/;

/**
 * Whether `signatureHeader` is the signature of `rawBody` under `secret`. The comparison is
 * WebCrypto's HMAC verify, which takes the same time wherever the bytes differ. Pass the body
 * exactly as received (before any JSON parsing).
 * @param {string} secret
 * @param {string | Uint8Array | ArrayBuffer} rawBody
 * @param {string | null | undefined} signatureHeader
 * @returns {Promise<boolean>}
 */
export async function verifyWebhook(secret, rawBody, signatureHeader) {
  if (typeof secret !== "string" || secret === "") {
    throw new TypeError("verifyWebhook needs the WEBHOOK_SECRET as a non-empty string");
  }
  const match = typeof signatureHeader === "string" ? HEADER.exec(signatureHeader.trim()) : null;
  if (match === null) return false;
  const hex = /** @type {string} */ (match[1]);
  const signature = new Uint8Array(32);
  for (let i = 0; i < 32; i++) signature[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  /** @type {Uint8Array<ArrayBuffer>} */
  const body = typeof rawBody === "string"
    ? new TextEncoder().encode(rawBody)
    : new Uint8Array(rawBody instanceof Uint8Array ? rawBody : new Uint8Array(rawBody));
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  return await crypto.subtle.verify("HMAC", key, signature, body);
}

/** The header that carries the signature (lower-cased, as `Headers.get` accepts either). */
export const SIGNATURE_HEADER = "x-pushserver-signature";
