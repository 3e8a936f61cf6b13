/** Options shared by both ways of signing. */
interface MintTokenBase {
  /** Channels the token allows; an entry ending in `*` matches every channel with that prefix. */
  channels: readonly string[];
  /** Lifetime in seconds (`exp` = now + ttlSeconds). */
  ttlSeconds: number;
  /** `aud`: must equal the server's `JWT_AUDIENCE` when that is set. */
  audience?: string;
  /** `nbf`, in seconds since the epoch. */
  notBefore?: number;
  /** The clock, in ms since the epoch (default `Date.now`). */
  now?: () => number;
}

/** Sign with the server's `JWT_SECRET` (HS256), or with a private key (RS256/ES256). */
export type MintTokenOptions =
  | (MintTokenBase & { secret: string })
  | (MintTokenBase & {
    /** A PKCS#8 PEM private key, or a CryptoKey. */
    privateKey: string | CryptoKey;
    /** Default `ES256`. */
    alg?: "RS256" | "ES256";
    /** `kid` header, to pick the key from a JWKS. */
    keyId?: string;
  });

/** Signs a subscriber token (JWT) for `channels`, valid for `ttlSeconds`. */
export function mintSubscriberToken(options: MintTokenOptions): Promise<string>;
