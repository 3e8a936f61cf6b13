/**
 * `deno task bench [--quick] [--only=fanout,latency,...] [--no-write]`
 *
 * Runs every scenario against pushserver and against a baseline server in the same invocation,
 * each server and the load generator in fresh subprocesses pinned to different cores (when
 * `taskset` exists) with a raised `ulimit -n`, and prints one table of ratios. A full run also
 * rewrites the results section of bench/README.md. It exits 1 only when the bench itself broke
 * (a server did not start, a scenario errored); a missed target is reported, never gated on.
 */
import type { Result, ServerKind, Spec } from "./generator.ts";

const ROOT = new URL("../", import.meta.url);
const BENCH = new URL("./", import.meta.url);
const README = new URL("README.md", BENCH);
const MARK_START = "<!-- bench:results:start -->";
const MARK_END = "<!-- bench:results:end -->";
/** Generator CPU (in cores) above which a run measures the generator, not the server. */
const GENERATOR_SATURATED = 0.9;
const NOFILE = 65536;
/** Alternating rounds per throughput scenario in a full run (best round counts). */
const ROUNDS = 3;

type ScenarioName = Spec["scenario"];
type ServerProgram = "pushserver" | "cluster" | "baseline_broadcast" | "baseline_hono";

interface Sizes {
  clients: number;
  publishers: number;
  warmupMs: number;
  durationMs: number;
  rate: number;
  recipients: number;
}

