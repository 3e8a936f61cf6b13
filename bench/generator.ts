/**
 * The load generator: one scenario against one server, real WebSocket clients and real HTTP
 * requests over loopback, bounded in time and count. `bench/run.ts` starts it as a pinned
 * subprocess with a JSON {@link Spec} argument; it prints one JSON {@link Result} line.
 */
import { HttpClient } from "./_http_client.ts";
import { WsClient } from "./_ws_client.ts";

/** Which server is under load. */
export type ServerKind = "pushserver" | "baseline";

/** What to run, and where. */
export interface Spec {
  scenario: "fanout" | "latency" | "idle" | "publish" | "targeted" | "churn" | "recovery";
  kind: ServerKind;
  host: string;
  wsPort: number;
  httpPort: number;
  serverPid: number;
  channel: string;
  /** The channel token (pushserver); ignored by the baselines. */
  token: string;
  /** Subscribers (fanout, latency, idle, publish, targeted) or concurrent loops (churn). */
  clients: number;
  /** Concurrent publishers (publish, targeted). */
  publishers: number;
  warmupMs: number;
  durationMs: number;
  /** Pushes per second (latency). */
  rate: number;
  /** Push `message` size in bytes. */
  messageBytes: number;
  /** Recipients per targeted push. */
  recipients: number;
  /** publish: whether a WebSocket subscriber receives each push (always for pushserver). */
  subscribe?: boolean;
  /** Share (0–1) of subscribers that ask for compact frames (`pushserver.compact`). */
  compactShare?: number;
  /** publish (v1.2): pushes per request through `POST /push/batch` (absent: one `/push` each). */
  batch?: number;
  /** publish (v1.2): every push asks for a receipt (`receipt: true`). */
  receipt?: boolean;
  /** recovery: pushes a resubscribing client missed (the channel keeps at least that many). */
  missed?: number;
  /**
   * The server runs `_loop_monitor.ts`: signal it (SIGUSR1/SIGUSR2) at the start and end of the
   * measured window. Never set otherwise: those signals would end a server without the monitor.
   */
  loopMonitor?: boolean;
}

/** The subprotocol that selects compact frames. */
const COMPACT = "pushserver.compact";

/** One measured number. */
export type Metrics = Record<string, number>;

/** What a run measured, plus the CPU both sides used meanwhile (cores, 1.0 = one core busy). */
export interface Result {
  metrics: Metrics;
  generatorCpu: number;
  serverCpu: number;
  errors: string[];
}

