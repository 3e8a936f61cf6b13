/**
 * Fair access to bcrypt verifications of not-yet-verified channel tokens. bcrypt stays the only
 * verifier; what this decides is whose check runs next, so that one address flooding wrong
 * tokens cannot lock out everyone else:
 * - at most `lanes` checks run at once (one per verify worker: nothing waits hidden in a worker's
 *   queue), and the next one is taken round-robin across source addresses, not first-come;
 * - at most `maxPending` wait or run in total; when full, the source with the longest queue
 *   gives up its newest check (429), so a newcomer always gets a place;
 * - every source has a budget of failed checks (a token bucket): a check costs one token, a right
 *   token gives it back; an empty bucket is answered 429 without running bcrypt, after a short
 *   delay, so that a flooding client's own request loop slows down instead of the server's;
 * - identical checks in flight (same token, same hash) share one bcrypt run.
 */
import { PushError } from "../errors.ts";

/** Failed checks a source may make at once… */
export const FAILURE_BURST = 10;
/** …and per second after that. */
export const FAILURES_PER_SECOND = 1;

/**
 * How long, on average, a source over its budget waits for its 429 (a tarpit for request loops);
 * each wait is spread over 0.5–1.5 times this, so a flood's requests do not come back in waves.
 */
export const PENALTY_MS = 1000;

/** The source of checks whose caller names none. */
const UNKNOWN_SOURCE = "unknown";
/** Past this many tracked sources, sources with a full bucket and nothing queued are forgotten. */
const SWEEP_AT = 10_000;

/** Options of {@link TokenGate}. */
export interface TokenGateOptions {
  /** Checks running at once: the hasher's verify workers. */
  readonly lanes: number;
  /** Checks waiting or running at once (`MAX_TOKEN_CHECKS`). */
  readonly maxPending: number;
  readonly failureBurst?: number;
  readonly failuresPerSecond?: number;
  /** Delay before a 429 for an empty budget (default {@link PENALTY_MS}). */
  readonly penaltyMs?: number;
  readonly now?: () => number;
}

interface Job {
  readonly source: Source;
  readonly key: string | undefined;
  readonly verify: () => Promise<boolean>;
  readonly settle: PromiseWithResolvers<boolean>;
}

interface Source {
  readonly name: string;
  tokens: number;
  updatedAt: number;
  readonly queue: Job[];
}

/** One per server; callers name each check's source (the request's address, see {@link sourceOf}). */
export class TokenGate {
  readonly #lanes: number;
  readonly #maxPending: number;
  readonly #burst: number;
  readonly #rate: number;
  readonly #penaltyMs: number;
  readonly #now: () => number;
  /** Delayed 429s: each timer and the rejection it will deliver. */
  readonly #penalties = new Map<ReturnType<typeof setTimeout>, () => void>();
  readonly #sources = new Map<string, Source>();
  /** Sources with queued checks, in round-robin order. */
  readonly #ready: Source[] = [];
  readonly #inFlight = new Map<string, Promise<boolean>>();
  #running = 0;
  #queued = 0;

  /** A gate with the given lanes, queue bound and failure budget. */
  constructor(options: TokenGateOptions) {
    this.#lanes = options.lanes;
    this.#maxPending = options.maxPending;
    this.#burst = options.failureBurst ?? FAILURE_BURST;
    this.#rate = options.failuresPerSecond ?? FAILURES_PER_SECOND;
    this.#penaltyMs = options.penaltyMs ?? PENALTY_MS;
    this.#now = options.now ?? Date.now;
  }

  /** Checks running or waiting. */
  get pending(): number {
    return this.#running + this.#queued;
  }

  /**
   * `verify`'s answer, run when a lane is free and it is this source's turn. Rejects with a 429
   * {@link PushError} when the source's failure budget is empty or the queue drops the check.
   * Checks with the same `key` (same token and hash) while one runs share its answer. The source
   * is passed by the caller rather than carried in an async context: async-context tracking
   * costs every request on the push path, while only unverified tokens ever get here.
   */
  check(
    verify: () => Promise<boolean>,
    key?: string,
    sourceName: string = UNKNOWN_SOURCE,
  ): Promise<boolean> {
    if (key !== undefined) {
      const shared = this.#inFlight.get(key);
      if (shared !== undefined) return shared;
    }
    const source = this.#source(sourceName);
    if (source.tokens < 1) {
      const waitS = Math.ceil((1 - source.tokens) / this.#rate);
      return this.#penalty(
        new PushError(
          "too_many_requests",
          `Too many wrong channel tokens from this address; retry in ${waitS} s`,
        ),
      );
    }
    if (this.pending >= this.#maxPending && !this.#dropForNewcomer(source)) {
      return Promise.reject(busy());
    }
    source.tokens -= 1;
    const job: Job = { source, key, verify, settle: Promise.withResolvers<boolean>() };
    if (source.queue.push(job) === 1) this.#ready.push(source);
    this.#queued++;
    if (key !== undefined) {
      this.#inFlight.set(key, job.settle.promise);
      job.settle.promise.then(
        () => this.#inFlight.delete(key),
        () => this.#inFlight.delete(key),
      );
    }
    this.#pump();
    return job.settle.promise;
  }

