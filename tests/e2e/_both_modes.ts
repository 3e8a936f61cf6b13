/**
 * Runs one test body against a single-node server and against a two-node cluster (one
 * throwaway redis-server). In cluster mode `publisher` and `subscriber` are different nodes,
 * so every push the body checks crosses Redis; in single-node mode both are the one server.
 * Named like the shared fixture's tests (`[e2e][single]`, `[e2e][cluster]`, see _backends.ts), so
 * `deno task test:cluster` picks the cluster runs; kept for its per-node overrides (a frozen node).
 */
import type { ServerOverrides } from "../../src/server.ts";
import { startTestServer, type TestServer } from "../_helpers.ts";
import { RedisServer } from "../cluster/_redis.ts";

/** The servers a test body talks to. */
export interface Servers {
  readonly mode: "single" | "cluster";
  /** Where the body sends publisher requests. */
  readonly publisher: TestServer;
  /** Where the body connects subscribers (another node in cluster mode). */
  readonly subscriber: TestServer;
}

/** Options of {@link bothModes}. */
export interface BothModesOptions {
  /** Extra environment for every server. */
  readonly env?: Record<string, string>;
  /** Overrides for the subscriber node of a cluster (e.g. a hook that freezes it). */
  readonly subscriberOverrides?: (mode: "single" | "cluster") => ServerOverrides;
}

/** Registers `[e2e][single] name` and `[e2e][cluster] name` with the same body. */
export function bothModes(
  name: string,
  body: (t: Deno.TestContext, servers: Servers) => Promise<void>,
  options: BothModesOptions = {},
): void {
  const env = options.env ?? {};
  Deno.test(`[e2e][single] ${name}`, async (t) => {
    await using server = await startTestServer(
      env,
      options.subscriberOverrides?.("single") ?? {},
    );
    await body(t, { mode: "single", publisher: server, subscriber: server });
  });
  Deno.test(`[e2e][cluster] ${name}`, async (t) => {
    await using redis = await RedisServer.start();
    await using publisher = await startTestServer({ ...env, REDIS_URL: redis.url });
    await using subscriber = await startTestServer(
      { ...env, REDIS_URL: redis.url },
      options.subscriberOverrides?.("cluster") ?? {},
    );
    await body(t, { mode: "cluster", publisher, subscriber });
  });
}
