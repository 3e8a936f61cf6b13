/** Helpers for the client, CLI and browser tests: free ports and awaitable queues. */
import {
  PushError,
  type PushTransport,
  type TransportConnection,
  type TransportOpenOptions,
} from "../../src/client/pushserver.js";

/** A port that was free a moment ago (for tests that must restart a server on the same port). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Rejects after `ms` unless `promise` settles first; the timer never outlives the race. */
export async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** An unbounded queue: `put` from callbacks, `take` in order from the test. */
export class Inbox<T> {
  readonly #items: T[] = [];
  readonly #waiters: ((item: T) => void)[] = [];

  /** Adds an item, handing it to the oldest waiter if there is one. */
  put = (item: T): void => {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(item);
    else this.#items.push(item);
  };

  /** The next item, waiting up to `ms`. */
  take(ms = 5000): Promise<T> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift() as T);
    const { promise, resolve } = Promise.withResolvers<T>();
    this.#waiters.push(resolve);
    return within(ms, promise, "the next item").catch((error) => {
      const index = this.#waiters.indexOf(resolve);
      if (index >= 0) this.#waiters.splice(index, 1);
      throw error;
    });
  }

  /** Items queued and not yet taken. */
  get size(): number {
    return this.#items.length;
  }
}

/**
 * A TCP relay to `targetPort` on 127.0.0.1 that the test can close to new connections: while
 * `open` is false every connection is accepted and closed at once, so a client (a browser too)
 * keeps failing to reconnect until the test lets it through. Connections already relayed are
 * not touched.
 */
export class TcpGate implements AsyncDisposable {
  open = true;
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly #relays = new Set<Promise<void>>();
  readonly #conns = new Set<Deno.Conn>();
  readonly #accepting: Promise<void>;

  constructor(readonly targetPort: number) {
    this.#accepting = this.#accept();
  }

