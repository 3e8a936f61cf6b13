/** A hand-made WebSocket client over raw TCP: it answers nothing (no pongs) and reads only when told. */
import { checkCloseCode, checkFrame, checkHttp, record, watchedAt } from "../_contract.ts";

/** One server frame. */
export interface RawFrame {
  readonly opcode: number;
  readonly payload: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A raw WebSocket connection (client side) that never replies to pings by itself. */
export class RawWebSocket implements AsyncDisposable {
  readonly conn: Deno.TcpConn;
  #buffer: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #closed = false;
  /** `host:port`, when frames from it are checked against the API description. */
  readonly #checked: string | undefined;

  private constructor(conn: Deno.TcpConn, leftover: Uint8Array<ArrayBuffer>, host: string) {
    this.conn = conn;
    this.#buffer = leftover;
    this.#checked = watchedAt(host) === undefined ? undefined : host;
  }

  /**
   * Connects and performs the opening handshake; throws unless the server answers 101.
   * `headers` are added to the upgrade request (e.g. an `Origin` a browser would send).
   */
  static async connect(
    port: number,
    options: { hostname?: string; headers?: Record<string, string> } = {},
  ): Promise<RawWebSocket> {
    const hostname = options.hostname ?? "127.0.0.1";
    const extra = Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    await writeAll(
      conn,
      encoder.encode(
        `GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
          `${extra}\r\n`,
      ),
    );
    let head: Uint8Array<ArrayBuffer> = new Uint8Array(0);
    for (;;) {
      const chunk = new Uint8Array(4096);
      const n = await conn.read(chunk);
      if (n === null) throw new Error("connection closed during the handshake");
      head = concat(head, chunk.subarray(0, n));
      const end = indexOfHeaderEnd(head);
      if (end >= 0) {
        const text = decoder.decode(head.subarray(0, end));
        if (!text.startsWith("HTTP/1.1 101")) {
          conn.close();
          checkRefusal(`${hostname}:${port}`, text);
          throw new Error(`handshake refused: ${text.split("\r\n")[0]}`);
        }
        return new RawWebSocket(conn, head.slice(end + 4), `${hostname}:${port}`);
      }
    }
  }

  /** Sends one masked text frame. */
  async sendText(text: string): Promise<void> {
    await writeAll(this.conn, encodeFrame(0x1, encoder.encode(text)));
  }

  /** Reads the next frame, or null at end of stream. Pings are returned, never answered. */
  async nextFrame(): Promise<RawFrame | null> {
    for (;;) {
      const frame = this.#parse();
      if (frame !== undefined) {
        if (this.#checked !== undefined) this.#check(this.#checked, frame);
        return frame;
      }
      const chunk = new Uint8Array(64 * 1024);
      let n: number | null;
      try {
        n = await this.conn.read(chunk);
      } catch {
        n = null;
      }
      if (n === null) return null;
      this.#buffer = concat(this.#buffer, chunk.subarray(0, n));
    }
  }

  /** Reads frames until a close frame (returns its code) or end of stream (returns null). */
  async closeCode(onFrame: (frame: RawFrame) => void = () => {}): Promise<number | null> {
    for (;;) {
      const frame = await this.nextFrame();
      if (frame === null) return null;
      if (frame.opcode === 0x8) {
        return frame.payload.length >= 2 ? (frame.payload[0]! << 8) | frame.payload[1]! : 1005;
      }
      onFrame(frame);
    }
  }

  /** Closes the TCP connection (no closing handshake). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  #check(host: string, frame: RawFrame): void {
    if (frame.opcode === 0x1) record(host, checkFrame(text(frame)));
    if (frame.opcode === 0x8 && frame.payload.length >= 2) {
      record(host, checkCloseCode((frame.payload[0]! << 8) | frame.payload[1]!));
    }
  }

  #parse(): RawFrame | undefined {
    const b = this.#buffer;
    if (b.length < 2) return undefined;
    const opcode = b[0]! & 0x0f;
    let length = b[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (b.length < 4) return undefined;
      length = (b[2]! << 8) | b[3]!;
      offset = 4;
    } else if (length === 127) {
      if (b.length < 10) return undefined;
      length = Number(new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0));
      offset = 10;
    }
    if (b.length < offset + length) return undefined;
    const payload = b.slice(offset, offset + length);
    this.#buffer = b.slice(offset + length);
    return { opcode, payload };
  }
}

/** Encodes one masked client frame. */
export function encodeFrame(opcode: number, payload: Uint8Array, fin = true): Uint8Array {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = new Uint8Array(headerLength + 4 + length);
  frame[0] = (fin ? 0x80 : 0) | opcode;
  if (length < 126) frame[1] = 0x80 | length;
  else if (length < 65536) {
    frame[1] = 0x80 | 126;
    frame[2] = length >> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(length));
  }
  const mask = crypto.getRandomValues(new Uint8Array(4));
  frame.set(mask, headerLength);
  for (let i = 0; i < length; i++) frame[headerLength + 4 + i] = payload[i]! ^ mask[i % 4]!;
  return frame;
}

/**
 * Only the masked header (64-bit length form, mask 0 so a payload can follow as is) of a frame
 * declaring `length` bytes: for attacks that declare more than they ever send.
 */
export function frameHeader(opcode: number, length: number, fin = true): Uint8Array {
  const header = new Uint8Array(14);
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = 0x80 | 127;
  new DataView(header.buffer).setBigUint64(2, BigInt(length));
  return header;
}

/** Decodes a text payload. */
export function text(frame: RawFrame): string {
  return decoder.decode(frame.payload);
}

/** Checks a refused handshake's status against the API description (its body is not read). */
function checkRefusal(host: string, head: string): void {
  const watched = watchedAt(host);
  if (watched === undefined) return;
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  const exchange = { method: "GET", path: "/", status, contentType: null, body: undefined };
  record(host, checkHttp({ port: watched.port, ...exchange }));
}

/** Writes all of `bytes` (a socket write may take only part). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  if (a.length === 0) return b.slice();
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function indexOfHeaderEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}