  /** Answers all delayed 429s now (server shutdown). */
  close(): void {
    for (const [timer, answer] of this.#penalties) {
      clearTimeout(timer);
      answer();
    }
    this.#penalties.clear();
  }

  #penalty(error: PushError): Promise<never> {
    if (this.#penaltyMs === 0) return Promise.reject(error);
    const { promise, reject } = Promise.withResolvers<never>();
    const timer = setTimeout(() => {
      this.#penalties.delete(timer);
      reject(error);
    }, this.#penaltyMs * (0.5 + Math.random()));
    this.#penalties.set(timer, () => reject(error));
    return promise;
  }

  /** Frees a place by dropping the newest check of the longest queue, if it is longer than ours. */
  #dropForNewcomer(newcomer: Source): boolean {
    let longest: Source | undefined;
    for (const source of this.#ready) {
      if (longest === undefined || source.queue.length > longest.queue.length) longest = source;
    }
    if (longest === undefined || longest.queue.length <= newcomer.queue.length + 1) return false;
    const dropped = longest.queue.pop()!;
    this.#queued--;
    if (longest.queue.length === 0) this.#ready.splice(this.#ready.indexOf(longest), 1);
    longest.tokens += 1; // it was never checked
    dropped.settle.reject(busy());
    return true;
  }

  #pump(): void {
    while (this.#running < this.#lanes && this.#ready.length > 0) {
      const source = this.#ready.shift()!;
      const job = source.queue.shift()!;
      this.#queued--;
      if (source.queue.length > 0) this.#ready.push(source);
      this.#running++;
      this.#run(job);
    }
  }

  async #run(job: Job): Promise<void> {
    try {
      const valid = await job.verify();
      // A right token costs nothing from the budget.
      if (valid) this.#refill(job.source, 1);
      job.settle.resolve(valid);
    } catch (error) {
      this.#refill(job.source, 1);
      job.settle.reject(error);
    } finally {
      this.#running--;
      this.#pump();
    }
  }

  #source(name: string): Source {
    let source = this.#sources.get(name);
    if (source === undefined) {
      if (this.#sources.size >= SWEEP_AT) this.#sweep();
      source = { name, tokens: this.#burst, updatedAt: this.#now(), queue: [] };
      this.#sources.set(name, source);
    }
    this.#refill(source, 0);
    return source;
  }

  #refill(source: Source, extra: number): void {
    const now = this.#now();
    const earned = ((now - source.updatedAt) / 1000) * this.#rate;
    source.tokens = Math.min(this.#burst, source.tokens + earned + extra);
    source.updatedAt = now;
  }

  /** Forgets sources that are back to a full budget with nothing queued (their default state). */
  #sweep(): void {
    for (const [name, source] of this.#sources) {
      this.#refill(source, 0);
      if (source.tokens >= this.#burst && source.queue.length === 0) this.#sources.delete(name);
    }
  }
}

/** The key under which identical checks (same hash, same token digest) share one bcrypt run. */
export function checkKey(hash: string, digest: Uint8Array): string {
  let hex = "";
  for (const byte of digest) hex += byte.toString(16).padStart(2, "0");
  return `${hash} ${hex}`;
}

function busy(): PushError {
  return new PushError(
    "too_many_requests",
    "Too many channel token checks in progress; retry shortly",
  );
}

/**
 * The source an address counts as: IPv4 addresses alone, IPv6 addresses by their /64 (one
 * host can have a whole /64), IPv4-mapped IPv6 as IPv4.
 */
export function sourceOf(address: string): string {
  if (!address.includes(":")) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  const [head = "", tail = ""] = address.toLowerCase().split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  const groups = address.includes("::")
    ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right]
    : left;
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":") + "::/64";
}