const CLOCK_TICKS_PER_S = 100;

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds(pid: number | "self"): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** Resident set size of a process in bytes. */
function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (match === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

/** Microseconds since the epoch, sub-millisecond resolution. */
function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Measures CPU of both processes over a window. */
class Window {
  readonly #spec: Spec;
  #t0 = 0;
  #gen0 = 0;
  #srv0 = 0;
  seconds = 0;
  generatorCpu = 0;
  serverCpu = 0;

  constructor(spec: Spec) {
    this.#spec = spec;
  }

  start(): void {
    this.#t0 = performance.now();
    this.#gen0 = cpuSeconds("self");
    this.#srv0 = cpuSeconds(this.#spec.serverPid);
  }

  stop(): void {
    this.seconds = (performance.now() - this.#t0) / 1000;
    this.generatorCpu = (cpuSeconds("self") - this.#gen0) / this.seconds;
    this.serverCpu = (cpuSeconds(this.#spec.serverPid) - this.#srv0) / this.seconds;
  }
}

/** A `message` of exactly `bytes` ASCII bytes starting with `prefix`. */
function message(prefix: string, bytes: number): string {
  return prefix + "x".repeat(Math.max(0, bytes - prefix.length));
}

function pushBody(
  spec: Spec,
  text: string,
  recipients: readonly string[] = [],
  receipt?: boolean,
): string {
  const data = { channel: spec.channel, channelToken: spec.token, recipients, message: text };
  return JSON.stringify({
    messageType: "SERVER_ACTION",
    action: "PUSH_MESSAGE",
    data: receipt === true ? { ...data, receipt } : data,
  });
}

/** A `PUSH_BATCH` of `spec.batch` broadcasts of `text` on the bench channel (v1.2). */
function batchBody(spec: Spec, text: string): string {
  const item = { channel: spec.channel, channelToken: spec.token, recipients: [], message: text };
  return JSON.stringify({
    messageType: "SERVER_ACTION",
    action: "PUSH_BATCH",
    data: { pushes: Array.from({ length: spec.batch ?? 1 }, () => item) },
  });
}

interface Subscriber {
  client: WsClient;
  uuid: string;
}

/** Connects and, on pushserver, subscribes to the bench channel (waiting for both acks). */
async function subscribe(spec: Spec, compact = false): Promise<Subscriber> {
  const client = await WsClient.connect(spec.host, spec.wsPort, "/", compact ? [COMPACT] : []);
  const hello = await client.nextText();
  if (spec.kind === "baseline") return { client, uuid: "" };
  const connected = JSON.parse(hello) as { data: { uuid: string } };
  await client.send(JSON.stringify({
    messageType: "CLIENT_ACTION",
    action: "SUBSCRIBE",
    data: { channel: spec.channel },
  }));
  const ack = JSON.parse(await client.nextText()) as { message: string };
  if (ack.message !== "Subscribed") throw new Error(`subscribe failed: ${JSON.stringify(ack)}`);
  return { client, uuid: connected.data.uuid };
}

/**
 * Connects `count` subscribers, `concurrency` handshakes at a time; every n-th asks for compact
 * frames so that `spec.compactShare` of them do.
 */
async function subscribeMany(spec: Spec, count: number, concurrency = 100): Promise<Subscriber[]> {
  const subscribers: Subscriber[] = [];
  const share = spec.kind === "pushserver" ? spec.compactShare ?? 0 : 0;
  let next = 0;
  async function worker(): Promise<void> {
    while (next < count) {
      const i = next++;
      const compact = Math.floor((i + 1) * share) > Math.floor(i * share);
      subscribers.push(await subscribe(spec, compact));
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return subscribers;
}

/** Counts delivered frames and lets publishers wait until fewer than `window` pushes are pending. */
class DeliveryCounter {
  delivered = 0;
  #waiter: PromiseWithResolvers<void> | undefined;
  readonly #perPush: number;

  constructor(perPush: number) {
    this.#perPush = perPush;
  }

  readonly onMessage = (): void => {
    if (++this.delivered % this.#perPush === 0 && this.#waiter !== undefined) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter.resolve();
    }
  };

  /** Pushes whose every delivery has arrived (counted in aggregate). */
  get completed(): number {
    return Math.floor(this.delivered / this.#perPush);
  }

  /** Resolves after the next `perPush` deliveries (or after 1 s, to notice stalls). */
  progress(): Promise<void> {
    this.#waiter ??= Promise.withResolvers<void>();
    return Promise.race([this.#waiter.promise, sleep(1000)]);
  }

  /** Waits until `total` deliveries arrived or `ms` passed. */
  async drain(total: number, ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    while (this.delivered < total && performance.now() < deadline) await sleep(10);
  }
}

function expectOk(response: { status: number; body: string }, errors: string[]): void {
  if (response.status !== 200 && errors.length < 5) {
    errors.push(`push answered ${response.status}: ${response.body.slice(0, 200)}`);
  }
}

/**
 * Pushes as fast as the server accepts them, with at most `window` pushes not yet fully
 * delivered, so the measure is sustained throughput rather than a growing send buffer.
 */
async function flood(
  spec: Spec,
  subscribers: Subscriber[],
  options: { window: number; publishers: number; warmupMs: number; durationMs: number },
): Promise<{ window: Window; deliveries: number; pushes: number; lost: number }> {
  const errors: string[] = [];
  const counter = new DeliveryCounter(subscribers.length);
  for (const { client } of subscribers) client.onMessage = counter.onMessage;
  const clients = await Promise.all(
    Array.from({ length: options.publishers }, () => HttpClient.connect(spec.host, spec.httpPort)),
  );
  const request = clients[0]!.request("/push", pushBody(spec, message("m", spec.messageBytes)));
  let sent = 0;
  let stop = false;
  async function publisher(http: HttpClient): Promise<void> {
    while (!stop) {
      if (sent - counter.completed >= options.window) {
        await counter.progress();
        continue;
      }
      sent++;
      expectOk(await http.send(request), errors);
    }
  }
  const running = Promise.all(clients.map(publisher));
  await sleep(options.warmupMs);
  const window = new Window(spec);
  const delivered0 = counter.delivered;
  window.start();
  await sleep(options.durationMs);
  window.stop();
  const deliveries = counter.delivered - delivered0;
  stop = true;
  await running;
  await counter.drain(sent * subscribers.length, 5000);
  for (const http of clients) http.close();
  if (errors.length > 0) throw new Error(errors.join("; "));
  return {
    window,
    deliveries,
    pushes: deliveries / subscribers.length,
    lost: sent * subscribers.length - counter.delivered,
  };
}

async function fanout(spec: Spec): Promise<Result> {
  const subscribers = await subscribeMany(spec, spec.clients);
  const run = await flood(spec, subscribers, {
    window: 32,
    publishers: spec.publishers,
    warmupMs: spec.warmupMs,
    durationMs: spec.durationMs,
  });
  await closeAll(subscribers);
  return {
    metrics: { deliveriesPerS: run.deliveries / run.window.seconds, lost: run.lost },
    generatorCpu: run.window.generatorCpu,
    serverCpu: run.window.serverCpu,
    errors: [],
  };
}

const TS_MARK = [116, 115, 61]; // "ts="

/** Reads the `ts=<microseconds>;` stamp from a frame without decoding it. */
function stampOf(bytes: Uint8Array, start: number, end: number): number {
  for (let i = start; i + 3 < end; i++) {
    if (bytes[i] === TS_MARK[0] && bytes[i + 1] === TS_MARK[1] && bytes[i + 2] === TS_MARK[2]) {
      let value = 0;
      for (let j = i + 3; j < end; j++) {
        const digit = bytes[j]! - 48;
        if (digit < 0 || digit > 9) return value;
        value = value * 10 + digit;
      }
    }
  }
  return -1;
}

async function latency(spec: Spec): Promise<Result> {
  const subscribers = await subscribeMany(spec, spec.clients);
  let samples = new Float64Array(1 << 16);
  let count = 0;
  let measureFromUs = Number.POSITIVE_INFINITY;
  const onMessage = (bytes: Uint8Array, start: number, end: number): void => {
    const stamp = stampOf(bytes, start, end);
    if (stamp < measureFromUs) return;
    if (count === samples.length) {
      const bigger = new Float64Array(samples.length * 2);
      bigger.set(samples);
      samples = bigger;
    }
    samples[count++] = (nowUs() - stamp) / 1000;
  };
  for (const { client } of subscribers) client.onMessage = onMessage;

  const errors: string[] = [];
  const idle = await Promise.all(
    Array.from({ length: 8 }, () => HttpClient.connect(spec.host, spec.httpPort)),
  );
  const inFlight: Promise<void>[] = [];
  let late = 0;
  let measured = 0;
  const began = performance.now();
  const total = Math.round((spec.rate * (spec.warmupMs + spec.durationMs)) / 1000);
  const warmupPushes = Math.round((spec.rate * spec.warmupMs) / 1000);
  const window = new Window(spec);
  for (let i = 0; i < total; i++) {
    if (i === warmupPushes) {
      measureFromUs = nowUs();
      window.start();
      if (spec.loopMonitor === true) Deno.kill(spec.serverPid, "SIGUSR1");
    }
    await sleep(began + (i * 1000) / spec.rate - performance.now());
    // Open loop: a push never waits for an earlier one; when every connection is busy it
    // opens another (counted, since it adds a TCP handshake to that push's latency).
    if (idle.length === 0) late++;
    const http = idle.pop() ?? await HttpClient.connect(spec.host, spec.httpPort);
    if (i >= warmupPushes) measured++;
    const body = pushBody(spec, message(`ts=${nowUs()};`, spec.messageBytes));
    inFlight.push(
      http.post("/push", body).then((response) => {
        expectOk(response, errors);
        idle.push(http);
      }),
    );
  }
  await Promise.all(inFlight);
  window.stop();
  if (spec.loopMonitor === true) Deno.kill(spec.serverPid, "SIGUSR2");
  const expected = measured * subscribers.length;
  const deadline = performance.now() + 5000;
  while (count < expected && performance.now() < deadline) await sleep(10);
  for (const http of idle) http.close();
  await closeAll(subscribers);
  if (errors.length > 0) throw new Error(errors.join("; "));
  const sorted = samples.subarray(0, count).sort();
  const at = (q: number) => sorted[Math.min(count - 1, Math.floor(q * count))] ?? Number.NaN;
  return {
    metrics: {
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      maxMs: sorted[count - 1] ?? Number.NaN,
      samples: count,
      lost: expected - count,
      pushesPerS: measured / window.seconds,
      extraConnections: late,
    },
    generatorCpu: window.generatorCpu,
    serverCpu: window.serverCpu,
    errors: [],
  };
}

async function idleMemory(spec: Spec): Promise<Result> {
  // Warm the server's code paths first, so JIT code is not billed to the connections.
  await closeAll(await subscribeMany(spec, 200));
  await sleep(1000);
  const before = rssBytes(spec.serverPid);
  const subscribers = await subscribeMany(spec, spec.clients, 200);
  await sleep(spec.warmupMs);
  const readings: number[] = [];
  for (let i = 0; i < 3; i++) {
    readings.push(rssBytes(spec.serverPid));
    await sleep(500);
  }
  const after = readings.sort((a, b) => a - b)[1]!;
  for (const { client } of subscribers) client.abort();
  return {
    metrics: {
      connections: subscribers.length,
      rssBeforeMiB: before / 2 ** 20,
      rssAfterMiB: after / 2 ** 20,
      bytesPerConnection: (after - before) / subscribers.length,
    },
    generatorCpu: 0,
    serverCpu: 0,
    errors: [],
  };
}

/**
 * Closed-loop publishing: every client sends `requestFor(i)` back to back (publisher `n` starts
 * at `i = n`), through a warm-up and then the measured window; closes the clients at the end.
 */
async function closedLoop(
  spec: Spec,
  clients: HttpClient[],
  requestFor: (i: number) => Uint8Array,
  errors: string[],
): Promise<{ window: Window; requests: number; answered: number }> {
  let answered = 0;
  let stop = false;
  async function publisher(http: HttpClient, index: number): Promise<void> {
    for (let i = index; !stop; i++) {
      expectOk(await http.send(requestFor(i)), errors);
      answered++;
    }
  }
  const running = Promise.all(clients.map(publisher));
  await sleep(spec.warmupMs);
  const window = new Window(spec);
  const answered0 = answered;
  window.start();
  await sleep(spec.durationMs);
  window.stop();
  const requests = answered - answered0;
  stop = true;
  await running;
  for (const http of clients) http.close();
  return { window, requests, answered };
}

async function publish(spec: Spec): Promise<Result> {
  const errors: string[] = [];
  const subscribers = spec.kind === "pushserver" || spec.subscribe === true
    ? await subscribeMany(spec, 1)
    : [];
  let delivered = 0;
  for (const { client } of subscribers) client.onMessage = () => delivered++;
  const clients = await Promise.all(
    Array.from({ length: spec.publishers }, () => HttpClient.connect(spec.host, spec.httpPort)),
  );
  // v1.2: `batch` pushes per request through /push/batch, or one /push each (with `receipt`).
  const perRequest = spec.batch ?? 1;
  const request = spec.batch === undefined
    ? clients[0]!.request(
      "/push",
      pushBody(spec, message("m", spec.messageBytes), [], spec.receipt),
    )
    : clients[0]!.request("/push/batch", batchBody(spec, message("m", spec.messageBytes)));
  const { window, requests, answered } = await closedLoop(spec, clients, () => request, errors);
  const pushed = answered * perRequest;
  const deadline = performance.now() + 5000;
  while (subscribers.length > 0 && delivered < pushed && performance.now() < deadline) {
    await sleep(10);
  }
  await closeAll(subscribers);
  if (errors.length > 0) throw new Error(errors.join("; "));
  return {
    metrics: {
      requestsPerS: requests / window.seconds,
      pushesPerS: (requests * perRequest) / window.seconds,
      lost: subscribers.length > 0 ? pushed - delivered : 0,
    },
    generatorCpu: window.generatorCpu,
    serverCpu: window.serverCpu,
    errors: [],
  };
}

async function targeted(spec: Spec): Promise<Result> {
  const subscribers = await subscribeMany(spec, spec.clients, 200);
  const broadcast = await flood(spec, subscribers, {
    window: 2,
    publishers: 1,
    warmupMs: spec.warmupMs,
    durationMs: spec.durationMs,
  });

  const errors: string[] = [];
  let delivered = 0;
  for (const { client } of subscribers) client.onMessage = () => delivered++;
  const clients = await Promise.all(
    Array.from({ length: spec.publishers }, () => HttpClient.connect(spec.host, spec.httpPort)),
  );
  // 100 different recipient lists, spread over the whole channel.
  const requests = Array.from({ length: 100 }, (_, i) => {
    const recipients = Array.from(
      { length: spec.recipients },
      (_, j) => subscribers[(i * 97 + j * 997) % subscribers.length]!.uuid,
    );
    const body = pushBody(spec, message("t", spec.messageBytes), recipients);
    return clients[0]!.request("/push", body);
  });
  const { window, requests: pushes, answered } = await closedLoop(
    spec,
    clients,
    (i) => requests[i % requests.length]!,
    errors,
  );
  const expected = answered * spec.recipients;
  const deadline = performance.now() + 5000;
  while (delivered < expected && performance.now() < deadline) await sleep(10);
  for (const { client } of subscribers) client.abort();
  if (errors.length > 0) throw new Error(errors.join("; "));
  return {
    metrics: {
      broadcastPushesPerS: broadcast.pushes / broadcast.window.seconds,
      broadcastLost: broadcast.lost,
      broadcastGeneratorCpu: broadcast.window.generatorCpu,
      targetedPushesPerS: pushes / window.seconds,
      targetedLost: expected - delivered,
    },
    generatorCpu: window.generatorCpu,
    serverCpu: window.serverCpu,
    errors: [],
  };
}

async function churn(spec: Spec): Promise<Result> {
  let cycles = 0;
  let stop = false;
  const failures: string[] = [];
  async function loop(): Promise<void> {
    while (!stop) {
      try {
        const { client } = await subscribe(spec);
        await client.close();
        cycles++;
      } catch (error) {
        if (failures.length < 5) failures.push(String(error));
        if (failures.length >= 5) stop = true;
      }
    }
  }
  const running = Promise.all(Array.from({ length: spec.clients }, loop));
  await sleep(spec.warmupMs);
  const window = new Window(spec);
  const cycles0 = cycles;
  window.start();
  await sleep(spec.durationMs);
  window.stop();
  const measured = cycles - cycles0;
  stop = true;
  await running;
  if (failures.length > 0) throw new Error(failures.join("; "));
  return {
    metrics: { cyclesPerS: measured / window.seconds },
    generatorCpu: window.generatorCpu,
    serverCpu: window.serverCpu,
    errors: [],
  };
}

/**
 * Recovery: one subscriber notes where the stream stands, `missed` pushes are published, then
 * fresh connections resubscribe with `since` at that position, one after the other; each is
 * timed from sending SUBSCRIBE to receiving the last replayed push.
 */
async function recovery(spec: Spec): Promise<Result> {
  const missed = spec.missed ?? 1000;
  const first = await subscribeAt(spec, undefined);
  const { epoch, offset: since } = first.recovery;
  first.client.abort();
  const http = await Promise.all(
    Array.from({ length: 8 }, () => HttpClient.connect(spec.host, spec.httpPort)),
  );
  const errors: string[] = [];
  let sent = 0;
  await Promise.all(http.map(async (client) => {
    while (sent < missed) {
      sent++;
      expectOk(await client.post("/push", pushBody(spec, message("r", spec.messageBytes))), errors);
    }
  }));
  for (const client of http) client.close();
  if (errors.length > 0) throw new Error(errors.join("; "));

  const times: number[] = [];
  const window = new Window(spec);
  window.start();
  for (let i = 0; i < spec.clients; i++) {
    const client = await WsClient.connect(spec.host, spec.wsPort);
    await client.nextText();
    let frames = 0;
    const done = Promise.withResolvers<number>();
    let ack = "";
    client.onMessage = (bytes, start, end) => {
      if (frames++ === 0) ack = new TextDecoder().decode(bytes.subarray(start, end));
      else if (frames === missed + 1) done.resolve(performance.now());
    };
    const began = performance.now();
    await client.send(JSON.stringify({
      messageType: "CLIENT_ACTION",
      action: "SUBSCRIBE",
      data: { channel: spec.channel, since: { offset: since, epoch } },
    }));
    const ended = await Promise.race([done.promise, sleep(10_000).then(() => undefined)]);
    client.abort();
    if (!ack.includes('"recovered":true')) {
      throw new Error(`the resubscribe did not recover: ${ack.slice(0, 300)}`);
    }
    if (ended === undefined) {
      throw new Error(`recovery timed out: ${frames - 1} of ${missed} replayed pushes in 10 s`);
    }
    times.push(ended - began);
  }
  window.stop();
  times.sort((a, b) => a - b);
  return {
    metrics: {
      missed,
      recoveries: times.length,
      p50Ms: times[Math.floor(times.length / 2)]!,
      maxMs: times.at(-1)!,
    },
    generatorCpu: window.generatorCpu,
    serverCpu: window.serverCpu,
    errors: [],
  };
}

/** Subscribes one connection with `since` and returns the ack's `recovery`. */
async function subscribeAt(
  spec: Spec,
  since: { offset: number; epoch: string } | undefined,
): Promise<{ client: WsClient; recovery: { epoch: string; offset: number } }> {
  const client = await WsClient.connect(spec.host, spec.wsPort);
  await client.nextText();
  await client.send(JSON.stringify({
    messageType: "CLIENT_ACTION",
    action: "SUBSCRIBE",
    data: { channel: spec.channel, ...(since === undefined ? {} : { since }) },
  }));
  const ack = JSON.parse(await client.nextText()) as {
    message: string;
    data?: { recovery?: { epoch: string; offset: number } };
  };
  const recovery = ack.data?.recovery;
  if (ack.message !== "Subscribed" || recovery === undefined) {
    throw new Error(`subscribe to a history channel failed: ${JSON.stringify(ack)}`);
  }
  return { client, recovery };
}

async function closeAll(subscribers: Subscriber[]): Promise<void> {
  await Promise.all(subscribers.map(({ client }) => client.close().catch(() => {})));
}

const SCENARIOS: Record<Spec["scenario"], (spec: Spec) => Promise<Result>> = {
  fanout,
  latency,
  idle: idleMemory,
  publish,
  targeted,
  churn,
  recovery,
};

if (import.meta.main) {
  const spec = JSON.parse(Deno.args[0] ?? "{}") as Spec;
  let result: Result;
  try {
    result = await SCENARIOS[spec.scenario](spec);
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    result = { metrics: {}, generatorCpu: 0, serverCpu: 0, errors: [text] };
  }
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(result) + "\n"));
  Deno.exit(0);
}
