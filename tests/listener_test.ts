import assert from "node:assert/strict";
import { openListener, type ServeFunction } from "../src/listener.ts";
import { silentLogger } from "../src/log.ts";

const EMFILE = "Too many open files (os error 24)";
const EADDRINUSE = "Address already in use (os error 98)";

/** A stand-in for Deno.serve: each call binds one fake server whose accept loop a test can kill. */
class FakeServe {
  readonly servers: {
    port: number;
    die: (error: Error) => void;
    shutdowns: number;
  }[] = [];
  /** Errors the next calls throw instead of binding, in order. */
  readonly failures: string[] = [];
  readonly ports: number[] = [];
  /** When set, every shutdown also waits for it (a request still in flight). */
  inFlight: PromiseWithResolvers<void> | undefined;

  readonly serve: ServeFunction = (options) => {
    this.ports.push(options.port ?? -1);
    const failure = this.failures.shift();
    if (failure !== undefined) throw new Error(failure);
    const finished = Promise.withResolvers<void>();
    const port = options.port === 0 ? 40_000 : options.port!;
    const entry = { port, die: (error: Error) => finished.reject(error), shutdowns: 0 };
    this.servers.push(entry);
    const inFlight = this.inFlight;
    return {
      addr: { transport: "tcp", hostname: "127.0.0.1", port },
      finished: finished.promise,
      shutdown() {
        entry.shutdowns++;
        finished.resolve();
        // A graceful shutdown resolves once the requests in flight have finished.
        return Promise.all([finished.promise.catch(() => {}), inFlight?.promise]).then(() => {});
      },
      ref() {},
      unref() {},
      [Symbol.asyncDispose]() {
        return this.shutdown();
      },
    } satisfies Deno.HttpServer<Deno.NetAddr>;
  };
}

/** Deferred callbacks, run by hand. */
class FakeTimers {
  readonly waits: { callback: () => void; ms: number; cancelled: boolean }[] = [];
  readonly defer = (callback: () => void, ms: number) => {
    const wait = { callback, ms, cancelled: false };
    this.waits.push(wait);
    return () => wait.cancelled = true;
  };
  /** Runs the most recent wait. */
  fire(): void {
    const wait = this.waits.at(-1);
    assert.ok(wait !== undefined && !wait.cancelled, "a retry is pending");
    wait.callback();
  }
}

function setup(now = () => 0, options: { closeIdleOnExhaustion?: boolean } = {}) {
  const fake = new FakeServe();
  const timers = new FakeTimers();
  const listener = openListener({
    variable: "PORT_HTTP",
    hostname: "127.0.0.1",
    port: 0,
    handler: () => new Response("ok"),
    onError: () => new Response("error", { status: 500 }),
    logger: silentLogger(),
    serve: fake.serve,
    defer: timers.defer,
    now,
    ...options,
  });
  return { fake, timers, listener };
}

/** Lets the listener's `finished` handlers run. */
const settle = () => new Promise<void>((resolve) => queueMicrotask(resolve));

