/** `token NAME... --ttl SECONDS`: mints a subscriber token (JWT) for private channels. */
import { mintSubscriberToken } from "../publisher/subscriber_token.js";
import type { CommandContext } from "./_args.ts";
import { EXIT, UsageError } from "./_exit.ts";

/** Signs with `--key FILE` (ES256 or RS256) or with `$JWT_SECRET` (HS256). */
export async function tokenCommand(
  rest: readonly string[],
  { values, env, print }: CommandContext,
): Promise<number> {
  if (rest.length === 0) throw new UsageError("expected: token NAME... --ttl SECONDS");
  const ttlSeconds = Number(values.ttl);
  if (values.ttl === undefined || !/^\d+$/.test(values.ttl) || ttlSeconds < 1) {
    throw new UsageError(
      `--ttl must be a whole number of seconds from 1, got "${values.ttl}"`,
    );
  }
  const alg = values.alg ?? "ES256";
  if (alg !== "ES256" && alg !== "RS256") {
    throw new UsageError(`--alg must be ES256 or RS256, got "${alg}"`);
  }
  const base = {
    channels: rest,
    ttlSeconds,
    ...(values.audience === undefined ? {} : { audience: values.audience }),
  };
  let minted: string;
  if (values.key !== undefined) {
    const privateKey = await Deno.readTextFile(values.key);
    minted = await mintSubscriberToken({ ...base, privateKey, alg });
  } else {
    const secret = env.JWT_SECRET;
    if (!secret) throw new UsageError("token needs $JWT_SECRET (HS256) or --key FILE");
    minted = await mintSubscriberToken({ ...base, secret });
  }
  print(minted, { token: minted, channels: rest, ttlSeconds });
  return EXIT.ok;
}
