/**
 * A Server-Sent Events subscriber for tests: `GET /sse` read with fetch, events parsed as they
 * arrive, commands sent with `POST /sse/command`. Frames after `Connected` are checked against
 * the AsyncAPI document like WebSocket frames.
 */
import { checkFrame, record, watchedAt } from "../_contract.ts";
import { clientFrame, type TestServer } from "../_helpers.ts";
import type { Json } from "./_v11.ts";
import type { Subscriber } from "./_transport.ts";

const SYNC_CHANNEL = "\u2063sse-sync";

/** One parsed event-stream block. */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
}

/** The base URL of a server's subscriber port over plain HTTP. */
export function sseBase(server: TestServer): string {
  return `http://127.0.0.1:${server.wsPort}`;
}

/** Reads an event stream into events and comments. */
export class EventReader {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  ended = false;
  readonly done: Promise<void>;
  #wake: (() => void) | undefined;
  readonly #reader: ReadableStreamDefaultReader<string>;

  constructor(body: ReadableStream<Uint8Array>, onEvent: (event: SseEvent) => void = () => {}) {
    this.#reader = body.pipeThrough(new TextDecoderStream()).getReader();
    this.done = this.#pump(onEvent);
  }

  async #pump(onEvent: (event: SseEvent) => void): Promise<void> {
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await this.#reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = "message";
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) this.comments.push(line.slice(1).trim());
            else if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data.push(line.slice(6));
          }
          if (data.length > 0) {
            const parsed = { event, data: data.join("\n") };
            this.events.push(parsed);
            onEvent(parsed);
          }
          this.#wake?.();
        }
      }
    } catch {
      // Cancelled, or the connection broke: the stream has ended either way.
    } finally {
      this.ended = true;
      this.#wake?.();
    }
  }

  /** Resolves at the next event or comment, the stream's end, or after `timeoutMs`. */
  async changed(timeoutMs: number): Promise<void> {
    if (this.ended) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#wake = resolve;
    const timer = setTimeout(resolve, timeoutMs);
    try {
      await promise;
    } finally {
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }

  /** Stops reading. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
    await this.done;
  }
}

/** A subscriber over SSE. */
export class SseClient implements Subscriber {
  uuid = "";
  session = "";
  readonly reader: EventReader;
  readonly base: string;
  #cursor = 0;

  private constructor(base: string, body: ReadableStream<Uint8Array>, host: string) {
    this.base = base;
    const checked = watchedAt(host) !== undefined;
    let first = true;
    this.reader = new EventReader(body, (event) => {
      if (checked && event.event === "message" && !first) record(host, checkFrame(event.data));
      first = false;
    });
  }

  /** Opens `GET /sse` (with `query`) and reads `Connected`. */
  static async connect(
    server: TestServer,
    options: { compact?: boolean; query?: string; headers?: Record<string, string> } = {},
  ): Promise<SseClient> {
    const base = sseBase(server);
    const params = new URLSearchParams(options.query ?? "");
    if (options.compact) params.set("compact", "1");
    const query = params.size === 0 ? "" : `?${params}`;
    const response = await fetch(`${base}/sse${query}`, {
      headers: { accept: "text/event-stream", ...options.headers },
    });
    if (response.status !== 200 || response.body === null) {
      await response.body?.cancel();
      throw new Error(`GET /sse answered ${response.status}`);
    }
    const client = new SseClient(base, response.body, `127.0.0.1:${server.wsPort}`);
    const hello = await client.next();
    if (hello?.message !== "Connected") {
      throw new Error(`unexpected hello ${JSON.stringify(hello)}`);
    }
    client.uuid = hello.data.uuid;
    client.session = hello.data.session;
    return client;
  }

  /** Posts a command body; resolves with the answer. */
  async post(body: string, session = this.session): Promise<Response> {
    return await fetch(`${this.base}/sse/command`, {
      method: "POST",
      headers: { authorization: `Bearer ${session}`, "content-type": "application/json" },
      body,
    });
  }

  async send(text: string): Promise<void> {
    const response = await this.post(text);
    await response.body?.cancel();
    if (response.status !== 202) throw new Error(`POST /sse/command answered ${response.status}`);
  }

  /** The next `data:` event of the default type, parsed. */
  async next(timeoutMs = 5000): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#cursor < this.reader.events.length) {
        const event = this.reader.events[this.#cursor++]!;
        if (event.event === "message") return JSON.parse(event.data);
      }
      if (this.reader.ended) throw new Error("the stream ended before the next frame");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      await this.reader.changed(left);
    }
  }

  /** Waits for the stream to end; resolves with its last `close` event, if any. */
  async ended(timeoutMs = 10_000): Promise<Json | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (!this.reader.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the stream did not end within ${timeoutMs} ms`);
      await this.reader.changed(left);
    }
    const close = this.reader.events.findLast((e) => e.event === "close");
    return close === undefined ? undefined : JSON.parse(close.data);
  }

  async refused(text: string): Promise<Json> {
    const response = await this.post(text);
    const body = await response.json();
    if (response.status !== 400) throw new Error(`POST /sse/command answered ${response.status}`);
    if (!(await this.receivedNothing())) throw new Error("a refused command reached the stream");
    return body;
  }

  async receivedNothing(): Promise<boolean> {
    if (this.reader.events.slice(this.#cursor).some((e) => e.event === "message")) return false;
    await this.send(clientFrame("UNSUBSCRIBE", SYNC_CHANNEL));
    const frame = await this.next();
    return frame?.messageType === "CLIENT_ACK" && frame.message === "Unsubscribed";
  }

  async close(): Promise<void> {
    await this.reader.cancel();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
