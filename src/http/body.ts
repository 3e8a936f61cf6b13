/**
 * Reads publisher request bodies as UTF-8 text within four bounds: the size limit, a total
 * budget of bodies being received at once (shared fairly between sources), a deadline, and
 * memory only for bytes that arrived.
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

/** The source of bodies whose caller names none. */
const UNKNOWN_SOURCE = "unknown";

/** A body's share of the in-flight budget, held until it was read or given up. */
interface Hold {
  readonly source: string;
  readonly bytes: number;
  released: boolean;
  /** Gives the body up: its read ends with 408. */
  readonly evict: () => void;
}

/** What one source holds of the budget; `holds` in arrival order (oldest first). */
interface Holder {
  bytes: number;
  readonly holds: Set<Hold>;
}

function tooLarge(size: string, limit: number): PushError {
  return new PushError("payload_too_large", `body is ${size} bytes; the limit is ${limit}`);
}

/** One per server: holds the in-flight budget and the connections waiting to be closed. */
export class BodyReader {
  readonly #limits: BodyLimits;
  #reserved = 0;
  readonly #holders = new Map<string, Holder>();
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
   * when the in-flight budget cannot take the declared length (chunked: `maxBodyBytes`) even
   * after fair eviction (see {@link BodyReader.#admit}), 408 when the body has not arrived within
   * the deadline or was given up for another source's, 400 when it is not UTF-8. `source` is
   * the client's address as the server names it.
   */
  async read(request: Request, source: string = UNKNOWN_SOURCE): Promise<string> {
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
    const hold = this.#admit(source, reserve, () => deadline.expire("evicted"));
    if (hold === undefined) {
      throw new PushError(
        "unavailable",
        `Too many request bodies are being received (MAX_BODY_BYTES_IN_FLIGHT is ${maxBodyBytesInFlight} bytes); retry shortly`,
      );
    }
    // Only a later admission can evict this body, so the deadline exists by then.
    const deadline = this.#deadline();
    let bytes: Uint8Array;
    try {
      if (declared !== undefined && declared <= SMALL_BODY_BYTES) {
        const read = request.arrayBuffer();
        const result = await Promise.race([read, deadline.expired]);
        if (typeof result === "string") {
          read.catch(() => {}); // settles when the client sends the rest or goes away
          throw this.#timeout(result);
        }
        bytes = new Uint8Array(result);
      } else {
        if (request.body === null) return "";
        bytes = await this.#readCapped(request, request.body, deadline.expired);
      }
    } finally {
      this.#release(hold);
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

  /**
   * A place in the budget for `bytes` from `source`, or `undefined` (503). When the budget is
   * full, the source holding the most gives up its oldest body, as long as it holds more than
   * its fair share (the budget over the sources in flight, the newcomer's included): so one
   * source's slow bodies cannot keep every other source out, and a source within its share is
   * never evicted. Evictions happen only if they make room.
   */
  #admit(source: string, bytes: number, evict: () => void): Hold | undefined {
    const budget = this.#limits.maxBodyBytesInFlight;
    const victims: Hold[] = [];
    if (this.#reserved + bytes > budget) {
      const sources = this.#holders.size + (this.#holders.has(source) ? 0 : 1);
      const fairShare = budget / sources;
      // Planned on copies, so that nothing is evicted when evicting cannot make room.
      const held = new Map([...this.#holders].map(([name, h]) => [name, h.bytes]));
      const next = new Map([...this.#holders].map(([name, h]) => [name, h.holds.values()]));
      let free = budget - this.#reserved;
      while (free < bytes) {
        let most: string | undefined;
        for (const [name, amount] of held) {
          if (most === undefined || amount > held.get(most)!) most = name;
        }
        if (most === undefined || most === source || held.get(most)! <= fairShare) return;
        const victim = next.get(most)!.next().value!;
        victims.push(victim);
        held.set(most, held.get(most)! - victim.bytes);
        free += victim.bytes;
      }
    }
    for (const victim of victims) {
      this.#release(victim);
      victim.evict();
    }
    const hold: Hold = { source, bytes, released: false, evict };
    let holder = this.#holders.get(source);
    if (holder === undefined) this.#holders.set(source, holder = { bytes: 0, holds: new Set() });
    holder.bytes += bytes;
    holder.holds.add(hold);
    this.#reserved += bytes;
    return hold;
  }

  #release(hold: Hold): void {
    if (hold.released) return;
    hold.released = true;
    this.#reserved -= hold.bytes;
    const holder = this.#holders.get(hold.source)!;
    holder.bytes -= hold.bytes;
    holder.holds.delete(hold);
    if (holder.holds.size === 0) this.#holders.delete(hold.source);
  }

  /** A deadline `requestTimeoutS` from now; `expired` resolves when the watchdog finds it past. */
  #deadline() {
    const { promise: expired, resolve } = Promise.withResolvers<"timeout" | "evicted">();
    const deadline = {
      at: performance.now() + this.#limits.requestTimeoutS * 1000,
      expire: (why: "timeout" | "evicted" = "timeout") => resolve(why),
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

  #timeout(why: "timeout" | "evicted"): PushError {
    return new PushError(
      "request_timeout",
      why === "evicted"
        ? "The request body was given up: it had not arrived and MAX_BODY_BYTES_IN_FLIGHT was needed for other clients' requests"
        : `The request body did not arrive within ${this.#limits.requestTimeoutS} s`,
    );
  }

  async #readCapped(
    request: Request,
    body: ReadableStream<Uint8Array>,
    timedOut: Promise<"timeout" | "evicted">,
  ): Promise<Uint8Array> {
    const { maxBodyBytes } = this.#limits;
    const chunks: Uint8Array[] = [];
    let total = 0;
    const next = chunkReader(body);
    for (;;) {
      const read = next();
      const result = await Promise.race([read, timedOut]);
      if (typeof result === "string") {
        // The pending read settles when the client sends more or goes away.
        read.catch(() => {});
        this.#unfinished.set(request, next.reader);
        throw this.#timeout(result);
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