Deno.test("openListener() re-opens the same port after the accept loop dies, backing off 10 ms → 1 s", async () => {
  const { fake, timers, listener } = setup();
  assert.equal(listener.port, 40_000);
  const delays: number[] = [];
  for (let i = 0; i < 9; i++) {
    fake.servers.at(-1)!.die(new Error(EMFILE));
    await settle();
    delays.push(timers.waits.at(-1)!.ms);
    timers.fire();
  }
  assert.deepEqual(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
  // The first bind asked for port 0; every re-open asks for the port actually bound.
  assert.deepEqual(fake.ports, [0, ...Array(9).fill(40_000)]);
  assert.equal(fake.servers.length, 10);
  await listener.shutdown();
});

Deno.test("openListener() starts over at 10 ms when the port had stayed up for more than 1 s", async () => {
  let clock = 0;
  const { fake, timers, listener } = setup(() => clock);
  for (let i = 0; i < 3; i++) {
    fake.servers.at(-1)!.die(new Error(EMFILE));
    await settle();
    timers.fire();
  }
  assert.equal(timers.waits.at(-1)!.ms, 40);
  clock += 1001;
  fake.servers.at(-1)!.die(new Error(EMFILE));
  await settle();
  assert.equal(timers.waits.at(-1)!.ms, 10);
  await listener.shutdown();
});

Deno.test("openListener() keeps retrying while descriptors stay exhausted, and never reports the port lost", async () => {
  const { fake, timers, listener } = setup();
  let lost: Error | undefined;
  listener.lost.then((error) => lost = error);
  fake.servers[0]!.die(new Error(EMFILE));
  await settle();
  fake.failures.push(...Array(50).fill(EMFILE));
  for (let i = 0; i < 51; i++) timers.fire();
  await settle();
  assert.equal(lost, undefined);
  assert.equal(fake.servers.length, 2, "bound again once a descriptor was free");
  await listener.shutdown();
});

Deno.test("openListener() reports the port lost after 5 failures to re-open for another reason", async () => {
  const { fake, timers, listener } = setup();
  let lost: Error | undefined;
  listener.lost.then((error) => lost = error);
  fake.servers[0]!.die(new Error(EMFILE));
  await settle();
  // Exhaustion in between does not count: the 5th non-exhaustion failure is the 6th attempt.
  fake.failures.push(EADDRINUSE, EADDRINUSE, EMFILE, EADDRINUSE, EADDRINUSE, EADDRINUSE);
  for (let i = 0; i < 5; i++) timers.fire();
  await settle();
  assert.equal(lost, undefined);
  const scheduled = timers.waits.length;
  timers.fire();
  const error = await listener.lost;
  assert.match(
    error.message,
    /^PORT_HTTP: the port 127\.0\.0\.1:40000 stopped and cannot be re-opened: Address already in use/,
  );
  assert.equal(timers.waits.length, scheduled, "no further retry is scheduled");
  await listener.shutdown();
});

Deno.test("openListener().shutdown() cancels a pending retry and shuts down the dead instances too", async () => {
  const { fake, timers, listener } = setup();
  fake.servers[0]!.die(new Error(EMFILE));
  await settle();
  timers.fire();
  fake.servers[1]!.die(new Error(EMFILE));
  await settle();
  await listener.shutdown();
  assert.equal(timers.waits.at(-1)!.cancelled, true);
  assert.deepEqual(fake.servers.map((s) => s.shutdowns), [1, 1]);
});

Deno.test("openListener() throws when the first bind fails", () => {
  const fake = new FakeServe();
  fake.failures.push(EADDRINUSE);
  assert.throws(
    () =>
      openListener({
        variable: "PORT_WS",
        hostname: "127.0.0.1",
        port: 5222,
        handler: () => new Response("ok"),
        onError: () => new Response("error", { status: 500 }),
        logger: silentLogger(),
        serve: fake.serve,
      }),
    /Address already in use/,
  );
});

Deno.test("openListener({ closeIdleOnExhaustion }) shuts an instance down as soon as its accept loop dies of EMFILE", async () => {
  const { fake, timers, listener } = setup(() => 0, { closeIdleOnExhaustion: true });
  fake.inFlight = Promise.withResolvers<void>();
  fake.servers[0]!.die(new Error(EMFILE));
  await settle();
  // Before the re-open: the graceful shutdown is what closes its idle connections.
  assert.equal(fake.servers[0]!.shutdowns, 1);
  timers.fire();
  assert.equal(fake.servers.length, 2);
  // listener.shutdown() still waits for the early one's requests in flight, without a second call.
  let stopped = false;
  const stopping = listener.shutdown().then(() => stopped = true);
  await settle();
  assert.equal(stopped, false);
  fake.inFlight.resolve();
  await stopping;
  assert.deepEqual(fake.servers.map((s) => s.shutdowns), [1, 1]);
});

Deno.test("openListener() without closeIdleOnExhaustion (the WebSocket port) keeps a dead instance's connections until shutdown", async () => {
  const { fake, timers, listener } = setup();
  fake.servers[0]!.die(new Error(EMFILE));
  await settle();
  timers.fire();
  assert.equal(fake.servers[0]!.shutdowns, 0);
  await listener.shutdown();
  assert.deepEqual(fake.servers.map((s) => s.shutdowns), [1, 1]);
});

Deno.test("openListener({ closeIdleOnExhaustion }) leaves an instance that died for another reason to shutdown()", async () => {
  const { fake, timers, listener } = setup(() => 0, { closeIdleOnExhaustion: true });
  fake.servers[0]!.die(new Error("Connection reset by peer (os error 104)"));
  await settle();
  timers.fire();
  assert.equal(fake.servers[0]!.shutdowns, 0);
  await listener.shutdown();
  assert.deepEqual(fake.servers.map((s) => s.shutdowns), [1, 1]);
});
