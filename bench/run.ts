/**
 * `deno task bench [--quick] [--only=fanout,latency,cluster,...] [--no-write]`
 *
 * Runs every scenario against pushserver and against a baseline server in the same invocation,
 * each server and the load generator in fresh subprocesses pinned to different cores (when
 * `taskset` exists) with a raised `ulimit -n`, and prints one table of ratios. A full run also
 * rewrites the results section of bench/README.md. A scenario that errors is run again (up to
 * {@link ATTEMPTS} times); the run exits 1 only when the bench itself is broken (every attempt
 * failed with a defect, see `_outcome.ts`) and then prints why. A busy machine (a slow start, a
 * reset connection, a timeout) is reported, and a missed target is reported, never gated on.
 */
import { isDiagnosticLine, windowDiagnostics } from "./_diagnostics.ts";
import { verdict } from "./_outcome.ts";
import type { Result, ServerKind, Spec } from "./generator.ts";

const ROOT = new URL("../", import.meta.url);
const BENCH = new URL("./", import.meta.url);
const README = new URL("README.md", BENCH);
const MARK_START = "<!-- bench:results:start -->";
const MARK_END = "<!-- bench:results:end -->";
/**
 * Generator CPU (in cores) above which a run measures the generator, not the server, unless the
 * server used at least {@link SERVER_SATURATED}: then the server was the limit (it could not go
 * faster), and the generator, short of a full core, was keeping up.
 */
const GENERATOR_SATURATED = 0.9;
const SERVER_SATURATED = 0.95;
const NOFILE = 65536;
/** Alternating rounds per throughput scenario in a full run (best round counts). */
const ROUNDS = 3;
/** Tries per scenario before an error is judged (see `_outcome.ts`). */
const ATTEMPTS = 3;
/** How long a server may take to listen; a loaded machine or a cold cache can be slow. */
const START_TIMEOUT_MS = 90_000;
/** A generator still running this long after its own windows is killed (it hung). */
const GENERATOR_SLACK_MS = 120_000;

type ScenarioName = Spec["scenario"];
type ServerProgram = "pushserver" | "cluster" | "baseline_broadcast" | "baseline_hono";

/** A server, and how the bench channel and its subscribers are set up on it. */
interface Setup {
  readonly program: ServerProgram;
  /** The bench channel keeps history (pushserver or cluster only). */
  readonly history?: { readonly size: number; readonly ttlSeconds: number };
  /** Share (0–1) of subscribers that ask for compact frames (pushserver or cluster only). */
  readonly compactShare?: number;
  /** publish (v1.2): pushes per `/push/batch` request instead of one `/push` each. */
  readonly batch?: number;
  /** publish (v1.2): every push asks for a receipt. */
  readonly receipt?: boolean;
}

/** History settings of the bench channel in the history rows (recovery needs `missed` ≤ size). */
const HISTORY = { size: 1000, ttlSeconds: 3600 };
const PUSHSERVER: Setup = { program: "pushserver" };

interface Sizes {
  clients: number;
  publishers: number;
  warmupMs: number;
  durationMs: number;
  rate: number;
  recipients: number;
  /** recovery: pushes missed by each resubscribing client (`clients` of them, in turn). */
  missed?: number;
}

const FULL: Record<ScenarioName, Sizes> = {
  fanout: {
    clients: 1000,
    // Enough pushes in flight that a push waiting for its commit (history) leaves the server
    // others to fan out; at most 32 are not yet fully delivered either way.
    publishers: 16,
    warmupMs: 2000,
    durationMs: 8000,
    rate: 0,
    recipients: 0,
  },
  latency: {
    clients: 1000,
    publishers: 0,
    warmupMs: 1000,
    durationMs: 10_000,
    rate: 100,
    recipients: 0,
  },
  idle: { clients: 10_000, publishers: 0, warmupMs: 2000, durationMs: 0, rate: 0, recipients: 0 },
  publish: { clients: 1, publishers: 64, warmupMs: 2000, durationMs: 8000, rate: 0, recipients: 0 },
  targeted: {
    clients: 10_000,
    publishers: 16,
    warmupMs: 1000,
    durationMs: 5000,
    rate: 0,
    recipients: 10,
  },
  churn: { clients: 50, publishers: 0, warmupMs: 1000, durationMs: 5000, rate: 0, recipients: 0 },
  recovery: {
    clients: 20,
    publishers: 0,
    warmupMs: 0,
    durationMs: 0,
    rate: 0,
    recipients: 0,
    missed: 1000,
  },
};

/** About a minute in all: same shapes, shorter windows, fewer idle sockets and recoveries. */
const QUICK: Record<ScenarioName, Sizes> = {
  fanout: { ...FULL.fanout, warmupMs: 300, durationMs: 1000 },
  latency: { ...FULL.latency, warmupMs: 300, durationMs: 1500 },
  idle: { ...FULL.idle, clients: 2000, warmupMs: 300 },
  publish: { ...FULL.publish, warmupMs: 300, durationMs: 1000 },
  targeted: { ...FULL.targeted, clients: 2000, warmupMs: 200, durationMs: 1000 },
  churn: { ...FULL.churn, warmupMs: 200, durationMs: 1000 },
  recovery: { ...FULL.recovery, clients: 5 },
};

