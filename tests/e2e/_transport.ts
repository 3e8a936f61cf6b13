/**
 * One subscriber test client over either transport, so that the same test body runs over a
 * WebSocket and over Server-Sent Events (`GET /sse` + `POST /sse/command`), and backends: the
 * single-node server or two cluster nodes sharing one throwaway redis-server.
 */
import { RedisServer } from "../cluster/_redis.ts";
import { clientFrame, startTestServer, TestClient, type TestServer } from "../_helpers.ts";
import type { Json } from "./_v11.ts";
import type { ServerOverrides } from "../../src/server.ts";

/** The subscriber transports a test can run over. */
export type Transport = "websocket" | "sse";
/** Where the server's state lives. */
export type Backend = "local" | "cluster";

/** Every (transport, backend) pair: tests loop over it around `Deno.test`. */
export const MATRIX: readonly { transport: Transport; backend: Backend }[] = [
  { transport: "websocket", backend: "local" },
  { transport: "sse", backend: "local" },
  { transport: "websocket", backend: "cluster" },
  { transport: "sse", backend: "cluster" },
];

/** A subscriber connection: frames in the order received, and raw client frames out. */
export interface Subscriber extends AsyncDisposable {
  readonly uuid: string;
  /** Sends one client frame (a JSON text) and waits until the server took it. */
  send(text: string): Promise<void>;
  /** The next frame, parsed. */
  next(timeoutMs?: number): Promise<Json>;
  /**
   * Sends a frame the server refuses as malformed and returns the `ERROR` (on the connection
   * over WebSocket; as the 400 answer of `POST /sse/command` over SSE, with nothing on the stream).
   */
  refused(text: string): Promise<Json>;
  /** True when nothing was received before now (see TestClient.receivedNothing). */
  receivedNothing(): Promise<boolean>;
  close(): Promise<void>;
}

/** Sends `SUBSCRIBE` with extra `data` fields and returns the answer. */
export async function subscribe(
  client: Subscriber,
  channel: string,
  data: Record<string, unknown> = {},
): Promise<Json> {
  await client.send(
    JSON.stringify({
      messageType: "CLIENT_ACTION",
      action: "SUBSCRIBE",
      data: { channel, ...data },
    }),
  );
  return await client.next();
}

/** Sends `UNSUBSCRIBE` and returns the answer. */
export async function unsubscribe(client: Subscriber, channel: string): Promise<Json> {
  await client.send(clientFrame("UNSUBSCRIBE", channel));
  return await client.next();
}

class WsSubscriber implements Subscriber {
  constructor(readonly client: TestClient) {}
  get uuid(): string {
    return this.client.uuid;
  }
  send(text: string): Promise<void> {
    this.client.sendRaw(text);
    return Promise.resolve();
  }
  next(timeoutMs?: number): Promise<Json> {
    return this.client.next(timeoutMs);
  }
  async refused(text: string): Promise<Json> {
    this.client.sendRaw(text);
    return await this.client.next();
  }
  receivedNothing(): Promise<boolean> {
    return this.client.receivedNothing();
  }
  close(): Promise<void> {
    return this.client.close();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Connects a subscriber to `server` over `transport`. */
export async function connect(
  server: TestServer,
  transport: Transport,
  options: { compact?: boolean } = {},
): Promise<Subscriber> {
  if (transport === "websocket") {
    return new WsSubscriber(
      await TestClient.connect(server.wsUrl, options.compact ? ["pushserver.compact"] : undefined),
    );
  }
  const { SseClient } = await import("./_sse_client.ts");
  return await SseClient.connect(server, options);
}

/** Two nodes sharing one backend (the same node twice in local mode), disposed together. */
export interface Nodes extends AsyncDisposable {
  /** Where subscribers connect. */
  readonly a: TestServer;
  /** Where publishers call (another node in cluster mode). */
  readonly b: TestServer;
}

/** Starts the servers of `backend` with `env`. */
export async function startNodes(
  backend: Backend,
  env: Record<string, string> = {},
  overrides: ServerOverrides = {},
): Promise<Nodes> {
  if (backend === "local") {
    const a = await startTestServer(env, overrides);
    return { a, b: a, [Symbol.asyncDispose]: () => a.shutdown() };
  }
  const redis = await RedisServer.start();
  const a = await startTestServer({ REDIS_URL: redis.url, ...env }, overrides);
  const b = await startTestServer({ REDIS_URL: redis.url, ...env }, overrides);
  return {
    a,
    b,
    async [Symbol.asyncDispose]() {
      await a.shutdown();
      await b.shutdown();
      await redis[Symbol.asyncDispose]();
    },
  };
}

/** Timers a test fires by moving its clock (injected as `ServerOverrides.timers` and `now`). */
export class FakeTimers {
  #now: number;
  #next = 1;
  readonly #due = new Map<number, { at: number; callback: () => void }>();

  constructor(start = Date.now()) {
    this.#now = start;
  }

  /** The fake clock, in ms since the epoch. */
  now = (): number => this.#now;

  setTimeout = (callback: () => void, ms: number): unknown => {
    const id = this.#next++;
    this.#due.set(id, { at: this.#now + ms, callback });
    return id;
  };

  clearTimeout = (id: unknown): void => {
    this.#due.delete(id as number);
  };

  /** Timers waiting to fire. */
  get pending(): number {
    return this.#due.size;
  }

  /** Moves the clock forward by `ms` and runs every timer due by then, in due order. */
  advance(ms: number): void {
    this.#now += ms;
    for (;;) {
      const due = [...this.#due].filter(([, t]) => t.at <= this.#now).sort((x, y) =>
        x[1].at - y[1].at
      );
      if (due.length === 0) return;
      const [id, timer] = due[0]!;
      this.#due.delete(id);
      timer.callback();
    }
  }
}
