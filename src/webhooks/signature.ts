/**
 * `X-Pushserver-Signature: sha256=<lowercase hex HMAC-SHA256(secret, raw body)>` with WebCrypto.
 */

import { WEBHOOK_SIGNATURE_HEADER } from "../protocol/webhooks.ts";

/** The header every delivery carries. */
export const SIGNATURE_HEADER = WEBHOOK_SIGNATURE_HEADER;

/** An HMAC-SHA256 signer for one secret (the key is imported once). */
export class WebhookSigner {
  readonly #key: Promise<CryptoKey>;

  /** Imports `secret` (UTF-8) as an HMAC-SHA256 key; the secret is not kept otherwise. */
  constructor(secret: string) {
    this.#key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
  }

  /** The header value for `body`: `sha256=` and 64 lowercase hex digits. */
  async sign(body: string): Promise<string> {
    const mac = await crypto.subtle.sign("HMAC", await this.#key, new TextEncoder().encode(body));
    return `sha256=${toHex(new Uint8Array(mac))}`;
  }
}

function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
