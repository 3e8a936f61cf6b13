/**
 * Shared support for the v1.1 black-box tests (history, private channels, rotation, compact
 * frames, abuse limits): publisher calls by action name, error assertions, and a WebSocket
 * client that keeps every frame both raw (for byte-for-byte checks) and parsed.
 */
import assert from "node:assert/strict";
import { clientFrame, type JsonReply, readJson } from "../_helpers.ts";

/** A parsed JSON frame or reply body: tests walk it freely. */
// deno-lint-ignore no-explicit-any -- frames and replies are arbitrary JSON
export type Json = any;

/** Where each publisher action is posted. */
export const ROUTES = {
  CREATE_CHANNEL: "/channel/create",
  PING_CHANNEL: "/channel/ping",
  PUSH_MESSAGE: "/push",
  DELETE_CHANNEL: "/channel/delete",
  AUTHORIZE_SUBSCRIBER: "/channel/authorize",
  REVOKE_SUBSCRIBER: "/channel/revoke",
  ROTATE_TOKEN: "/channel/rotate",
  READ_HISTORY: "/channel/history",
  PUSH_BATCH: "/push/batch",
  READ_PRESENCE: "/channel/presence",
} as const;

/** A publisher action name. */
export type ActionName = keyof typeof ROUTES;

/** The JSON content type of every publisher reply. */
export const JSON_TYPE = "application/json; charset=utf-8";

/** A v4 UUID that no connection has (the server makes its UUIDs with the CSPRNG). */
export const NOBODY = "00000000-0000-4000-8000-000000000000";

/** Anything with a publisher base URL (an in-process test server or a subprocess). */
export interface HasHttp {
  readonly httpUrl: string;
}