const FULL: Record<ScenarioName, Sizes> = {
  fanout: {
    clients: 1000,
    publishers: 2,
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
};

/** ≤ 60 s in all: same shapes, shorter windows, fewer idle sockets. */
const QUICK: Record<ScenarioName, Sizes> = {
  fanout: { ...FULL.fanout, warmupMs: 300, durationMs: 1000 },
  latency: { ...FULL.latency, warmupMs: 300, durationMs: 1500 },
  idle: { ...FULL.idle, clients: 2000, warmupMs: 300 },
  publish: { ...FULL.publish, warmupMs: 300, durationMs: 1000 },
  targeted: { ...FULL.targeted, clients: 2000, warmupMs: 200, durationMs: 1000 },
  churn: { ...FULL.churn, warmupMs: 200, durationMs: 1000 },
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
  #waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
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

/** Resolves once something accepts TCP connections on `port`, or rejects after `ms`. */
async function waitForPort(port: number, ms: number, exited: () => boolean): Promise<void> {
  const deadline = performance.now() + ms;
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
 * (info) listening line, so readiness is "both ports accept connections".
 */
async function startServer(program: ServerProgram, pin: Placement): Promise<RunningServer> {
  if (program === "cluster") return await startCluster(pin);
  return await startProcess(program, pin);
}

/**
 * Cluster mode: a redis-server and two pushserver nodes sharing it. Subscribers connect to node B
 * (pinned where the single-node server runs, and measured as "the server"); publishers post to
 * node A. Redis and node A run on the generator's core(s): per push they do one HTTP request and
 * one EVALSHA, while B does the 1,000 deliveries.
 */
async function startCluster(pin: Placement): Promise<RunningServer> {
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
  let redisExited = false;
  redis.status.then(() => redisExited = true);
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
    await waitForPort(redisPort, 10_000, () => redisExited);
    a = await startProcess("pushserver", { ...pin, server: pin.generator }, env);
    const b = await startProcess("pushserver", pin, env);
    const publisher = a;
    return {
      program: "cluster",
      pid: b.pid,
      host: HOST,
      wsPort: b.wsPort,
      httpPort: publisher.httpPort,
      redisPort,
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
  extraEnv: Record<string, string> = {},
): Promise<RunningServer> {
  const dir = await Deno.makeTempDir({ prefix: "pushserver-bench-" });
  const file = program === "pushserver" ? "main.ts" : `bench/${program}.ts`;
  const wsPort = freePort();
  const httpPort = program === "pushserver" ? freePort() : wsPort;
  const profile = PROFILE_DIR !== undefined && program === "pushserver"
    ? [`--cpu-prof`, `--cpu-prof-dir=${PROFILE_DIR}`]
    : [];
  const child = spawn([...pin.server, Deno.execPath(), "run", "-A", ...profile, file], {
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
  const stdout = new Lines(child.stdout);
  const stderr = new Lines(child.stderr);
  let exited = false;
  child.status.then(() => exited = true);
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
    await waitForPort(wsPort, 60_000, () => exited);
    await waitForPort(httpPort, 10_000, () => exited);
  } catch {
    await stop();
    throw new Error(
      `${program} did not start: ${[...stdout.tail, ...stderr.tail].slice(-10).join("\n")}`,
    );
  }
  return { program, pid: child.pid, host: HOST, wsPort, httpPort, stop };
}

async function createChannel(server: RunningServer, channel: string): Promise<string> {
  const response = await fetch(`http://${server.host}:${server.httpPort}/channel/create`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      messageType: "SERVER_ACTION",
      action: "CREATE_CHANNEL",
      data: { channel },
    }),
  });
  const body = await response.json() as { data?: { channelToken?: string } };
  const token = body.data?.channelToken;
  if (response.status !== 200 || token === undefined) {
    throw new Error(`create channel answered ${response.status}: ${JSON.stringify(body)}`);
  }
  return token;
}

async function runGenerator(spec: Spec, pin: Placement): Promise<Result> {
  const child = spawn(
    [...pin.generator, Deno.execPath(), "run", "-A", "bench/generator.ts", JSON.stringify(spec)],
    Deno.env.toObject(),
  );
  const stdout = new Lines(child.stdout);
  const stderr = new Lines(child.stderr);
  const { success } = await child.status;
  await Promise.all([stdout.done, stderr.done]);
  const last = stdout.tail.filter((line) => line.startsWith("{")).at(-1);
  if (!success || last === undefined) {
    return {
      metrics: {},
      generatorCpu: 0,
      serverCpu: 0,
      errors: [`generator failed: ${stderr.tail.slice(-5).join(" | ")}`],
    };
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

/** Starts `program`, runs one scenario against it, stops it. */
async function measure(
  scenario: ScenarioName,
  program: ServerProgram,
  sizes: Sizes,
  pin: Placement,
): Promise<Result> {
  let server: RunningServer;
  try {
    server = await startServer(program, pin);
  } catch (error) {
    return { metrics: {}, generatorCpu: 0, serverCpu: 0, errors: [String(error)] };
  }
  try {
    const kind: ServerKind = program === "pushserver" || program === "cluster"
      ? "pushserver"
      : "baseline";
    const channel = "bench";
    const token = kind === "pushserver" ? await createChannel(server, channel) : "";
    const redisPort = server.redisPort;
    const pushesBefore = redisPort === undefined ? 0 : await pushesTotal(server);
    if (redisPort !== undefined) await redisCli(redisPort, "CONFIG", "RESETSTAT");
    const result = await runGenerator({
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
      ...sizes,
    }, pin);
    if (redisPort !== undefined) {
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
    return result;
  } catch (error) {
    return { metrics: {}, generatorCpu: 0, serverCpu: 0, errors: [String(error)] };
  } finally {
    await server.stop();
  }
}

/** One table row. */
interface Row {
  scenario: string;
  pushserver: string;
  baseline: string;
  ratio: string;
  target: string;
  status: "pass" | "FAIL" | "info" | "generator-bound" | "error";
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
  /** What is measured against the baseline (default: a single pushserver). */
  subject?: ServerProgram;
  /** Also selected by `--only=<tag>`. */
  tag?: string;
  baseline: ServerProgram | undefined;
  /**
   * Throughput metric (higher is better) for scenarios repeated in alternating rounds: the best
   * round of each server counts, and the ratio per server CPU-second is shown beside it.
   */
  throughput?: string;
  row(ps: Result, base: Result | undefined): Omit<Row, "cpu" | "status" | "ratio" | "perCpu"> & {
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
  baseline: ServerProgram,
  minRatio?: number,
): Check {
  return {
    scenario,
    throughput: metric,
    title,
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

const CHECKS: Check[] = [
  throughputCheck(
    "fanout",
    "deliveriesPerS",
    "fan-out deliveries/s (1 ch × 1,000 subs, 100 B)",
    "baseline_broadcast",
    0.9,
  ),
  {
    scenario: "latency",
    title: "latency p50 / p99 / max ms (100 pushes/s × 1,000 subs)",
    baseline: "baseline_broadcast",
    row(ps, base) {
      const b = base!;
      const ratio = ps.metrics.p99Ms! / b.metrics.p99Ms!;
      const show = (r: Result) =>
        `${fmt(r.metrics.p50Ms, 1)} / ${fmt(r.metrics.p99Ms, 1)} / ${fmt(r.metrics.maxMs, 1)}`;
      return {
        scenario: this.title.replace("100 pushes/s", `${fmt(ps.metrics.rate)} pushes/s`),
        pushserver: show(ps),
        baseline: show(b),
        ratio,
        target: "p99 ≤ 1.50",
        pass: ratio <= 1.5 && ps.metrics.lost === 0,
      };
    },
  },
  {
    scenario: "idle",
    title: "idle memory, RSS bytes/connection",
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
        target: "≤ 1.15",
        pass: ratio <= 1.15,
      };
    },
  },
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
  {
    ...throughputCheck(
      "fanout",
      "deliveriesPerS",
      "cluster fan-out deliveries/s (push to node A, 1,000 subs on node B; baseline: single node)",
      "pushserver",
      0.8,
    ),
    subject: "cluster",
    tag: "cluster",
  },
  {
    scenario: "latency",
    title: "cluster latency p50 / p99 / max ms (100 pushes/s, A → B; baseline: single node)",
    subject: "cluster",
    tag: "cluster",
    baseline: "pushserver",
    row(ps, base) {
      const b = base!;
      const added = ps.metrics.p99Ms! - b.metrics.p99Ms!;
      const show = (r: Result) =>
        `${fmt(r.metrics.p50Ms, 1)} / ${fmt(r.metrics.p99Ms, 1)} / ${fmt(r.metrics.maxMs, 1)}`;
      return {
        scenario: this.title.replace("100 pushes/s", `${fmt(ps.metrics.rate)} pushes/s`),
        pushserver: show(ps),
        baseline: show(b),
        ratio: ps.metrics.p99Ms! / b.metrics.p99Ms!,
        target: `p99 ≤ +2 ms (${added >= 0 ? "+" : ""}${fmt(added, 1)})`,
        pass: added <= 2 && ps.metrics.lost === 0,
      };
    },
  },
  {
    scenario: "latency",
    title: "cluster Redis commands per push (INFO commandstats over the latency run)",
    subject: "cluster",
    tag: "cluster",
    baseline: undefined,
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
  const errors = [...ps.errors, ...(base?.errors ?? [])];
  if (errors.length > 0) {
    return {
      scenario: check.title,
      pushserver: "—",
      baseline: "—",
      ratio: "—",
      perCpu: "—",
      target: "",
      status: "error",
      cpu: errors.join("; ").slice(0, 300),
    };
  }
  const row = check.row(ps, base);
  const saturated = check.scenario !== "idle" &&
    [ps, base].some((r) =>
      r !== undefined &&
      (r.generatorCpu >= GENERATOR_SATURATED ||
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
    ratio: saturated ? "—" : fmt(row.ratio, 2),
    status: saturated
      ? "generator-bound"
      : row.pass === undefined
      ? "info"
      : row.pass
      ? "pass"
      : "FAIL",
    cpu: check.scenario === "idle" ? "" : cpuNote(ps, base),
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
  let baselinePushCapacity: number | undefined;
  for (const check of CHECKS) {
    if (
      only !== undefined && !only.includes(check.scenario) &&
      !(check.tag !== undefined && only.includes(check.tag))
    ) continue;
    if (only !== undefined && check.tag !== undefined && !only.includes(check.tag)) continue;
    let s = sizes[check.scenario];
    if (check.scenario === "latency" && baselinePushCapacity !== undefined) {
      // The scenario is meant to run at about half of what one core fans out. Where the
      // baseline itself cannot fan out 2 × 100 pushes/s (a slower or busier machine), run at
      // half of its measured capacity instead, so both servers are measured below saturation.
      s = { ...s, rate: Math.min(s.rate, Math.max(10, Math.floor(baselinePushCapacity / 2))) };
    }
    const rounds = check.throughput !== undefined ? (quick ? 1 : ROUNDS) : 1;
    let base: Result | undefined;
    let ps: Result | undefined;
    for (let round = 0; round < rounds; round++) {
      if (check.baseline !== undefined) {
        base = best(check, base, await measure(check.scenario, check.baseline, s, pin));
      }
      ps = best(check, ps, await measure(check.scenario, check.subject ?? "pushserver", s, pin));
    }
    if (ps === undefined) continue;
    if (check.scenario === "latency") ps.metrics.rate = s.rate;
    if (
      check.scenario === "fanout" && base?.metrics.deliveriesPerS !== undefined &&
      (check.subject === undefined || baselinePushCapacity === undefined)
    ) {
      baselinePushCapacity = base.metrics.deliveriesPerS / s.clients;
    }
    const row = evaluate(check, ps, base);
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
      "generator-bound: the load generator used ≥ 90% of its core, so that row measures the " +
        "generator, not the server; no ratio is given.",
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
  return rows.some((r) => r.status === "error") ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
