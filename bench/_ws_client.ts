/**
 * A minimal RFC 6455 client over a raw loopback TCP socket, for the load generator only.
 *
 * Why not the built-in `WebSocket`: it dispatches one event (and one async op) per message, so
 * with thousands of sockets the generator, not the server, becomes the bottleneck. This client
 * reads whatever the kernel has buffered in one call and walks the frames in place, so its cost
 * per delivery shrinks as load grows. It speaks the real protocol: the server sees an ordinary
 * browser-like client (masked frames, close handshake, pong on ping).
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Called for every text frame once a handler is set; the payload is `bytes[start, end)`. */
export type MessageHandler = (bytes: Uint8Array, start: number, end: number) => void;

const OP_TEXT = 1;
const OP_BINARY = 2;
const OP_CLOSE = 8;
const OP_PING = 9;

/** One client connection. Text frames go to `onMessage` when set, else to {@link nextText}. */
export class WsClient {
  readonly #conn: Deno.TcpConn;
  #buf = new Uint8Array(8192);
  #start = 0;
  #end = 0;
  #queue: string[] = [];
  #waiter: PromiseWithResolvers<string> | undefined;
  #closing = false;
  /** Fast path for bulk phases: no decoding, no copy. */
  onMessage: MessageHandler | undefined;
  /** Resolves when the TCP connection is gone (EOF, error or close handshake done). */
  readonly closed: Promise<void>;

  private constructor(conn: Deno.TcpConn, leftover: Uint8Array) {
    this.#conn = conn;
    this.#append(leftover);
    this.closed = this.#readLoop();
  }