/** POSTs a `SERVER_ACTION` for `name` to its route, with optional extra headers. */
export async function call(
  server: HasHttp,
  name: ActionName,
  data: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<JsonReply> {
  return await postJson(`${server.httpUrl}${ROUTES[name]}`, {
    messageType: "SERVER_ACTION",
    action: name,
    data,
  }, headers);
}

/** POSTs `body` (an object is JSON-encoded, a string is sent as is) with extra headers. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<JsonReply> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return await readJson(response);
}

/** POSTs a `SERVER_ACTION` and returns the reply's exact status and body text. */
export async function callRaw(
  server: HasHttp,
  name: ActionName,
  data: Record<string, unknown>,
): Promise<{ status: number; text: string }> {
  const response = await fetch(`${server.httpUrl}${ROUTES[name]}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messageType: "SERVER_ACTION", action: name, data }),
  });
  return { status: response.status, text: await response.text() };
}

/** Asserts a 200 `SERVER_ACK` with `message` and exactly `data`. */
export function assertAck(reply: JsonReply, message: string, data: Record<string, unknown>): void {
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  assert.equal(reply.contentType, JSON_TYPE);
  assert.deepEqual(reply.body, { messageType: "SERVER_ACK", code: 200, message, data });
}

/** Asserts an `ERROR` reply (HTTP status = body code) and returns its `errorDetails`. */
export function assertError(reply: JsonReply, code: number, message: string): string | null {
  assert.equal(reply.status, code, JSON.stringify(reply.body));
  assert.equal(reply.contentType, JSON_TYPE);
  assert.equal(reply.body.messageType, "ERROR");
  assert.equal(reply.body.code, code);
  assert.equal(reply.body.message, message);
  assert.deepEqual(Object.keys(reply.body).sort(), ["code", "data", "message", "messageType"]);
  assert.deepEqual(Object.keys(reply.body.data), ["errorDetails"]);
  return reply.body.data.errorDetails;
}

/** Retention settings of a history channel. */
export interface History {
  size: number;
  ttlSeconds: number;
}

/** A created channel: its token and, on history channels, its epoch. */
export interface Created {
  token: string;
  epoch: string;
}

/** Creates `channel` with v1.1 options; throws unless the answer is 200. */
export async function createWith(
  server: HasHttp,
  channel: string,
  options: { history?: History | null; private?: boolean | null; presence?: boolean | null } = {},
  headers: Record<string, string> = {},
): Promise<Created> {
  const reply = await call(server, "CREATE_CHANNEL", { channel, ...options }, headers);
  if (reply.status !== 200) throw new Error(`create ${channel}: ${JSON.stringify(reply.body)}`);
  return { token: reply.body.data.channelToken, epoch: reply.body.data.epoch };
}

/** Broadcasts `message`; throws unless 200; resolves with the ack's `data`. */
export async function broadcast(
  server: HasHttp,
  channel: string,
  token: string,
  message: string,
): Promise<Json> {
  const reply = await call(server, "PUSH_MESSAGE", {
    channel,
    channelToken: token,
    recipients: [],
    message,
  });
  if (reply.status !== 200) throw new Error(`push ${channel}: ${JSON.stringify(reply.body)}`);
  return reply.body.data;
}

/** A resume point for `SUBSCRIBE`. */
export interface Since {
  offset: number;
  epoch: string;
}

/** A channel name no test creates, used by {@link WsClient.receivedNothing}. */
const SYNC_CHANNEL = "\u2063v11-sync";

/**
 * A subscriber WebSocket that records every text frame in arrival order, raw and parsed, and
 * reads them with a cursor. Optionally offers WebSocket subprotocols.
 */
export class WsClient implements AsyncDisposable {
  readonly socket: WebSocket;
  /** Every text frame received, as sent by the server. */
  readonly raw: string[] = [];
  readonly closed: Promise<CloseEvent>;
  uuid = "";
  /** Index of the next unread frame. */
  #cursor = 0;
  #wake: (() => void) | undefined;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.addEventListener("close", resolve));
    socket.addEventListener("message", (event) => {
      this.raw.push(typeof event.data === "string" ? event.data : "<binary>");
      this.#wake?.();
    });
    socket.addEventListener("close", () => this.#wake?.());
  }

  /** Connects, reads the `Connected` ack and keeps its UUID. */
  static async connect(url: string, protocols?: string[]): Promise<WsClient> {
    const client = new WsClient(
      protocols === undefined ? new WebSocket(url) : new WebSocket(url, protocols),
    );
    const hello = await client.next();
    if (hello?.message !== "Connected") {
      await client.close();
      throw new Error(`unexpected hello ${JSON.stringify(hello)}`);
    }
    client.uuid = hello.data.uuid;
    return client;
  }

  /** The next unread frame as sent, waiting up to `timeoutMs`. */
  async nextRaw(timeoutMs = 5000): Promise<string> {
    if (this.#cursor < this.raw.length) return this.raw[this.#cursor++]!;
    if (this.socket.readyState === WebSocket.CLOSED) {
      throw new Error("the socket closed before the next frame");
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#wake = resolve;
    const timer = setTimeout(resolve, timeoutMs);
    try {
      await promise;
    } finally {
      clearTimeout(timer);
      this.#wake = undefined;
    }
    if (this.#cursor < this.raw.length) return this.raw[this.#cursor++]!;
    throw new Error(
      this.socket.readyState === WebSocket.CLOSED
        ? "the socket closed before the next frame"
        : `no frame within ${timeoutMs} ms`,
    );
  }

  /** The next unread frame, parsed. */
  async next(timeoutMs = 5000): Promise<Json> {
    return JSON.parse(await this.nextRaw(timeoutMs));
  }

  /** Every frame received but not yet read (parsed), without waiting; marks them read. */
  drain(): Json[] {
    const unread = this.raw.slice(this.#cursor);
    this.#cursor = this.raw.length;
    return unread.map((frame) => JSON.parse(frame));
  }

  /** Sends a raw text frame. */
  send(text: string): void {
    this.socket.send(text);
  }

  /** Sends `SUBSCRIBE` (with `data.since` when given) and returns the next frame. */
  async subscribe(channel: string, since?: unknown): Promise<Json> {
    const data = since === undefined ? { channel } : { channel, since };
    this.send(JSON.stringify({ messageType: "CLIENT_ACTION", action: "SUBSCRIBE", data }));
    return await this.next();
  }

  /** Sends `UNSUBSCRIBE` and returns the next frame. */
  async unsubscribe(channel: string): Promise<Json> {
    this.send(clientFrame("UNSUBSCRIBE", channel));
    return await this.next();
  }

  /**
   * True when no frame arrived before now: the server answers each connection in the order it
   * produces frames, so if the answer to a no-op `UNSUBSCRIBE` comes next, nothing else was
   * sent before it.
   */
  async receivedNothing(): Promise<boolean> {
    if (this.#cursor < this.raw.length) return false;
    this.send(clientFrame("UNSUBSCRIBE", SYNC_CHANNEL));
    const frame = await this.next();
    return frame?.messageType === "CLIENT_ACK" && frame.message === "Unsubscribed";
  }

  /** Reads `CLIENT_PUSH` frames until one has `offset` (history channels), returning them all. */
  async pushesUpTo(offset: number, timeoutMs = 10_000): Promise<Json[]> {
    const deadline = Date.now() + timeoutMs;
    const frames: Json[] = [];
    for (;;) {
      const frame = await this.next(Math.max(1, deadline - Date.now()));
      assert.equal(frame.messageType, "CLIENT_PUSH", JSON.stringify(frame));
      frames.push(frame);
      if (frame.data.pushMessage.offset >= offset) return frames;
    }
  }

  /** Closes the socket and waits for the close to complete. */
  async close(): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close();
    await this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