interface Placement {
  server: string[];
  generator: string[];
  description: string;
}

/** Server on core 0, generator on the others, when there are two cores and `taskset`. */
async function placement(): Promise<Placement> {
  const cores = navigator.hardwareConcurrency;
  let taskset = false;
  try {
    taskset = (await new Deno.Command("taskset", { args: ["-V"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    taskset = false;
  }
  if (!taskset || cores < 2) {
    return { server: [], generator: [], description: "not pinned (no taskset or one core)" };
  }
  const rest = cores === 2 ? "1" : `1-${cores - 1}`;
  return {
    server: ["taskset", "-c", "0"],
    generator: ["taskset", "-c", rest],
    description: `server on core 0, generator on core ${rest} (taskset)`,
  };
}

/** Spawns `argv` with a raised open-file limit (bash's ulimit, then exec). */
function spawn(argv: string[], env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command("bash", {
    // Raise the soft limit as far as the hard limit allows (a container may cap it).
    args: [
      "-c",
      `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`,
      "bash",
      ...argv,
    ],
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Collects a stream's lines (the last 50 kept) and lets callers wait for one that matches. */
class Lines {
  readonly tail: string[] = [];
  /** Every line `keep` accepted, however many. */
  readonly kept: string[] = [];
  readonly #keep: (line: string) => boolean;
  #waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>, keep: (line: string) => boolean = () => false) {
    this.#keep = keep;
    this.done = this.#read(stream);
  }

  async #read(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) this.#push(line);
    }
    if (pending !== "") this.#push(pending);
  }

  #push(line: string): void {
    if (this.#keep(line)) {
      this.kept.push(line);
      return;
    }
    this.tail.push(line);
    if (this.tail.length > 50) this.tail.shift();
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.test(line)) return true;
      waiter.resolve(line);
      return false;
    });
  }

  waitFor(test: (line: string) => boolean, ms: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), ms);
      this.#waiters.push({
        test,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }
}

interface RunningServer {
  program: ServerProgram;
  pid: number;
  host: string;
  wsPort: number;
  httpPort: number;
  /** Cluster mode: the Redis port (for INFO commandstats). */
  redisPort?: number;
  /** How the server ended, if it stopped on its own; `undefined` while it runs. */
  exitStatus(): Deno.CommandStatus | undefined;
  /** The last lines the server printed. */
  output(): string;
  /** Diagnostic lines (loop monitor, `--trace-gc`), complete once stopped. */
  readonly diagnostics: readonly string[];
  stop(): Promise<void>;
}

const HOST = "127.0.0.1";
/** `--profile=DIR`: pushserver runs with `--cpu-prof` and writes its profiles there. */
const PROFILE_DIR = Deno.args.find((a) => a.startsWith("--profile="))?.slice(10);

