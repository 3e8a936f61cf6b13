/** A throwaway `redis-server` on a free loopback port, without persistence unless asked. */
import { Redis, type RedisOptions } from "ioredis";
import { closeRedis } from "../../src/cluster/redis.ts";
import { freePort } from "../client/_support.ts";
import { parserPoolSettled } from "./_parser_pool.ts";

/**
 * A test-side connection: no retries and no reconnects, so a connection whose server is killed
 * simply ends (a reconnecting one would leave ioredis timers behind).
 */
function testClient(url: string): Redis {
  const options: RedisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  };
  const client = new Redis(url, options);
  client.on("error", () => {});
  return client;
}

/** A redis-server child process that can be stopped and started again on the same port. */
export class RedisServer implements AsyncDisposable {
  #port: number;
  readonly dir: string;
  #child: Deno.ChildProcess | undefined;
  #client: Redis | undefined;

  private constructor(port: number, dir: string) {
    this.#port = port;
    this.dir = dir;
  }

  /**
   * Starts a server (`--save "" --appendonly no`) and waits until it answers. Test files run in
   * parallel, so the free port can be taken before redis-server binds it: then (the server
   * exits, or another one answers) it tries again on another port.
   */
  static async start(): Promise<RedisServer> {
    const server = new RedisServer(freePort(), await Deno.makeTempDir({ prefix: "redis-" }));
    for (let attempt = 1;; attempt++) {
      try {
        await server.start();
        return server;
      } catch (error) {
        await server.stop();
        if (attempt === 5) {
          await Deno.remove(server.dir, { recursive: true }).catch(() => {});
          throw error;
        }
        server.#port = freePort();
      }
    }
  }

  /** The port it listens on. */
  get port(): number {
    return this.#port;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the process (again); with a dump from {@link stop}`({ save: true })` it loads it. */
  async start(): Promise<void> {
    this.#child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        this.dir,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let attempt = 0;; attempt++) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
        conn.close();
        break;
      } catch (error) {
        if (attempt > 100) throw error;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    // Accepting connections can precede loading the dump: wait until it answers commands.
    for (let attempt = 0;; attempt++) {
      try {
        if ((await this.call("PING")) === "PONG") break;
      } catch (error) {
        if (attempt > 100) throw error;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    // The one answering is ours (not another test's server that took the port first).
    const [, dir] = await this.call("CONFIG", "GET", "dir") as [string, string];
    if (dir !== await Deno.realPath(this.dir)) {
      throw new Error(`port ${this.port} is another redis-server's (dir ${dir})`);
    }
  }

  /** Runs one command on a test-side connection. */
  async call(command: string, ...args: (string | number)[]): Promise<unknown> {
    this.#client ??= testClient(this.url);
    if (this.#client.status === "wait") await this.#client.connect();
    return await this.#client.call(command, ...args);
  }

  /** Freezes (SIGSTOP) or resumes (SIGCONT) the process: a Redis that no longer answers. */
  freeze(frozen: boolean): void {
    this.#child?.kill(frozen ? "SIGSTOP" : "SIGCONT");
  }

  /** Kills the process (the next start is empty); with `save`, it dumps its data for the next start. */
  async stop(options: { save?: boolean } = {}): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    if (this.#client !== undefined) await closeRedis(this.#client);
    this.#client = undefined;
    if (options.save) {
      const admin = testClient(this.url);
      await admin.connect();
      await admin.call("SHUTDOWN", "SAVE").catch(() => {});
      await closeRedis(admin);
      await child.status;
    } else {
      try {
        child.kill("SIGKILL");
      } catch {
        // It exited already (e.g. it could not bind its port).
      }
      await child.status;
      // Without persistence a killed server restarts empty, whatever an earlier save left.
      await Deno.remove(`${this.dir}/dump.rdb`).catch(() => {});
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    // Every cluster test ends here: let ioredis's parser clear its own pool timer first.
    await parserPoolSettled();
  }
}

/** Polls `check` every 50 ms until it returns true, failing after `ms`. */
export async function eventually(
  ms: number,
  what: string,
  check: () => Promise<boolean> | boolean,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
