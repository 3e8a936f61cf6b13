/**
 * One test body, two backends (STYLE.md "One core, two backends"; issue 17): {@link e2e}
 * registers the same test once per backend, as `[e2e][single] …` and `[e2e][cluster] …`.
 *
 * - `single`: one in-process server (SQLite in memory unless the test sets DB_PATH).
 * - `cluster`: a throwaway redis-server on a free loopback port (one per deployment, so tests
 *   are independent and parallel-safe without key prefixes) and TWO in-process nodes on it.
 *   Publishers talk to node A, subscribers to node B: every push, delete, grant and revoke a
 *   test makes crosses nodes through Redis.
 *
 * A behaviour that differs in cluster mode is a bug. Until it is fixed, the step or test is
 * marked with a named entry of {@link KNOWN_CLUSTER_GAPS} and shows up as ignored in the cluster
 * run — it never passes silently.
 */
import type { ServerOverrides } from "../../src/server.ts";
import { startTestServer, type TestServer } from "../_helpers.ts";
import { RedisServer } from "../cluster/_redis.ts";

/** The backends every e2e test runs against. */
export const BACKENDS = ["single", "cluster"] as const;

/** A backend's name, as it appears in test names. */
export type BackendName = typeof BACKENDS[number];

/**
 * Where cluster mode is known to answer differently from single mode (bugs, not features):
 * each entry says what differs. A test or step marked with one is ignored in cluster runs.
 */
export const KNOWN_CLUSTER_GAPS = {} as const satisfies Record<string, string>;

/**
 * `RUN_CLUSTER_GAPS=1 deno task test:cluster` runs the marked tests and steps too: the way to
 * see a gap close after a fix in src/ (then delete its entry).
 */
const RUN_GAPS = Deno.env.get("RUN_CLUSTER_GAPS") === "1";

/** The name of a known cluster difference. */
export type ClusterGap = keyof typeof KNOWN_CLUSTER_GAPS;

/** A running deployment under test: one node, or two nodes sharing one Redis. */
export interface Deployment extends AsyncDisposable {
  readonly backend: BackendName;
  /** Publisher base URL (node A's HTTP listener). */
  readonly httpUrl: string;
  /** Subscriber URL (node B's WebSocket listener in cluster mode: pushes cross nodes). */
  readonly wsUrl: string;
  /** Port of {@link httpUrl}. */
  readonly httpPort: number;
  /** Port of {@link wsUrl}. */
  readonly wsPort: number;
  /** The node publishers reach (A): {@link httpUrl} is its HTTP listener. */
  readonly publisherNode: TestServer;
  /**
   * The node subscribers reach (B in cluster mode): {@link wsUrl} is its WebSocket listener,
   * and its own /metrics and /sysadmin count their connections and subscriptions.
   */
  readonly subscriberNode: TestServer;
  /** Every node: `[server]` in single mode, `[a, b]` in cluster mode. */
  readonly nodes: readonly TestServer[];
  /** The cluster's redis-server (cluster mode only). */
  readonly redis: RedisServer | undefined;
  /**
   * Stops every node and starts new ones on the same storage: the same DB_PATH (single mode;
   * set a file path) or the same Redis (cluster mode). URLs change: read them again.
   */
  restart(): Promise<void>;
  /** Stops every node (then the redis-server); a second call is a no-op. */
  shutdown(): Promise<void>;
}

/** What a test body gets: the backend's name and a way to start deployments on it. */
export interface Backend {
  readonly name: BackendName;
  /** Starts a deployment; `env` and `overrides` apply to every node. */
  start(env?: Record<string, string>, overrides?: ServerOverrides): Promise<Deployment>;
  /**
   * Environment for a server run as a subprocess (main.ts) on this backend: nothing in single
   * mode (the test sets DB_PATH), REDIS_URL of a fresh redis-server in cluster mode. Dispose it
   * after the processes.
   */
  processEnv(): Promise<ProcessEnv>;
  /**
   * A step definition for `t.step()`, ignored in cluster runs because of the named
   * {@link KNOWN_CLUSTER_GAPS} entry.
   */
  gap(
    gap: ClusterGap,
    name: string,
    fn: (t: Deno.TestContext) => Promise<void>,
  ): Deno.TestStepDefinition;
}

/** What {@link Backend.processEnv} returns. */
export interface ProcessEnv extends AsyncDisposable {
  readonly env: Readonly<Record<string, string>>;
}