/** A port that was free a moment ago (the server binds it right after). */
function freePort(): number {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Resolves once something accepts TCP connections on `port`, or rejects at `deadline`. */
async function waitForPort(port: number, deadline: number, exited: () => boolean): Promise<void> {
  for (;;) {
    try {
      (await Deno.connect({ hostname: HOST, port })).close();
      return;
    } catch (error) {
      if (exited() || performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * Starts a server on two ports chosen here. With LOG_LEVEL=warn pushserver does not print its
 * (info) listening line, so readiness is "both ports accept connections". With `diagnose`, it
 * runs with the event-loop monitor preloaded (`_loop_monitor.ts`) and V8's `--trace-gc`.
 */
async function startServer(
  program: ServerProgram,
  pin: Placement,
  diagnose = false,
): Promise<RunningServer> {
  if (program === "cluster") return await startCluster(pin, diagnose);
  return await startProcess(program, pin, diagnose);
}

/**
 * Cluster mode: a redis-server and two pushserver nodes sharing it. Subscribers connect to node B
 * (pinned where the single-node server runs, and measured as "the server": its CPU, its memory,
 * its loop delay and GC with `diagnose`); publishers post to node A. Redis and node A run on the
 * generator's core(s): per push they do one HTTP request and one EVALSHA, while B does the 1,000
 * deliveries.
 */
async function startCluster(pin: Placement, diagnose: boolean): Promise<RunningServer> {
  const redisPort = freePort();
  const redis = spawn([
    ...pin.generator,
    "redis-server",
    "--port",
    String(redisPort),
    "--bind",
    HOST,
    "--save",
    "",
    "--appendonly",
    "no",
  ], Deno.env.toObject());
  const redisOut = new Lines(redis.stdout);
  const redisErr = new Lines(redis.stderr);
  let redisExited: Deno.CommandStatus | undefined;
  redis.status.then((status) => redisExited = status);
  const stopRedis = async () => {
    try {
      redis.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await redis.status;
    await Promise.all([redisOut.done, redisErr.done]);
  };
  const env = { REDIS_URL: `redis://${HOST}:${redisPort}` };
  let a: RunningServer | undefined;
  try {
    try {
      await waitForPort(redisPort, performance.now() + 10_000, () => redisExited !== undefined);
    } catch {
      const output = [...redisOut.tail, ...redisErr.tail].slice(-10).join("\n");
      throw new Error(
        redisExited === undefined
          ? `redis-server did not start within 10 s: ${output}`
          : `redis-server exited before listening (${describeExit(redisExited)}): ${output}`,
      );
    }
    // Only B is signalled by the generator, so only B runs the loop monitor.
    a = await startProcess("pushserver", { ...pin, server: pin.generator }, false, env);
    const b = await startProcess("pushserver", pin, diagnose, env);
    const publisher = a;
    const nodes = [["node A", publisher], ["node B", b]] as const;
    return {
      program: "cluster",
      pid: b.pid,
      host: HOST,
      wsPort: b.wsPort,
      httpPort: publisher.httpPort,
      redisPort,
      exitStatus: () => redisExited ?? publisher.exitStatus() ?? b.exitStatus(),
      output: () =>
        [
          ...nodes.flatMap(([name, node]) =>
            node.exitStatus() === undefined ? [] : [`${name}: ${node.output()}`]
          ),
          ...(redisExited === undefined
            ? []
            : [`redis-server: ${[...redisOut.tail, ...redisErr.tail].slice(-10).join("\n")}`]),
        ].join("\n"),
      get diagnostics() {
        return b.diagnostics;
      },
      async stop() {
        await Promise.all([b.stop(), publisher.stop()]);
        await stopRedis();
      },
    };
  } catch (error) {
    await a?.stop();
    await stopRedis();
    throw error;
  }
}

async function startProcess(
  program: Exclude<ServerProgram, "cluster">,
  pin: Placement,
  diagnose: boolean,
  extraEnv: Record<string, string> = {},
): Promise<RunningServer> {
  const dir = await Deno.makeTempDir({ prefix: "pushserver-bench-" });
  const file = program === "pushserver" ? "main.ts" : `bench/${program}.ts`;
  const wsPort = freePort();
  const httpPort = program === "pushserver" ? freePort() : wsPort;
  const profile = PROFILE_DIR !== undefined && program === "pushserver"
    ? [`--cpu-prof`, `--cpu-prof-dir=${PROFILE_DIR}`]
    : [];
  const diagnostics = diagnose ? ["--preload=bench/_loop_monitor.ts", "--v8-flags=--trace-gc"] : [];
  const child = spawn([
    ...pin.server,
    Deno.execPath(),
    "run",
    "-A",
    ...profile,
    ...diagnostics,
    file,
  ], {
    ...Deno.env.toObject(),
    HOST,
    PORT_WS: String(wsPort),
    PORT_HTTP: String(httpPort),
    DB_PATH: `${dir}/bench.db`,
    LOG_LEVEL: "warn",
    BCRYPT_COST: "4",
    MAX_CONNECTIONS: "100000",
    ...extraEnv,
  });
  const stdout = new Lines(child.stdout, diagnose ? isDiagnosticLine : undefined);
  const stderr = new Lines(child.stderr, diagnose ? isDiagnosticLine : undefined);
  let exited: Deno.CommandStatus | undefined;
  child.status.then((status) => exited = status);
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    const killer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
    }, 12_000);
    await child.status;
    clearTimeout(killer);
    await Promise.all([stdout.done, stderr.done]);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    const deadline = performance.now() + START_TIMEOUT_MS;
    await waitForPort(wsPort, deadline, () => exited !== undefined);
    await waitForPort(httpPort, deadline, () => exited !== undefined);
  } catch {
    // Exiting before listening is a defect unless its output says why (a port taken meanwhile);
    // still running but not listening yet is a slow machine.
    const status = exited;
    await stop();
    const output = [...stdout.tail, ...stderr.tail].slice(-10).join("\n");
    throw new Error(
      status === undefined
        ? `${program} did not start within ${START_TIMEOUT_MS / 1000} s: ${output}`
        : `${program} exited before listening (${describeExit(status)}): ${output}`,
    );
  }
  return {
    program,
    pid: child.pid,
    host: HOST,
    wsPort,
    httpPort,
    exitStatus: () => exited,
    output: () => [...stdout.tail, ...stderr.tail].slice(-10).join("\n"),
    get diagnostics() {
      return [...stdout.kept, ...stderr.kept];
    },
    stop,
  };
}

async function createChannel(
  server: RunningServer,
  channel: string,
  history: Setup["history"],
): Promise<string> {
  const response = await fetch(`http://${server.host}:${server.httpPort}/channel/create`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      messageType: "SERVER_ACTION",
      action: "CREATE_CHANNEL",
      data: history === undefined ? { channel } : { channel, history },
    }),
  });
  const body = await response.json() as { data?: { channelToken?: string } };
  const token = body.data?.channelToken;
  if (response.status !== 200 || token === undefined) {
    throw new Error(`create channel answered ${response.status}: ${JSON.stringify(body)}`);
  }
  return token;
}

function describeExit(status: Deno.CommandStatus): string {
  return status.signal === null ? `exit code ${status.code}` : `killed by signal ${status.signal}`;
}

