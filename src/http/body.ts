/**
 * Reads publisher request bodies as UTF-8 text within four bounds: the size limit, a total
 * budget of bodies being received at once, a deadline, and memory only for bytes that arrived.
 */
import { PushError } from "../errors.ts";

/**
 * How long a connection whose body was left unread stays open after its response. Deno 2.9.6
 * keeps such a connection to drain the rest of the body, which a stalled client never sends; it
 * closes it when the body stream is cancelled *after* the response went out (cancelled earlier,
 * the runtime drains again), so the cancel waits this long. What it cannot close: a body whose
 * read is still pending when it times out (408). The runtime cannot cancel that read, so the
 * socket stays until the client sends its next byte (streamed bodies) or the rest of its declared
 * length (bodies read whole, at most SMALL_BODY_BYTES), or goes away: ~45 KiB and a descriptor.
 */
const LINGER_MS = 1000;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * Declared lengths up to this are read with `arrayBuffer()`: the runtime's fast path (no stream
 * objects) for the small bodies publishers send, at the price of allocating the declared length
 * up front, which is harmless at this size. Larger and chunked bodies are streamed.
 */
const SMALL_BODY_BYTES = 16 * 1024;

/** The settings a {@link BodyReader} enforces. */
export interface BodyLimits {
  /** Largest body (`MAX_BODY_BYTES`): larger gets 413. */
  readonly maxBodyBytes: number;
  /** Bodies being received at once, by declared length (`MAX_BODY_BYTES_IN_FLIGHT`): 503. */
  readonly maxBodyBytesInFlight: number;
  /** Deadline for a whole body (`REQUEST_TIMEOUT_S`): 408. */
  readonly requestTimeoutS: number;
}

function tooLarge(size: string, limit: number): PushError {
  return new PushError("payload_too_large", `body is ${size} bytes; the limit is ${limit}`);
}

/** One per server: holds the in-flight budget and the connections waiting to be closed. */
export class BodyReader {
  readonly #limits: BodyLimits;
  #reserved = 0;
  /** Readers of bodies left unread, each with the timer that cancels it. */
  readonly #lingering = new Map<ReadableStreamReader<Uint8Array>, ReturnType<typeof setTimeout>>();
  readonly #unfinished = new WeakMap<Request, ReadableStreamReader<Uint8Array>>();
  /**
   * Bodies being read, with their deadlines: one interval checks them all, since a timer per
   * request cost a measurable share of publish throughput.
   */
  readonly #deadlines = new Set<{ readonly at: number; readonly expire: () => void }>();
  #watchdog: ReturnType<typeof setInterval> | undefined;

  /** A reader enforcing `limits`. */
  constructor(limits: BodyLimits) {
    this.#limits = limits;
  }

  /** Bytes of declared body length currently reserved. */
  get reservedBytes(): number {
    return this.#reserved;
  }

  /**
   * The body as text. 413 past `maxBodyBytes` (a declared length before any byte is read), 503
   * when the in-flight budget cannot take the declared length (chunked: `maxBodyBytes`), 408 when
   * the body has not arrived within the deadline, 400 when it is not UTF-8.
   */
  async read(request: Request): Promise<string> {
    const { maxBodyBytes, maxBodyBytesInFlight } = this.#limits;
    const declaredText = request.headers.get("content-length");
    const declared = declaredText !== null && /^\d+$/.test(declaredText)
      ? Number(declaredText)
      : undefined;
    if (declared !== undefined && declared > maxBodyBytes) {
      throw tooLarge(declaredText!, maxBodyBytes);
    }
    if (declared === 0) return "";
    const reserve = declared ?? maxBodyBytes;
    if (this.#reserved + reserve > maxBodyBytesInFlight) {
      throw new PushError(
        "unavailable",
        `Too many request bodies are being received (MAX_BODY_BYTES_IN_FLIGHT is ${maxBodyBytesInFlight} bytes); retry shortly`,
      );
    }
    this.#reserved += reserve;
    const deadline = this.#deadline();
    let bytes: Uint8Array;
    try {
      if (declared !== undefined && declared <= SMALL_BODY_BYTES) {
        const read = request.arrayBuffer();
        const result = await Promise.race([read, deadline.expired]);
        if (result === "timeout") {
          read.catch(() => {}); // settles when the client sends the rest or goes away
          throw this.#timeout();
        }
        bytes = new Uint8Array(result);
      } else {
        if (request.body === null) return "";
        bytes = await this.#readCapped(request, request.body, deadline.expired);
      }
    } finally {
      this.#reserved -= reserve;
      this.#deadlines.delete(deadline);
    }
    try {
      return utf8.decode(bytes);
    } catch {
      throw new PushError("bad_json", "Body is not valid JSON (it is not UTF-8)");
    }
  }

