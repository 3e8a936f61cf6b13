/**
 * A minimal HTTP/1.1 keep-alive client over a raw loopback TCP socket, for the load generator.
 * One request at a time per connection. `fetch` costs the generator several times more CPU per
 * request than the servers spend answering it, which would make the generator the bottleneck.
 */
import { indexOfHeadEnd, writeAll } from "./_ws_client.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A response: status and body text. */
export interface HttpResponse {
  status: number;
  body: string;
}

/** One keep-alive connection. */
export class HttpClient {
  readonly #conn: Deno.TcpConn;
  readonly #host: string;
  #buf = new Uint8Array(4096);
  #end = 0;

  private constructor(conn: Deno.TcpConn, host: string) {
    this.#conn = conn;
    this.#host = host;
  }

  /** Opens a connection. */
  static async connect(host: string, port: number): Promise<HttpClient> {
    const conn = await Deno.connect({ hostname: host, port });
    conn.setNoDelay(true);
    return new HttpClient(conn, `${host}:${port}`);
  }

  /** Builds the bytes of a JSON POST once, for requests repeated verbatim. */
  request(path: string, body: string): Uint8Array {
    const payload = encoder.encode(body);
    const head = encoder.encode(
      `POST ${path} HTTP/1.1\r\nHost: ${this.#host}\r\ncontent-type: application/json\r\n` +
        `content-length: ${payload.length}\r\n\r\n`,
    );
    const out = new Uint8Array(head.length + payload.length);
    out.set(head);
    out.set(payload, head.length);
    return out;
  }

  /** POSTs a JSON body and reads the whole response. */
  post(path: string, body: string): Promise<HttpResponse> {
    return this.send(this.request(path, body));
  }

  /** Sends prebuilt request bytes and reads the whole response (Content-Length framed). */
  async send(request: Uint8Array): Promise<HttpResponse> {
    await writeAll(this.#conn, request);
    for (;;) {
      const headEnd = indexOfHeadEnd(this.#buf.subarray(0, this.#end));
      if (headEnd >= 0) {
        const head = decoder.decode(this.#buf.subarray(0, headEnd));
        const status = Number(head.slice(9, 12));
        const match = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (match === null) throw new Error(`response without content-length: ${head}`);
        const total = headEnd + 4 + Number(match[1]);
        while (this.#end < total) await this.#fill(total);
        const body = decoder.decode(this.#buf.subarray(headEnd + 4, total));
        this.#buf.copyWithin(0, total, this.#end);
        this.#end -= total;
        return { status, body };
      }
      await this.#fill(this.#end + 1);
    }
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  async #fill(need: number): Promise<void> {
    if (need > this.#buf.length || this.#end === this.#buf.length) {
      const bigger = new Uint8Array(Math.max(need, this.#buf.length * 2));
      bigger.set(this.#buf.subarray(0, this.#end));
      this.#buf = bigger;
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#end));
    if (n === null) throw new Error("HTTP connection closed by the server");
    this.#end += n;
  }
}