async function runGenerator(spec: Spec, pin: Placement): Promise<Result> {
  const child = spawn(
    [...pin.generator, Deno.execPath(), "run", "-A", "bench/generator.ts", JSON.stringify(spec)],
    Deno.env.toObject(),
  );
  const stdout = new Lines(child.stdout);
  const stderr = new Lines(child.stderr);
  const limitMs = spec.warmupMs + spec.durationMs + GENERATOR_SLACK_MS;
  let hung = false;
  const killer = setTimeout(() => {
    hung = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }, limitMs);
  const status = await child.status;
  clearTimeout(killer);
  await Promise.all([stdout.done, stderr.done]);
  const last = stdout.tail.filter((line) => line.startsWith("{")).at(-1);
  if (hung) {
    return failed(`generator timed out after ${limitMs / 1000} s and was killed`);
  }
  if (!status.success || last === undefined) {
    return failed(
      `generator failed (${describeExit(status)}): ${stderr.tail.slice(-5).join(" | ")}`,
    );
  }
  return JSON.parse(last) as Result;
}

/** pushserver_pushes_total of the node publishers post to. */
async function pushesTotal(server: RunningServer): Promise<number> {
  const text = await fetch(`http://${server.host}:${server.httpPort}/metrics`).then((r) =>
    r.text()
  );
  return Number(/^pushserver_pushes_total (\d+)$/m.exec(text)?.[1] ?? NaN);
}

async function redisCli(port: number, ...args: string[]): Promise<string> {
  const output = await new Deno.Command("redis-cli", {
    args: ["-h", HOST, "-p", String(port), ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) throw new Error(`redis-cli ${args.join(" ")} failed`);
  return new TextDecoder().decode(output.stdout);
}

/** `cmdstat_<name>:calls=N,...` lines → calls by command name. */
function parseCommandStats(info: string): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls[match[1]!] = Number(match[2]);
  }
  return calls;
}

/** A result that carries only an error. */
function failed(error: string): Result {
  return { metrics: {}, generatorCpu: 0, serverCpu: 0, errors: [error] };
}

/** Starts the setup's server, runs one scenario against it, stops it. */
async function measure(
  scenario: ScenarioName,
  setup: Setup,
  sizes: Sizes,
  pin: Placement,
): Promise<Result> {
  const { program } = setup;
  // The latency scenario also reports event-loop delay and GC pauses, for both servers.
  const diagnose = scenario === "latency";
  let server: RunningServer;
  try {
    server = await startServer(program, pin, diagnose);
  } catch (error) {
    return failed(String(error));
  }
  let result: Result;
  try {
    const kind: ServerKind = program === "pushserver" || program === "cluster"
      ? "pushserver"
      : "baseline";
    const channel = "bench";
    const token = kind === "pushserver" ? await createChannel(server, channel, setup.history) : "";
    const redisPort = server.redisPort;
    const pushesBefore = redisPort === undefined ? 0 : await pushesTotal(server);
    if (redisPort !== undefined) await redisCli(redisPort, "CONFIG", "RESETSTAT");
    result = await runGenerator({
      scenario,
      kind,
      host: server.host,
      wsPort: server.wsPort,
      httpPort: server.httpPort,
      serverPid: server.pid,
      channel,
      token,
      messageBytes: 100,
      // The raw broadcast baseline delivers each POST to a subscriber, like pushserver does.
      subscribe: program !== "baseline_hono",
      ...(setup.compactShare === undefined ? {} : { compactShare: setup.compactShare }),
      ...(setup.batch === undefined ? {} : { batch: setup.batch }),
      ...(setup.receipt === undefined ? {} : { receipt: setup.receipt }),
      loopMonitor: diagnose,
      ...sizes,
    }, pin);
    if (redisPort !== undefined && result.errors.length === 0) {
      const pushes = (await pushesTotal(server)) - pushesBefore;
      const stats = parseCommandStats(await redisCli(redisPort, "INFO", "commandstats"));
      const other = Object.entries(stats)
        .filter(([name]) => !["evalsha", "eval", "publish", "info", "config"].includes(name))
        .reduce((sum, [, calls]) => sum + calls, 0);
      Object.assign(result.metrics, {
        pushes,
        evalshaPerPush: ((stats.evalsha ?? 0) + (stats.eval ?? 0)) / pushes,
        publishPerPush: (stats.publish ?? 0) / pushes,
        otherRedisCalls: other,
      });
    }
  } catch (error) {
    result = failed(String(error));
  }
  const status = server.exitStatus();
  if (status !== undefined) {
    result = {
      ...result,
      errors: [
        ...result.errors,
        `${program} exited during the scenario (${describeExit(status)}): ${server.output()}`,
      ],
    };
  }
  await server.stop();
  const window = diagnose ? windowDiagnostics(server.diagnostics) : undefined;
  if (window !== undefined) result = { ...result, metrics: { ...result.metrics, ...window } };
  return result;
}

/** One table row. */
interface Row {
  scenario: string;
  pushserver: string;
  baseline: string;
  ratio: string;
  target: string;
  /** `error`: the bench is broken; `inconclusive`: every attempt hit a busy machine. */
  status: "pass" | "FAIL" | "info" | "generator-bound" | "inconclusive" | "error";
  /** Why the row is an error (empty otherwise). */
  errors: string[];
  /** The ratio per server CPU-second (throughput scenarios), robust to a noisy neighbour. */
  perCpu: string;
  cpu: string;
}