  /** Opens a TCP connection and performs the opening handshake, offering `protocols`. */
  static async connect(
    host: string,
    port: number,
    path = "/",
    protocols: readonly string[] = [],
  ): Promise<WsClient> {
    const conn = await Deno.connect({ hostname: host, port });
    conn.setNoDelay(true);
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    await writeAll(
      conn,
      encoder.encode(
        `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
          (protocols.length > 0 ? `Sec-WebSocket-Protocol: ${protocols.join(", ")}\r\n` : "") +
          "\r\n",
      ),
    );
    let head: Uint8Array = new Uint8Array(0);
    for (;;) {
      const chunk = new Uint8Array(4096);
      const n = await conn.read(chunk);
      if (n === null) {
        conn.close();
        throw new Error("WebSocket handshake: connection closed");
      }
      head = concat(head, chunk.subarray(0, n));
      const end = indexOfHeadEnd(head);
      if (end < 0) continue;
      const statusLine = decoder.decode(head.subarray(0, Math.min(end, 64))).split("\r\n")[0];
      if (!statusLine?.startsWith("HTTP/1.1 101")) {
        conn.close();
        throw new Error(`WebSocket handshake refused: ${statusLine}`);
      }
      return new WsClient(conn, head.subarray(end + 4));
    }
  }

  /** The next text frame, for handshake-style steps (only when `onMessage` is unset). */
  nextText(): Promise<string> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    this.#waiter = Promise.withResolvers<string>();
    return this.#waiter.promise;
  }

  /** Sends one masked text frame. */
  send(text: string): Promise<void> {
    return writeAll(this.#conn, frame(OP_TEXT, encoder.encode(text)));
  }

  /** Starts the close handshake and waits until the server has closed the TCP connection. */
  async close(code = 1000): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      try {
        await writeAll(this.#conn, frame(OP_CLOSE, new Uint8Array([code >> 8, code & 0xff])));
      } catch {
        // Already gone.
      }
    }
    await this.closed;
  }

  /** Drops the TCP connection without a close handshake. */
  abort(): void {
    this.#closing = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  async #readLoop(): Promise<void> {
    try {
      this.#parse();
      for (;;) {
        if (this.#end === this.#buf.length) this.#compact();
        const n = await this.#conn.read(this.#buf.subarray(this.#end));
        if (n === null) break;
        this.#end += n;
        if (this.#parse()) break;
        if (this.#start === this.#end) this.#start = this.#end = 0;
      }
    } catch (error) {
      if (!this.#closing) this.#waiter?.reject(error);
    } finally {
      try {
        this.#conn.close();
      } catch {
        // Already closed.
      }
      this.#waiter?.reject(new Error("WebSocket closed"));
    }
  }

  /** Walks complete frames in the buffer; returns true once the server's close frame arrived. */
  #parse(): boolean {
    const buf = this.#buf;
    for (;;) {
      const available = this.#end - this.#start;
      if (available < 2) return false;
      const b0 = buf[this.#start]!;
      const b1 = buf[this.#start + 1]!;
      let length = b1 & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (available < 4) return false;
        length = (buf[this.#start + 2]! << 8) | buf[this.#start + 3]!;
        offset = 4;
      } else if (length === 127) {
        if (available < 10) return false;
        length = 0;
        for (let i = 2; i < 10; i++) length = length * 256 + buf[this.#start + i]!;
        offset = 10;
      }
      if ((b1 & 0x80) !== 0) throw new Error("server frames must not be masked");
      if (available < offset + length) {
        if (offset + length > buf.length) this.#grow(offset + length);
        return false;
      }
      const start = this.#start + offset;
      const end = start + length;
      this.#start = end;
      const opcode = b0 & 0x0f;
      if ((b0 & 0x80) === 0) throw new Error("fragmented frames are not expected");
      if (opcode === OP_TEXT || opcode === OP_BINARY) this.#deliver(buf, start, end);
      else if (opcode === OP_PING) {
        writeAll(this.#conn, frame(0xa, buf.slice(start, end))).catch(() => {});
      } else if (opcode === OP_CLOSE) {
        if (!this.#closing) {
          this.#closing = true;
          writeAll(this.#conn, frame(OP_CLOSE, buf.slice(start, end))).catch(() => {});
        }
        return true;
      }
    }
  }

  #deliver(buf: Uint8Array, start: number, end: number): void {
    if (this.onMessage !== undefined) return this.onMessage(buf, start, end);
    const text = decoder.decode(buf.subarray(start, end));
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter.resolve(text);
    } else this.#queue.push(text);
  }

  #append(bytes: Uint8Array): void {
    if (bytes.length > this.#buf.length - this.#end) this.#grow(this.#end + bytes.length);
    this.#buf.set(bytes, this.#end);
    this.#end += bytes.length;
  }

  #compact(): void {
    this.#buf.copyWithin(0, this.#start, this.#end);
    this.#end -= this.#start;
    this.#start = 0;
  }

  #grow(size: number): void {
    this.#compact();
    if (size <= this.#buf.length) return;
    const bigger = new Uint8Array(Math.max(size, this.#buf.length * 2));
    bigger.set(this.#buf.subarray(0, this.#end));
    this.#buf = bigger;
  }
}

/** A masked client frame. */
function frame(opcode: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const extra = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + extra + 4 + length);
  out[0] = 0x80 | opcode;
  if (extra === 0) out[1] = 0x80 | length;
  else if (extra === 2) {
    out[1] = 0x80 | 126;
    out[2] = length >> 8;
    out[3] = length & 0xff;
  } else {
    out[1] = 0x80 | 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(length));
  }
  const maskAt = 2 + extra;
  crypto.getRandomValues(out.subarray(maskAt, maskAt + 4));
  for (let i = 0; i < length; i++) out[maskAt + 4 + i] = payload[i]! ^ out[maskAt + (i & 3)]!;
  return out;
}

/** Writes every byte (a socket write may be partial). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Index of "\r\n\r\n", or -1. */
export function indexOfHeadEnd(bytes: Uint8Array, from = 0): number {
  for (let i = from; i + 3 < bytes.length; i++) {
    if (
      bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10
    ) return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
