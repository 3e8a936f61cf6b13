/** main.ts as a real subprocess: spawn on free ports, read its JSON log lines, signal it. */

import { checkFetches, Watch } from "../_contract.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** One parsed stdout line of the server. */
// deno-lint-ignore no-explicit-any -- log lines are arbitrary JSON
export type LogLine = Record<string, any>;

/** A running `deno run main.ts` child process. */
export class ServerProcess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  readonly lines: LogLine[] = [];
  wsPort = 0;
  httpPort = 0;
  readonly #waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  readonly #ended = Promise.withResolvers<void>();
  readonly #pump: Promise<void>;
  /** Checks what the tests receive from it against the API description. */
  #watch: Watch | undefined;

  private constructor(child: Deno.ChildProcess) {
    this.child = child;
    this.#pump = this.#read();
  }

  /**
   * Spawns the server with `env` (ports 0, 127.0.0.1, cost 4) and waits for its listening line.
   * `command` defaults to `deno run -A main.ts`; the compile test passes the built binary.
   */
  static async spawn(
    env: Record<string, string> = {},
    command: readonly string[] = [Deno.execPath(), "run", "-A", MAIN],
  ): Promise<ServerProcess> {
    const [program, ...args] = command;
    const child = new Deno.Command(program!, {
      args,
      env: {
        HOST: "127.0.0.1",
        PORT_WS: "0",
        PORT_HTTP: "0",
        DB_PATH: ":memory:",
        BCRYPT_COST: "4",
        LOG_LEVEL: "info",
        ...env,
      },
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const server = new ServerProcess(child);
    const listening = await server.waitFor((l) => /ws=\S+:\d+ http=\S+:\d+/.test(l.msg ?? ""));
    const match = /ws=\S+:(\d+) http=\S+:(\d+)/.exec(listening.msg)!;
    server.wsPort = Number(match[1]);
    server.httpPort = Number(match[2]);
    checkFetches();
    server.#watch = new Watch({
      http: `127.0.0.1:${server.httpPort}`,
      ws: `127.0.0.1:${server.wsPort}`,
    });
    return server;
  }

  /** The publisher base URL. */
  get httpUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** The subscriber base URL. */
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.wsPort}`;
  }

  /** Resolves with the first log line (past or future) that matches; rejects if the process ends first. */
  waitFor(match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    const found = this.lines.find(match);
    if (found !== undefined) return Promise.resolve(found);
    const { promise, resolve, reject } = Promise.withResolvers<LogLine>();
    const timer = setTimeout(
      () => reject(new Error(`no matching log line in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const waiter = {
      match,
      resolve: (line: LogLine) => {
        clearTimeout(timer);
        resolve(line);
      },
    };
    this.#waiters.push(waiter);
    this.#ended.promise.then(() => {
      clearTimeout(timer);
      reject(new Error("the server's output ended before a matching log line"));
    });
    return promise;
  }

  /** Sends a signal. */
  kill(signal: Deno.Signal): void {
    this.child.kill(signal);
  }

  /** Waits for exit; returns the exit code (or -1 with the signal) and the time it took. */
  async exit(): Promise<Deno.CommandStatus> {
    const status = await this.child.status;
    await this.#pump;
    return status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await this.child.status;
    await this.#pump;
    this.#watch?.end();
  }

  async #read(): Promise<void> {
    let buffered = "";
    try {
      for await (const chunk of this.child.stdout.pipeThrough(new TextDecoderStream())) {
        buffered += chunk;
        let newline;
        while ((newline = buffered.indexOf("\n")) >= 0) {
          const text = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          let line: LogLine;
          try {
            line = JSON.parse(text);
          } catch {
            line = { msg: text, unparsed: true };
          }
          this.lines.push(line);
          for (const waiter of this.#waiters.filter((w) => w.match(line))) {
            this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      }
    } finally {
      this.#ended.resolve();
    }
  }
}