const fmt = (value: number | undefined, digits = 0): string =>
  value === undefined || Number.isNaN(value) ? "—" : value.toLocaleString("en-US", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });

function cpuNote(ps: Result, base: Result | undefined): string {
  const pct = (v: number) => `${Math.round(v * 100)}%`;
  const one = (r: Result) => `srv ${pct(r.serverCpu)} gen ${pct(r.generatorCpu)}`;
  return base === undefined ? one(ps) : `${one(ps)} / ${one(base)}`;
}

interface Check {
  scenario: ScenarioName;
  title: string;
  /** What is measured (default: pushserver, a plain channel, v1 clients). */
  subject?: Setup;
  /** What it is compared with, in the same run (a program, or a pushserver setup). */
  baseline: ServerProgram | Setup | undefined;
  /** Metrics the row reads that are no ratio: missing from pushserver's result, they are an error. */
  requires?: string[];
  /** A tagged row runs only when `--only=<tag>` names its tag, or without `--only`. */
  tag?: string;
  /**
   * Throughput metric (higher is better) for scenarios repeated in alternating rounds: the best
   * round of each server counts, and the ratio per server CPU-second is shown beside it.
   */
  throughput?: string;
  row(
    ps: Result,
    base: Result | undefined,
  ): Omit<Row, "cpu" | "status" | "ratio" | "perCpu" | "errors"> & {
    ratio: number | undefined;
    pass: boolean | undefined;
  };
}

/**
 * A throughput row: pushserver's `metric` against the baseline's, higher is better. `minRatio`
 * makes it a target; without it the row only reports.
 */
function throughputCheck(
  scenario: ScenarioName,
  metric: string,
  title: string,
  baseline: ServerProgram | Setup,
  minRatio?: number,
  subject?: Setup,
): Check {
  return {
    scenario,
    throughput: metric,
    title,
    ...(subject === undefined ? {} : { subject }),
    baseline,
    row(ps, base) {
      const ratio = ps.metrics[metric]! / base!.metrics[metric]!;
      return {
        scenario: title,
        pushserver: fmt(ps.metrics[metric]),
        baseline: fmt(base!.metrics[metric]),
        ratio,
        target: minRatio === undefined ? "report" : `≥ ${minRatio.toFixed(2)}`,
        pass: minRatio === undefined ? undefined : ratio >= minRatio && ps.metrics.lost === 0,
      };
    },
  };
}

/** Idle memory per connection: RSS growth over `clients` idle subscribed connections. */
function idleCheck(title: string, maxRatio: number, subject?: Setup): Check {
  return {
    scenario: "idle",
    title,
    ...(subject === undefined ? {} : { subject }),
    baseline: "baseline_broadcast",
    row(ps, base) {
      const ratio = ps.metrics.bytesPerConnection! / base!.metrics.bytesPerConnection!;
      const show = (r: Result) =>
        `${fmt(r.metrics.bytesPerConnection)} (${fmt(r.metrics.connections)} conns)`;
      return {
        scenario: this.title,
        pushserver: show(ps),
        baseline: show(base!),
        ratio,
        target: `≤ ${maxRatio.toFixed(2)}`,
        pass: ratio <= maxRatio,
      };
    },
  };
}

/** p50 / p99 / max, and the server's loop delay and GC pauses when they were measured. */
function showLatency(r: Result): string {
  return `${fmt(r.metrics.p50Ms, 1)} / ${fmt(r.metrics.p99Ms, 1)} / ${fmt(r.metrics.maxMs, 1)}` +
    (r.metrics.loopMaxMs === undefined ? "" : ` (loop delay max ${fmt(r.metrics.loopMaxMs, 1)}, ` +
      `GC ${fmt(r.metrics.gcCount)} pauses, max ${fmt(r.metrics.gcMaxMs, 1)})`);
}

const HISTORY_CHANNEL: Setup = { program: "pushserver", history: HISTORY };
const COMPACT_CLIENTS: Setup = { program: "pushserver", compactShare: 1 };
const HALF_COMPACT: Setup = { program: "pushserver", compactShare: 0.5 };
const CLUSTER: Setup = { program: "cluster" };
const BATCH_100: Setup = { program: "pushserver", batch: 100 };
const RECEIPTS: Setup = { program: "pushserver", receipt: true };

