/** Shared test helpers: a real server on free ports, a frame-queue WebSocket client, HTTP calls. */
import { type Config, loadConfig } from "../src/config.ts";
import { silentLogger } from "../src/log.ts";
import { type RunningServer, type ServerOverrides, startServer } from "../src/server.ts";
import { checkCloseCode, checkFetches, checkFrame, record, Watch, watchedAt } from "./_contract.ts";

/** A Config for tests: port 0 for both listeners, in-memory DB, bcrypt cost 4. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    HOST: "127.0.0.1",
    PORT_WS: "0",
    PORT_HTTP: "0",
    DB_PATH: ":memory:",
    BCRYPT_COST: "4",
    LOG_LEVEL: "error",
    ...env,
  });
}

/** A started server plus URLs to reach it. Dispose it with `await using`. */
export interface TestServer extends RunningServer {
  readonly httpUrl: string;
  readonly wsUrl: string;
}

/**
 * Starts the real server wiring in-process on free ports. Every answer and frame the test gets
 * from it is checked against the API description; `shutdown()` throws if one did not match.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  overrides: ServerOverrides = {},
): Promise<TestServer> {
  const server = await startServer(testConfig(env), { logger: silentLogger(), ...overrides });
  checkFetches();
  const watch = new Watch({
    http: `127.0.0.1:${server.httpPort}`,
    ws: `127.0.0.1:${server.wsPort}`,
  });
  const stop = server.shutdown;
  const shutdown = async () => {
    await stop();
    watch.end();
  };
  return Object.assign(server, {
    httpUrl: `http://127.0.0.1:${server.httpPort}`,
    wsUrl: `ws://127.0.0.1:${server.wsPort}`,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  });
}

/** Anything with a publisher base URL: a test server, or a deployment of tests/e2e/_backends.ts. */
export interface HasHttpUrl {
  readonly httpUrl: string;
}

/** A JSON HTTP response, fully read. */
export interface JsonReply {
  status: number;
  contentType: string | null;
  headers: Headers;
  // deno-lint-ignore no-explicit-any -- test assertions walk arbitrary JSON
  body: any;
}

/** POSTs `body` (an object is JSON-encoded; a string is sent as is) and reads the JSON reply. */
export async function post(url: string, body: unknown): Promise<JsonReply> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" || body instanceof Uint8Array
      ? body as BodyInit
      : JSON.stringify(body),
  });
  return await readJson(response);
}

/** Reads a response as JSON (the body is always consumed). */
export async function readJson(response: Response): Promise<JsonReply> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    headers: response.headers,
    body,
  };
}

/** The `SERVER_ACTION` body for a publisher action. */
export function action(name: string, data: Record<string, unknown>): Record<string, unknown> {
  return { messageType: "SERVER_ACTION", action: name, data };
}

/** A channel name no test creates, used by {@link TestClient.receivedNothing}. */
const SYNC_CHANNEL = "\u2063test-sync";

/** A subscriber `CLIENT_ACTION` frame, as sent on the wire. */
export function clientFrame(
  action: string,
  channel: unknown,
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({ messageType: "CLIENT_ACTION", action, data: { channel }, ...extra });
}

/** Creates a channel over HTTP and returns its token. */
export async function createChannel(server: HasHttpUrl, channel: string): Promise<string> {
  const reply = await post(
    `${server.httpUrl}/channel/create`,
    action("CREATE_CHANNEL", { channel }),
  );
  if (reply.status !== 200) throw new Error(`create ${channel}: ${JSON.stringify(reply.body)}`);
  return reply.body.data.channelToken;
}

/** Pushes over HTTP. */
export function push(
  server: HasHttpUrl,
  data: { channel: string; channelToken: string | null; message: string; recipients?: string[] },
): Promise<JsonReply> {
  return post(`${server.httpUrl}/push`, action("PUSH_MESSAGE", { recipients: [], ...data }));
}

/** A WebSocket client that queues every frame so tests can await them in order. */
export class TestClient implements AsyncDisposable {
  readonly socket: WebSocket;
  // deno-lint-ignore no-explicit-any -- frames are arbitrary JSON
  readonly #frames: any[] = [];
  // deno-lint-ignore no-explicit-any
  #waiter: ((frame: any) => void) | undefined;
  readonly closed: Promise<CloseEvent>;
  uuid = "";

  private constructor(socket: WebSocket) {
    this.socket = socket;
    const host = new URL(socket.url).host;
    const checked = watchedAt(host) !== undefined;
    this.closed = new Promise((resolve) =>
      socket.addEventListener("close", (event) => {
        if (checked) record(host, checkCloseCode(event.code));
        resolve(event);
      })
    );
    socket.addEventListener("message", (event) => {
      if (checked && typeof event.data === "string") record(host, checkFrame(event.data));
      const frame = typeof event.data === "string" ? JSON.parse(event.data) : event.data;
      if (this.#waiter) {
        const waiter = this.#waiter;
        this.#waiter = undefined;
        waiter(frame);
      } else this.#frames.push(frame);
    });
  }

  /** Connects (offering `protocols`) and consumes the `Connected` ack (its UUID is kept in `uuid`). */
  static async connect(url: string, protocols?: string | string[]): Promise<TestClient> {
    const client = new TestClient(new WebSocket(url, protocols));
    const hello = await client.next();
    if (hello?.message !== "Connected") {
      throw new Error(`unexpected hello ${JSON.stringify(hello)}`);
    }
    client.uuid = hello.data.uuid;
    return client;
  }

  /** The next frame (parsed JSON), waiting up to `timeoutMs`. */
  // deno-lint-ignore no-explicit-any
  next(timeoutMs = 5000): Promise<any> {
    const queued = this.#frames.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    const { promise, resolve, reject } = Promise.withResolvers();
    const timer = setTimeout(() => {
      this.#waiter = undefined;
      reject(new Error(`no frame within ${timeoutMs} ms`));
    }, timeoutMs);
    this.#waiter = (frame) => {
      clearTimeout(timer);
      resolve(frame);
    };
    return promise;
  }

  /**
   * True when no frame was sent to this client before now. The server answers each connection in
   * the order it produces frames, so if the reply to a no-op UNSUBSCRIBE comes next, nothing
   * (such as a push that must not reach this client) was sent before it. No sleeping involved.
   */
  async receivedNothing(): Promise<boolean> {
    if (this.#frames.length > 0) return false;
    this.sendRaw(clientFrame("UNSUBSCRIBE", SYNC_CHANNEL));
    const frame = await this.next();
    return frame?.messageType === "CLIENT_ACK" && frame.message === "Unsubscribed";
  }

  /** Sends a raw frame. */
  sendRaw(data: string | Uint8Array): void {
    this.socket.send(data);
  }

  /** Sends a CLIENT_ACTION and returns the server's answer. */
  // deno-lint-ignore no-explicit-any
  async act(action: "SUBSCRIBE" | "UNSUBSCRIBE", channel: string, extra = {}): Promise<any> {
    this.sendRaw(clientFrame(action, channel, extra));
    return await this.next();
  }

  /** Closes the socket and waits for the close to complete. */
  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close();
    await this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