  /**
   * Call once the response is ready: a body that was not read to its end gets its connection
   * closed shortly after the response instead of being drained for as long as the client likes.
   */
  finish(request: Request): void {
    let reader = this.#unfinished.get(request);
    if (reader === undefined) {
      // Checked in this order so that a body read whole (or none) costs no stream object.
      if (request.bodyUsed || request.body === null || request.body.locked) return;
      reader = request.body.getReader();
    }
    this.#unfinished.delete(request);
    const timer = setTimeout(() => {
      this.#lingering.delete(reader);
      reader.cancel().catch(() => {});
    }, LINGER_MS);
    this.#lingering.set(reader, timer);
  }

  /** Closes every connection still waiting and stops the deadline checks (server shutdown). */
  close(): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    for (const [reader, timer] of this.#lingering) {
      clearTimeout(timer);
      reader.cancel().catch(() => {});
    }
    this.#lingering.clear();
  }

  /** A deadline `requestTimeoutS` from now; `expired` resolves when the watchdog finds it past. */
  #deadline() {
    const { promise: expired, resolve } = Promise.withResolvers<"timeout">();
    const deadline = {
      at: performance.now() + this.#limits.requestTimeoutS * 1000,
      expire: () => resolve("timeout"),
      expired,
    };
    this.#deadlines.add(deadline);
    this.#watchdog ??= setInterval(
      () => this.#expire(),
      Math.min(250, this.#limits.requestTimeoutS * 250),
    );
    return deadline;
  }

  #expire(): void {
    const now = performance.now();
    for (const deadline of this.#deadlines) {
      if (deadline.at <= now) {
        this.#deadlines.delete(deadline);
        deadline.expire();
      }
    }
    if (this.#deadlines.size === 0) {
      clearInterval(this.#watchdog);
      this.#watchdog = undefined;
    }
  }

  #timeout(): PushError {
    return new PushError(
      "request_timeout",
      `The request body did not arrive within ${this.#limits.requestTimeoutS} s`,
    );
  }

  async #readCapped(
    request: Request,
    body: ReadableStream<Uint8Array>,
    timedOut: Promise<"timeout">,
  ): Promise<Uint8Array> {
    const { maxBodyBytes } = this.#limits;
    const chunks: Uint8Array[] = [];
    let total = 0;
    const next = chunkReader(body);
    for (;;) {
      const read = next();
      const result = await Promise.race([read, timedOut]);
      if (result === "timeout") {
        // The pending read settles when the client sends more or goes away.
        read.catch(() => {});
        this.#unfinished.set(request, next.reader);
        throw this.#timeout();
      }
      if (result === null) break;
      total += result.byteLength;
      if (total > maxBodyBytes) {
        this.#unfinished.set(request, next.reader);
        throw tooLarge(`over ${maxBodyBytes}`, maxBodyBytes);
      }
      chunks.push(result);
    }
    if (chunks.length === 1) return chunks[0]!;
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return bytes;
  }
}

/** First read size; doubled while reads fill it, up to {@link MAX_READ_BYTES}. */
const FIRST_READ_BYTES = 1024;
const MAX_READ_BYTES = 64 * 1024;

/** The next chunk, or null at the end of the body; `reader` holds the stream's lock. */
type ChunkReader = (() => Promise<Uint8Array | null>) & {
  readonly reader: ReadableStreamReader<Uint8Array>;
};

/**
 * Reads into buffers we size (BYOB), starting small: a default reader of a Deno.serve body asks
 * the runtime for 64 KiB per read, so every stalled request pinned ~190 KiB of buffers; with a
 * 1 KiB first read it pins ~35 KiB (measured, 2,000 stalled requests). Streams that are not byte
 * streams (tests, other runtimes) are read with a default reader.
 */
function chunkReader(body: ReadableStream<Uint8Array>): ChunkReader {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    const reader = body.getReader();
    const read = async () => (await reader.read()).value ?? null;
    return Object.assign(read, { reader });
  }
  let size = FIRST_READ_BYTES;
  const read = async () => {
    const { done, value } = await byob.read(new Uint8Array(size));
    if (done || value === undefined) return null;
    if (value.byteLength === size) size = Math.min(size * 2, MAX_READ_BYTES);
    return value;
  };
  return Object.assign(read, { reader: byob });
}