const CHECKS: Check[] = [
  throughputCheck(
    "fanout",
    "deliveriesPerS",
    "fan-out deliveries/s (1 ch × 1,000 subs, 100 B)",
    "baseline_broadcast",
    0.95,
  ),
  {
    scenario: "latency",
    title: "latency p50 / p99 / max ms (100 pushes/s × 1,000 subs)",
    baseline: "baseline_broadcast",
    row(ps, base) {
      const b = base!;
      const ratio = ps.metrics.p99Ms! / b.metrics.p99Ms!;
      return {
        scenario: this.title.replace("100 pushes/s", `${fmt(ps.metrics.rate)} pushes/s`),
        pushserver: showLatency(ps),
        baseline: showLatency(b),
        ratio,
        target: "p99 ≤ 1.20",
        pass: ratio <= 1.2 && ps.metrics.lost === 0,
      };
    },
  },
  idleCheck("idle memory, RSS bytes/connection", 1.05),
  throughputCheck(
    "publish",
    "requestsPerS",
    "publish POST /push req/s (64 publishers; baseline: bare Hono)",
    "baseline_hono",
    0.8,
  ),
  throughputCheck(
    "publish",
    "requestsPerS",
    "publish POST /push req/s, 1 subscriber (baseline: raw Deno.serve POST → ws.send; informational)",
    "baseline_broadcast",
  ),
  {
    scenario: "targeted",
    title: "targeted (10 of N subs) vs broadcast pushes/s, same channel",
    baseline: undefined,
    row(ps) {
      const ratio = ps.metrics.targetedPushesPerS! / ps.metrics.broadcastPushesPerS!;
      return {
        scenario: this.title,
        pushserver: `${fmt(ps.metrics.targetedPushesPerS)} targeted`,
        baseline: `${fmt(ps.metrics.broadcastPushesPerS, 1)} broadcast`,
        ratio,
        target: "≥ 20",
        pass: ratio >= 20 && ps.metrics.targetedLost === 0 && ps.metrics.broadcastLost === 0,
      };
    },
  },
  throughputCheck(
    "churn",
    "cyclesPerS",
    "churn cycles/s (50 loops; baseline: connect/close)",
    "baseline_broadcast",
  ),
  // History (v1.1): the same server with and without history on the bench channel.
  throughputCheck(
    "publish",
    "requestsPerS",
    "history: publish req/s on a history channel (baseline: same server, no history)",
    PUSHSERVER,
    0.5,
    HISTORY_CHANNEL,
  ),
  throughputCheck(
    "fanout",
    "deliveriesPerS",
    "history: fan-out deliveries/s on a history channel (baseline: same server, no history)",
    PUSHSERVER,
    0.9,
    HISTORY_CHANNEL,
  ),
  {
    scenario: "recovery",
    title: "history: recover 1,000 missed pushes, SUBSCRIBE → last replayed frame, p50 / max ms",
    baseline: undefined,
    subject: HISTORY_CHANNEL,
    requires: ["p50Ms", "maxMs"],
    row(ps) {
      return {
        scenario: this.title.replace("1,000", fmt(ps.metrics.missed)),
        pushserver: `${fmt(ps.metrics.p50Ms, 1)} / ${fmt(ps.metrics.maxMs, 1)}`,
        baseline: `${fmt(ps.metrics.recoveries)} recoveries`,
        ratio: undefined,
        target: "p50 < 50 ms",
        pass: ps.metrics.p50Ms! < 50,
      };
    },
  },
  // Compact frames (v1.1): one string per push for every compact recipient.
  throughputCheck(
    "fanout",
    "deliveriesPerS",
    "compact: fan-out deliveries/s, 1,000 compact subs",
    "baseline_broadcast",
    0.95,
    COMPACT_CLIENTS,
  ),
  throughputCheck(
    "fanout",
    "deliveriesPerS",
    "compact: fan-out deliveries/s, 500 compact + 500 v1 subs",
    "baseline_broadcast",
    undefined,
    HALF_COMPACT,
  ),
  idleCheck("compact: idle memory, RSS bytes/connection, compact subs", 1.05, COMPACT_CLIENTS),
  // Publishing (v1.2): batches and receipts, each against single /push on the same server.
  {
    ...throughputCheck(
      "publish",
      "pushesPerS",
      "batch: pushes/s through POST /push/batch, 100 per request (baseline: single POST /push)",
      PUSHSERVER,
      5,
      BATCH_100,
    ),
    tag: "publishing",
  },
  {
    ...throughputCheck(
      "publish",
      "requestsPerS",
      "receipts: POST /push req/s with receipt: true (baseline: without; cost ≤ 1.1×)",
      PUSHSERVER,
      1 / 1.1,
      RECEIPTS,
    ),
    tag: "publishing",
  },
  // Cluster mode: a redis-server and two nodes (see startCluster) against a single node.
  {
    ...throughputCheck(
      "fanout",
      "deliveriesPerS",
      "cluster fan-out deliveries/s (push to node A, 1,000 subs on node B; baseline: single node)",
      "pushserver",
      0.8,
      CLUSTER,
    ),
    tag: "cluster",
  },
  {
    scenario: "latency",
    title: "cluster latency p50 / p99 / max ms (100 pushes/s, A → B; baseline: single node)",
    subject: CLUSTER,
    tag: "cluster",
    baseline: "pushserver",
    row(ps, base) {
      const b = base!;
      const added = ps.metrics.p99Ms! - b.metrics.p99Ms!;
      return {
        scenario: this.title.replace("100 pushes/s", `${fmt(ps.metrics.rate)} pushes/s`),
        pushserver: showLatency(ps),
        baseline: showLatency(b),
        ratio: ps.metrics.p99Ms! / b.metrics.p99Ms!,
        target: `p99 ≤ +2 ms (${added >= 0 ? "+" : ""}${fmt(added, 1)})`,
        pass: added <= 2 && ps.metrics.lost === 0,
      };
    },
  },
  {
    scenario: "latency",
    title: "cluster Redis commands per push (INFO commandstats over the latency run)",
    subject: CLUSTER,
    tag: "cluster",
    baseline: undefined,
    requires: ["pushes", "evalshaPerPush", "publishPerPush", "otherRedisCalls"],
    row(ps) {
      const perPush = ps.metrics.evalshaPerPush!;
      return {
        scenario: this.title,
        pushserver: `${fmt(perPush, 2)} EVALSHA`,
        baseline: `${fmt(ps.metrics.publishPerPush, 2)} PUBLISH in it; ${
          fmt(ps.metrics.otherRedisCalls)
        } other calls / ${fmt(ps.metrics.pushes)} pushes`,
        ratio: perPush,
        target: "1 per push",
        pass: Math.abs(perPush - 1) < 0.01,
      };
    },
  },
];