  /** The port clients connect to. */
  get port(): number {
    return this.#listener.addr.port;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        if (!this.open) {
          conn.close();
          continue;
        }
        const relay = this.#relay(conn);
        this.#relays.add(relay);
        relay.finally(() => this.#relays.delete(relay));
      }
    } catch {
      // The listener was closed.
    }
  }

  async #relay(client: Deno.Conn): Promise<void> {
    this.#conns.add(client);
    let upstream: Deno.Conn | undefined;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.targetPort });
      this.#conns.add(upstream);
      await Promise.allSettled([
        client.readable.pipeTo(upstream.writable),
        upstream.readable.pipeTo(client.writable),
      ]);
    } catch {
      // Nothing listens on the target (the server is down): the client sees a closed socket.
    } finally {
      for (const conn of [client, upstream]) {
        if (!conn) continue;
        this.#conns.delete(conn);
        try {
          conn.close();
        } catch {
          // pipeTo closed it already.
        }
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    await Promise.allSettled([...this.#relays]);
  }
}

/**
 * A scripted stand-in for a WebSocket server connection, passed to the client as
 * `options.WebSocket`: it records what the client sends and lets a test deliver frames. Every
 * instance is listed in `FakeWebSocket.instances` (reset it per test).
 */
export class FakeWebSocket {
  static instances: FakeWebSocket[] = [];
  /** Called for each instance as it is created (e.g. to answer with `Connected`). */
  static onCreate: (socket: FakeWebSocket) => void = () => {};

  readonly url: string;
  readonly protocols: string[];
  /** What the server chose from `protocols` (set before `open`); "" for none. */
  protocol = "";
  readyState = 0;
  /** Frames the client sent, parsed, with the time they were sent (performance.now()). */
  readonly sent: { at: number; frame: Record<string, unknown> }[] = [];
  /** The scripted server: its answer to each frame the client sends (null: no answer). */
  reply: (frame: Record<string, unknown>) => Record<string, unknown> | null = () => null;
  /** Resolvers waiting for the next sent frame. */
  readonly #sendWaiters: (() => void)[] = [];
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  readonly #closeListeners: (() => void)[] = [];

  constructor(url: string, protocols?: string | string[]) {
    this.url = url;
    this.protocols = protocols === undefined ? [] : [protocols].flat();
    FakeWebSocket.instances.push(this);
    // A macrotask, as with a real socket: the client sets its handlers after the constructor, and
    // a microtask may already run in between (Deno's setTimeout() can drain the queue).
    setTimeout(() => FakeWebSocket.onCreate(this), 0);
  }

  /** The server side: accepts the connection (optionally a subprotocol) and says `Connected`. */
  accept(protocol = "", hello: Record<string, unknown> | null = null): void {
    this.protocol = protocol;
    this.readyState = 1;
    this.onopen?.(new Event("open"));
    if (hello) this.deliver(hello);
  }

  /** The server side: sends one frame (an object is JSON-encoded). */
  deliver(frame: Record<string, unknown> | string): void {
    this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
  }

  /** The server side: closes the connection. */
  drop(code = 1006, reason = ""): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
    for (const listener of this.#closeListeners.splice(0)) listener();
  }

  /** Resolves once the client has sent at least `count` frames in all. */
  async sentCount(count: number, ms = 5000): Promise<void> {
    while (this.sent.length < count) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#sendWaiters.push(resolve);
      await within(ms, promise, `frame number ${count} from the client`);
    }
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("send() on a socket that is not open");
    const frame = JSON.parse(data);
    this.sent.push({ at: performance.now(), frame });
    for (const waiter of this.#sendWaiters.splice(0)) waiter();
    const answer = this.reply(frame);
    if (answer) queueMicrotask(() => this.readyState === 1 && this.deliver(answer));
  }

  close(code = 1000, reason = ""): void {
    queueMicrotask(() => this.drop(code, reason));
  }

  addEventListener(type: string, listener: () => void): void {
    if (type === "close") this.#closeListeners.push(listener);
  }
}

/**
 * A server that speaks only v1 (it never accepts a subprotocol): it says `Connected` and acks
 * every SUBSCRIBE with the whole list, as servers before compact frames did.
 */
export function startV1Server(): AsyncDisposable & { url: string } {
  const sockets = new Set<WebSocket>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    const uuid = crypto.randomUUID();
    const channels: string[] = [];
    sockets.add(socket);
    socket.onopen = () => {
      socket.send(JSON.stringify({
        messageType: "CLIENT_ACK",
        code: 200,
        message: "Connected",
        data: { uuid, subscribedChannels: [] },
      }));
    };
    socket.onmessage = (event) => {
      const channel = String(JSON.parse(String(event.data)).data.channel);
      if (!channels.includes(channel)) channels.push(channel);
      socket.send(JSON.stringify({
        messageType: "CLIENT_ACK",
        code: 200,
        message: "Subscribed",
        data: { uuid, subscribedChannels: [...channels] },
      }));
    };
    socket.onclose = () => sockets.delete(socket);
    return response;
  });
  return {
    url: `ws://127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      for (const socket of sockets) socket.close();
      await server.shutdown();
    },
  };
}

/** A client frame as the fake transport received it. */
export type ClientFrame = {
  messageType: string;
  action: string;
  data: { channel: string; since?: { offset: number; epoch: string } };
};

/**
 * A scripted server behind the client's transport interface (`options.transports`): no socket,
 * no timers. Each `open()` becomes a {@link FakeConnection}, or fails while `refusing` is above 0.
 */
export class FakeTransportServer {
  readonly connections: FakeConnection[] = [];
  /** The next this many opens fail (the server is unreachable). */
  refusing = 0;
  /** The answers to each client frame (none by default). */
  reply: (frame: ClientFrame, connection: FakeConnection) => Record<string, unknown>[] = () => [];
  readonly #opened = new Inbox<FakeConnection>();
  #count = 0;

  /** A transport named `name` that opens connections to this server. */
  transport(name = "fake"): PushTransport {
    return {
      name,
      open: (url, options) => {
        if (this.refusing > 0) {
          this.refusing--;
          return Promise.reject(new PushError(0, "Connection failed", `${url} refused`));
        }
        const uuid = `00000000-0000-4000-8000-${String(++this.#count).padStart(12, "0")}`;
        const connection = new FakeConnection(this, uuid, options);
        this.connections.push(connection);
        this.#opened.put(connection);
        return Promise.resolve(connection);
      },
    };
  }

  /** The next connection the client opens. */
  nextConnection(ms = 5000): Promise<FakeConnection> {
    return this.#opened.take(ms);
  }
}

/** One connection of a {@link FakeTransportServer}. */
export class FakeConnection implements TransportConnection {
  readonly compact = true;
  readonly sent: ClientFrame[] = [];
  closed = false;
  readonly #frames = new Inbox<ClientFrame>();

  constructor(
    readonly server: FakeTransportServer,
    readonly uuid: string,
    readonly options: TransportOpenOptions,
  ) {}

  send(frame: Record<string, unknown>): void {
    if (this.closed) throw new Error("send() on a closed connection");
    const sent = structuredClone(frame) as ClientFrame;
    this.sent.push(sent);
    this.#frames.put(sent);
    const answers = this.server.reply(sent, this);
    queueMicrotask(() => answers.forEach((answer) => this.deliver(answer)));
  }

  /** The next frame the client sends. */
  nextFrame(ms = 5000): Promise<ClientFrame> {
    return this.#frames.take(ms);
  }

  /** Frames sent and not yet taken with {@link nextFrame}. */
  get pending(): number {
    return this.#frames.size;
  }

  /** The server side: sends one frame. */
  deliver(frame: Record<string, unknown>): void {
    if (!this.closed) this.options.onFrame(frame);
  }

  /** The server side: the connection drops. */
  drop(code = 1006, reason = ""): void {
    if (this.closed) return;
    this.closed = true;
    this.options.onClose(code, reason);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}