/** Options of {@link e2e}. */
export interface E2eOptions {
  /** Run on these backends only; say why in a comment where it is used. */
  readonly only?: BackendName;
  /** The whole test is a known cluster difference (ignored in cluster runs). */
  readonly clusterGap?: ClusterGap;
  /** Passed to Deno.test (e.g. when a subprocess or a platform is missing). */
  readonly ignore?: boolean;
}

/** Registers `fn` once per backend, named `[e2e][<backend>] <name>`. */
export function e2e(
  name: string,
  fn: (t: Deno.TestContext, backend: Backend) => Promise<void>,
  options: E2eOptions = {},
): void {
  for (const backendName of BACKENDS) {
    if (options.only !== undefined && options.only !== backendName) continue;
    const backend = makeBackend(backendName);
    const gap = backendName === "cluster" ? options.clusterGap : undefined;
    Deno.test({
      name: `[e2e][${backendName}] ${name}` + (gap ? ` (known cluster gap: ${gap})` : ""),
      ignore: options.ignore === true || (gap !== undefined && !RUN_GAPS),
      fn: (t) => fn(t, backend),
    });
  }
}

function makeBackend(name: BackendName): Backend {
  return {
    name,
    start: (env = {}, overrides = {}) =>
      name === "single" ? startSingle(env, overrides) : startCluster(env, overrides),
    processEnv: async () => {
      if (name === "single") return { env: {}, [Symbol.asyncDispose]: () => Promise.resolve() };
      const redis = await RedisServer.start();
      return {
        env: { REDIS_URL: redis.url },
        [Symbol.asyncDispose]: () => redis[Symbol.asyncDispose](),
      };
    },
    gap: (gap, stepName, fn) =>
      name === "cluster"
        ? { name: `${stepName} (known cluster gap: ${gap})`, ignore: !RUN_GAPS, fn }
        : { name: stepName, fn },
  };
}

class NodesDeployment implements Deployment {
  readonly backend: BackendName;
  readonly redis: RedisServer | undefined;
  #nodes: TestServer[];
  readonly #boot: () => Promise<TestServer[]>;
  #stopped = false;

  constructor(
    backend: BackendName,
    nodes: TestServer[],
    boot: () => Promise<TestServer[]>,
    redis: RedisServer | undefined,
  ) {
    this.backend = backend;
    this.#nodes = nodes;
    this.#boot = boot;
    this.redis = redis;
  }

  get nodes(): readonly TestServer[] {
    return this.#nodes;
  }
  get publisherNode(): TestServer {
    return this.#nodes[0]!;
  }
  get subscriberNode(): TestServer {
    return this.#nodes[this.#nodes.length - 1]!;
  }
  get httpUrl(): string {
    return this.publisherNode.httpUrl;
  }
  get wsUrl(): string {
    return this.subscriberNode.wsUrl;
  }
  get httpPort(): number {
    return this.publisherNode.httpPort;
  }
  get wsPort(): number {
    return this.subscriberNode.wsPort;
  }

  async restart(): Promise<void> {
    await stopAll(this.#nodes);
    this.#nodes = await this.#boot();
  }

  async shutdown(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      await stopAll(this.#nodes);
    } finally {
      await this.redis?.[Symbol.asyncDispose]();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}

/** Stops nodes one after the other (each shutdown is idempotent); the first error is thrown. */
async function stopAll(nodes: readonly TestServer[]): Promise<void> {
  const results = [];
  for (const node of nodes) results.push(await node.shutdown().then(() => undefined, (e) => e));
  const failed = results.find((result) => result !== undefined);
  if (failed !== undefined) throw failed;
}

async function startSingle(
  env: Record<string, string>,
  overrides: ServerOverrides,
): Promise<Deployment> {
  const boot = async () => [await startTestServer(env, overrides)];
  return new NodesDeployment("single", await boot(), boot, undefined);
}

async function startCluster(
  env: Record<string, string>,
  overrides: ServerOverrides,
): Promise<Deployment> {
  const redis = await RedisServer.start();
  const nodeEnv = { ...env, REDIS_URL: redis.url };
  const boot = async () => {
    const a = await startTestServer(nodeEnv, overrides);
    try {
      return [a, await startTestServer(nodeEnv, overrides)];
    } catch (error) {
      await a.shutdown();
      throw error;
    }
  };
  try {
    return new NodesDeployment("cluster", await boot(), boot, redis);
  } catch (error) {
    await redis[Symbol.asyncDispose]();
    throw error;
  }
}