/** The better of two rounds by the check's throughput metric (errors lose). */
function best(check: Check, a: Result | undefined, b: Result): Result {
  const key = check.throughput;
  if (a === undefined || key === undefined) return b;
  if (a.errors.length > 0) return b;
  if (b.errors.length > 0) return a;
  return (b.metrics[key] ?? 0) > (a.metrics[key] ?? 0) ? b : a;
}

function evaluate(check: Check, ps: Result, base: Result | undefined): Row {
  const errorRow = (errors: string[]): Row => ({
    scenario: check.title,
    pushserver: "—",
    baseline: "—",
    ratio: "—",
    perCpu: "—",
    target: "",
    status: "error",
    cpu: errors.join("; ").slice(0, 300),
    errors,
  });
  const errors = [...ps.errors, ...(base?.errors ?? [])];
  if (errors.length > 0) return errorRow(errors);
  const row = check.row(ps, base);
  const missing = (check.requires ?? []).filter((key) => !Number.isFinite(ps.metrics[key]));
  if (missing.length > 0) {
    return errorRow([`pushserver's result lacks ${missing.join(", ")}: ${JSON.stringify(ps)}`]);
  }
  if (row.ratio !== undefined && !Number.isFinite(row.ratio)) {
    // A metric the row needs is missing (or zero): the generator and the check disagree.
    return errorRow([
      `no ratio from pushserver ${JSON.stringify(ps.metrics)}` +
      (base === undefined ? "" : ` and baseline ${JSON.stringify(base.metrics)}`),
    ]);
  }
  const saturated = check.scenario !== "idle" &&
    [ps, base].some((r) =>
      r !== undefined &&
      ((r.generatorCpu >= GENERATOR_SATURATED && r.serverCpu < SERVER_SATURATED) ||
        (r.metrics.broadcastGeneratorCpu ?? 0) >= GENERATOR_SATURATED)
    );
  const key = check.throughput;
  const perCpu = key === undefined || base === undefined ? "—" : fmt(
    (ps.metrics[key]! / ps.serverCpu) / (base.metrics[key]! / base.serverCpu),
    2,
  );
  return {
    ...row,
    perCpu: saturated ? "—" : perCpu,
    ratio: saturated || row.ratio === undefined ? "—" : fmt(row.ratio, 2),
    status: saturated
      ? "generator-bound"
      : row.pass === undefined
      ? "info"
      : row.pass
      ? "pass"
      : "FAIL",
    cpu: check.scenario === "idle" ? "" : cpuNote(ps, base),
    errors: [],
  };
}

function table(rows: Row[]): string {
  const header =
    "| scenario | pushserver | baseline | ratio | target | result | ratio per server CPU-s | CPU (pushserver / baseline) |";
  const line = "|---|---:|---:|---:|---|---|---:|---|";
  const body = rows.map((r) =>
    `| ${r.scenario} | ${r.pushserver} | ${r.baseline} | ${r.ratio} | ${r.target} | ${r.status} | ${r.perCpu} | ${r.cpu} |`
  );
  return [header, line, ...body].join("\n");
}

function machine(pin: Placement): string {
  let cpu = "unknown CPU";
  try {
    cpu = /model name\s*:\s*(.+)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? cpu;
  } catch {
    // Not Linux.
  }
  const memGiB = Deno.systemMemoryInfo().total / 2 ** 30;
  return `${cpu}, ${navigator.hardwareConcurrency} cores, ${memGiB.toFixed(1)} GiB RAM, ` +
    `Linux ${Deno.osRelease()}, Deno ${Deno.version.deno} (V8 ${Deno.version.v8}); ${pin.description}`;
}

function print(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
}

