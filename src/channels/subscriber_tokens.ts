/**
 * Subscriber tokens (JWT, v1.2): a backend signs a token naming the private channels a client
 * may subscribe to, and the client presents it with `SUBSCRIBE`. Signatures are checked by
 * `jose`; this module only picks the key for the token's algorithm and words the refusal.
 */
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  errors,
  importSPKI,
  type JSONWebKeySet,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";

/** Seconds of clock skew allowed on `exp` and `nbf`. */
export const JWT_LEEWAY_S = 30;

/** Fewest bytes of `JWT_SECRET` (HS256 needs a key at least as long as its hash). */
export const MIN_JWT_SECRET_BYTES = 32;

/** Why a token was refused, as `errorDetails` names it. */
export type TokenRefusal =
  | "expired"
  | "not yet valid"
  | "wrong audience"
  | "bad signature"
  | "channel not in token"
  | "no exp claim";

/** A token's verdict for one channel. */
export type TokenVerdict =
  | {
    readonly ok: true;
    /** When the subscription it allows ends: `exp` plus the leeway, in ms since the epoch. */
    readonly endsAtMs: number;
  }
  | { readonly ok: false; readonly reason: TokenRefusal };

/** Checks subscriber tokens against the configured keys. */
export interface SubscriberTokens {
  /** Whether `token` lets its holder subscribe to `channel` now. Never throws for a bad token. */
  verify(token: string, channel: string): Promise<TokenVerdict>;
}

/** Where the keys come from. */
export interface SubscriberTokenOptions {
  /** `JWT_SECRET` (HS256). */
  readonly secret?: string | undefined;
  /** The contents of the `JWT_PUBLIC_KEYS` file: PEM public keys, or a JWKS (RS256, ES256). */
  readonly publicKeys?: string | undefined;
  /** `JWT_AUDIENCE`: when set, `aud` must name it. */
  readonly audience?: string | undefined;
  readonly now: () => number;
}

type Asymmetric = "RS256" | "ES256";
const ASYMMETRIC: readonly Asymmetric[] = ["RS256", "ES256"];
type PublicKey = Awaited<ReturnType<typeof importSPKI>>;

/** The keys of a `JWT_PUBLIC_KEYS` file, by algorithm, or a JWKS key resolver. */
type PublicKeys =
  | { readonly kind: "pem"; readonly keys: readonly { alg: Asymmetric; key: PublicKey }[] }
  | { readonly kind: "jwks"; readonly resolve: JWTVerifyGetKey };

/**
 * Imports the public keys of a `JWT_PUBLIC_KEYS` file (PEM `PUBLIC KEY` blocks, or a JWKS JSON
 * document). Throws an Error saying what is wrong with the file (never its contents).
 */
export async function importPublicKeys(text: string): Promise<PublicKeys> {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    let jwks: unknown;
    try {
      jwks = JSON.parse(trimmed);
    } catch {
      throw new Error("the file is neither PEM nor valid JSON");
    }
    const keys = (jwks as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys) || keys.length === 0) {
      throw new Error('a JWKS file needs a non-empty "keys" array');
    }
    return { kind: "jwks", resolve: createLocalJWKSet(jwks as JSONWebKeySet) };
  }
  const blocks = trimmed.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g);
  if (blocks === null) throw new Error("the file holds no PEM PUBLIC KEY block and is not a JWKS");
  const keys: { alg: Asymmetric; key: PublicKey }[] = [];
  for (const [i, pem] of blocks.entries()) {
    const imported = await importAny(pem);
    if (imported === undefined) {
      throw new Error(`PEM key ${i + 1} is neither an RSA (RS256) nor a P-256 (ES256) public key`);
    }
    keys.push(imported);
  }
  return { kind: "pem", keys };
}

async function importAny(pem: string): Promise<{ alg: Asymmetric; key: PublicKey } | undefined> {
  for (const alg of ASYMMETRIC) {
    try {
      return { alg, key: await importSPKI(pem, alg) };
    } catch {
      // Not a key of this algorithm: try the next.
    }
  }
  return undefined;
}

/** Builds the verifier; `undefined` when neither a secret nor public keys are configured. */
export async function subscriberTokens(
  options: SubscriberTokenOptions,
): Promise<SubscriberTokens | undefined> {
  const secret = options.secret === undefined
    ? undefined
    : new TextEncoder().encode(options.secret);
  const publicKeys = options.publicKeys === undefined
    ? undefined
    : await importPublicKeys(options.publicKeys);
  if (secret === undefined && publicKeys === undefined) return undefined;
  const { audience, now } = options;

  async function check(token: string, alg: string): Promise<TokenVerdictOrClaims> {
    // Each key accepts only its own algorithm: an HS256 token "signed" with a public key as its
    // secret is checked against JWT_SECRET (or refused), never against the public key.
    const verifyOptions = {
      algorithms: [alg],
      clockTolerance: JWT_LEEWAY_S,
      currentDate: new Date(now()),
      requiredClaims: ["exp"],
      ...(audience === undefined ? {} : { audience }),
    };
    if (alg === "HS256" && secret !== undefined) {
      return (await jwtVerify(token, secret, verifyOptions)).payload;
    }
    if (publicKeys === undefined || !(ASYMMETRIC as readonly string[]).includes(alg)) {
      return { ok: false, reason: "bad signature" };
    }
    if (publicKeys.kind === "jwks") {
      return (await jwtVerify(token, publicKeys.resolve, verifyOptions)).payload;
    }
    let failure: unknown = new errors.JWSSignatureVerificationFailed();
    for (const { alg: keyAlg, key } of publicKeys.keys) {
      if (keyAlg !== alg) continue;
      try {
        return (await jwtVerify(token, key, verifyOptions)).payload;
      } catch (error) {
        failure = error;
        if (!(error instanceof errors.JWSSignatureVerificationFailed)) break;
      }
    }
    throw failure;
  }

  return {
    async verify(token, channel) {
      let alg: string | undefined;
      try {
        alg = decodeProtectedHeader(token).alg;
      } catch {
        return { ok: false, reason: "bad signature" };
      }
      if (alg === undefined) return { ok: false, reason: "bad signature" };
      let result: TokenVerdictOrClaims;
      try {
        result = await check(token, alg);
      } catch (error) {
        return { ok: false, reason: refusalOf(error) };
      }
      if ("ok" in result) return result as TokenVerdict;
      if (!coversChannel(result.channels, channel)) {
        return { ok: false, reason: "channel not in token" };
      }
      return { ok: true, endsAtMs: ((result.exp as number) + JWT_LEEWAY_S) * 1000 };
    },
  };
}

type TokenVerdictOrClaims = TokenVerdict | { readonly [claim: string]: unknown; exp?: number };

/** Whether a `channels` claim names `channel` (an entry ending in `*` matches a prefix). */
export function coversChannel(claim: unknown, channel: string): boolean {
  if (!Array.isArray(claim)) return false;
  return claim.some((entry) =>
    typeof entry === "string" &&
    (entry.endsWith("*") ? channel.startsWith(entry.slice(0, -1)) : entry === channel)
  );
}

function refusalOf(error: unknown): TokenRefusal {
  if (error instanceof errors.JWTExpired) return "expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "nbf") return "not yet valid";
    if (error.claim === "aud") return "wrong audience";
    if (error.claim === "exp") return error.reason === "missing" ? "no exp claim" : "expired";
  }
  return "bad signature";
}
