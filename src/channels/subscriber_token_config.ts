/** Builds the subscriber-token verifier from the configuration, reading `JWT_PUBLIC_KEYS`. */
import { type Config, ConfigError } from "../config.ts";
import { type SubscriberTokens, subscriberTokens } from "./subscriber_tokens.ts";

/**
 * The verifier for `JWT_SECRET` / `JWT_PUBLIC_KEYS` / `JWT_AUDIENCE`, or `undefined` when
 * neither key setting is present. A key file that cannot be read or used stops the start with
 * a {@link ConfigError} naming `JWT_PUBLIC_KEYS`.
 */
export async function loadSubscriberTokens(
  config: Pick<Config, "jwtSecret" | "jwtPublicKeysPath" | "jwtAudience">,
  now: () => number,
): Promise<SubscriberTokens | undefined> {
  let publicKeys: string | undefined;
  const path = config.jwtPublicKeysPath;
  if (path !== undefined) {
    try {
      publicKeys = await Deno.readTextFile(path);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConfigError(`JWT_PUBLIC_KEYS: cannot read ${path}: ${reason}`);
    }
  }
  try {
    return await subscriberTokens({
      secret: config.jwtSecret,
      publicKeys,
      audience: config.jwtAudience,
      now,
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`JWT_PUBLIC_KEYS: ${path}: ${reason}`);
  }
}