async function main(): Promise<number> {
  const quick = Deno.args.includes("--quick");
  const write = !quick && !Deno.args.includes("--no-write");
  const only = Deno.args.find((a) => a.startsWith("--only="))?.slice(7).split(",");
  const sizes = quick ? QUICK : FULL;
  const pin = await placement();
  const began = performance.now();
  print(`pushserver bench (${quick ? "quick" : "full"}): ${machine(pin)}`);

  const rows: Row[] = [];
  const problems: {
    scenario: string;
    kind: "inconclusive" | "broken";
    reasons: readonly string[];
  }[] = [];
  // What one core fans out, per push: measured by the first fan-out row against the raw
  // baseline or, when `--only` leaves none (`--only=cluster`), by the single node of the cluster's.
  let broadcastCapacity: number | undefined;
  let singleNodeCapacity: number | undefined;
  for (const check of CHECKS) {
    if (only !== undefined && !only.includes(check.tag ?? check.scenario)) continue;
    let s = sizes[check.scenario];
    const baselinePushCapacity = broadcastCapacity ?? singleNodeCapacity;
    if (check.scenario === "latency" && baselinePushCapacity !== undefined) {
      // The scenario is meant to run at about half of what one core fans out. Where the
      // baseline itself cannot fan out 2 × 100 pushes/s (a slower or busier machine), run at
      // half of its measured capacity instead, so both servers are measured below saturation.
      s = { ...s, rate: Math.min(s.rate, Math.max(10, Math.floor(baselinePushCapacity / 2))) };
    }
    const rounds = check.throughput !== undefined ? (quick ? 1 : ROUNDS) : 1;
    const attempts: string[][] = [];
    let outcome: { ps: Result; base: Result | undefined; row: Row } | undefined;
    while (attempts.length < ATTEMPTS) {
      outcome = await runCheck(check, s, rounds, pin);
      const errors = outcome.row.status === "error" ? outcome.row.errors : [];
      attempts.push(errors);
      if (errors.length === 0) break;
      print(`  ${check.scenario}: attempt ${attempts.length} failed: ${errors.join("; ")}`);
    }
    if (outcome === undefined) continue;
    const { ps, base } = outcome;
    const judged = verdict(attempts);
    const row = judged.kind === "inconclusive"
      ? { ...outcome.row, status: "inconclusive" as const }
      : outcome.row;
    if (judged.kind !== "ok") problems.push({ scenario: check.title, ...judged });
    if (check.scenario === "fanout" && base?.metrics.deliveriesPerS !== undefined) {
      const capacity = base.metrics.deliveriesPerS / s.clients;
      if (check.baseline === "baseline_broadcast") broadcastCapacity ??= capacity;
      else if (check.baseline === "pushserver") singleNodeCapacity ??= capacity;
    }
    rows.push(row);
    print(
      `  ${check.scenario}: ${row.status} ${row.ratio} — pushserver ${JSON.stringify(ps)}` +
        (base === undefined ? "" : ` baseline ${JSON.stringify(base)}`),
    );
  }
  const seconds = (performance.now() - began) / 1000;
  const result = table(rows);
  print("");
  print(result);
  print(`\n${rows.length} scenarios in ${seconds.toFixed(0)} s`);
  const saturated = rows.some((r) => r.status === "generator-bound");
  if (saturated) {
    print(
      "generator-bound: the load generator used ≥ 90% of its core while the server had room " +
        "(< 95% of its core), so that row measures the generator, not the server; no ratio is given.",
    );
  }

  if (write && only === undefined) {
    const stamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const section = `${MARK_START}\nLast full run: ${stamp}, ${seconds.toFixed(0)} s. Machine: ${
      machine(pin)
    }.\n\n${result}\n${MARK_END}`;
    const readme = await Deno.readTextFile(README);
    const from = readme.indexOf(MARK_START);
    const to = readme.indexOf(MARK_END);
    if (from >= 0 && to > from) {
      await Deno.writeTextFile(
        README,
        readme.slice(0, from) + section + readme.slice(to + MARK_END.length),
      );
      // The table is rewritten by `deno fmt` so `deno task check` stays clean.
      await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", "bench/README.md"], cwd: ROOT })
        .output();
      print("bench/README.md updated");
    }
  }
  for (const problem of problems) {
    print(
      problem.kind === "broken"
        ? `BROKEN: ${problem.scenario} failed on every attempt, each time with a defect:`
        : `inconclusive (not a failure): ${problem.scenario} failed on every attempt, at least once ` +
          `for a reason a busy machine explains:`,
    );
    for (const reason of problem.reasons) print(`  ${reason}`);
  }
  return problems.some((p) => p.kind === "broken") ? 1 : 0;
}

/** Runs one check's rounds (baseline and pushserver alternating) and evaluates its row. */
async function runCheck(
  check: Check,
  sizes: Sizes,
  rounds: number,
  pin: Placement,
): Promise<{ ps: Result; base: Result | undefined; row: Row }> {
  let base: Result | undefined;
  let ps: Result | undefined;
  const subject = check.subject ?? PUSHSERVER;
  const baseline = typeof check.baseline === "string"
    ? { program: check.baseline }
    : check.baseline;
  for (let round = 0; round < rounds; round++) {
    if (baseline !== undefined) {
      base = best(check, base, await measure(check.scenario, baseline, sizes, pin));
    }
    ps = best(check, ps, await measure(check.scenario, subject, sizes, pin));
  }
  if (check.scenario === "latency") ps!.metrics.rate = sizes.rate;
  return { ps: ps!, base, row: evaluate(check, ps!, base) };
}

if (import.meta.main) Deno.exit(await main());
