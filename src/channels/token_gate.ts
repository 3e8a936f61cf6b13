/**
 * Fair access to bcrypt verifications of not-yet-verified channel tokens. bcrypt stays the only
 * verifier; what this decides is whose check runs next and who must wait, so that addresses
 * flooding wrong tokens can lock out nobody else (PROTOCOL.md v1.2 "Token checks"):
 * - at most `lanes` checks run at once (one per verify worker: nothing waits hidden in a worker's
 *   queue); the next one comes from a clean source (no wrong token in the last `cleanAfterMs`)
 *   if any waits, round-robin across sources within each class;
 * - at most `maxPending` checks wait; when full, the source with the most waiting checks gives up
 *   its newest (429), so a source with fewer waiting always gets a place;
 * - every source has a budget of wrong tokens (a token bucket) charged only by wrong verdicts,
 *   so right tokens never cost anything. It is consulted when a check is about to run bcrypt:
 *   while it is empty, checks are answered 429 without bcrypt (after a short delay when
 *   refused on arrival, so that a flooding client's request loop slows down, not the server's);
 *   a token that was right once is never refused for it;
 * - identical checks in flight (same token, same hash) share one bcrypt run.
 */
import { PushError } from "../errors.ts";

/** Wrong tokens a source may send at once (`TOKEN_FAILURE_BURST`)… */
export const FAILURE_BURST = 20;
/** …and per second after that (`TOKEN_FAILURE_RATE`). */
export const FAILURES_PER_SECOND = 2;
/** How long a source that sent a wrong token waits behind clean ones. */
export const CLEAN_AFTER_MS = 10 * 60_000;

/**
 * How long, on average, a source over its budget waits for its 429 (a tarpit for request loops);
 * each wait is spread over 0.5–1.5 times this, so a flood's requests do not come back in waves.
 */
export const PENALTY_MS = 1000;

/** The source of checks whose caller names none. */
const UNKNOWN_SOURCE = "unknown";
/** Past this many tracked sources, idle sources with a full budget are forgotten. */
const SWEEP_AT = 10_000;
/** Right checks remembered so that their tokens are never refused for a budget. */
const VERIFIED_KEYS = 10_000;

/** Options of {@link TokenGate}. */
export interface TokenGateOptions {
  /** Checks running at once: the hasher's verify workers. */
  readonly lanes: number;
  /** Checks waiting for a lane at once (`MAX_TOKEN_CHECKS`). */
  readonly maxPending: number;
  readonly failureBurst?: number;
  readonly failuresPerSecond?: number;
  /** Delay before a 429 for an empty budget on arrival (default {@link PENALTY_MS}). */
  readonly penaltyMs?: number;
  /** How long a wrong token keeps its source behind clean ones (default {@link CLEAN_AFTER_MS}). */
  readonly cleanAfterMs?: number;
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
  /** Wrong tokens it may still send; negative when checks already running turned out wrong. */
  tokens: number;
  updatedAt: number;
  /** When it last sent a wrong token. */
  wrongAt: number | undefined;
  readonly queue: Job[];
  /** The ready ring it waits in while its queue is not empty. */
  ring: Source[] | undefined;
}

/** One per server; callers name each check's source (the request's address, see {@link sourceOf}). */
export class TokenGate {
  readonly #lanes: number;
  readonly #maxPending: number;
  readonly #burst: number;
  readonly #rate: number;
  readonly #penaltyMs: number;
  readonly #cleanAfterMs: number;
  readonly #now: () => number;
  /** Delayed 429s: each timer and the rejection it will deliver. */
  readonly #penalties = new Map<ReturnType<typeof setTimeout>, () => void>();
  readonly #sources = new Map<string, Source>();
  /** Sources with waiting checks, round-robin: clean ones are served first. */
  readonly #clean: Source[] = [];
  readonly #dirty: Source[] = [];
  readonly #inFlight = new Map<string, Promise<boolean>>();
  /** Keys of checks that were right (oldest first), exempt from budgets. */
  readonly #verified = new Set<string>();
  #running = 0;
  #queued = 0;

  /** A gate with the given lanes, queue bound and failure budget. */
  constructor(options: TokenGateOptions) {
    this.#lanes = options.lanes;
    this.#maxPending = options.maxPending;
    this.#burst = options.failureBurst ?? FAILURE_BURST;
    this.#rate = options.failuresPerSecond ?? FAILURES_PER_SECOND;
    this.#penaltyMs = options.penaltyMs ?? PENALTY_MS;
    this.#cleanAfterMs = options.cleanAfterMs ?? CLEAN_AFTER_MS;
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
    if (!this.#mayRun(source, key)) return this.#penalty(this.#overBudget(source));
    if (this.#queued >= this.#maxPending && !this.#dropForNewcomer(source)) {
      return this.#refuse(source, busy());
    }
    const job: Job = { source, key, verify, settle: Promise.withResolvers<boolean>() };
    source.queue.push(job);
    this.#queued++;
    if (source.ring === undefined) this.#enqueue(source);
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

  /** Whether a check of `key` from `source` may run bcrypt now (the budget rule). */
  #mayRun(source: Source, key: string | undefined): boolean {
    if (key !== undefined && this.#verified.has(key)) return true;
    this.#refill(source);
    return source.tokens >= 1;
  }

  #overBudget(source: Source): PushError {
    const waitS = Math.max(1, Math.ceil((1 - source.tokens) / this.#rate));
    return new PushError(
      "too_many_requests",
      `Too many wrong channel tokens from this address; retry in ${waitS} s`,
      waitS,
    );
  }

  /**
   * A 429 for a full queue: delayed like an empty budget's when the source has sent wrong tokens,
   * or its request loop would come straight back (a one-address flood then kept the event loop
   * busy with refusals, and a clean publisher's push waited seconds for it).
   */
  #refuse(source: Source, error: PushError): Promise<never> {
    return this.#isClean(source) ? Promise.reject(error) : this.#penalty(error);
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

  #isClean(source: Source): boolean {
    return source.wrongAt === undefined || this.#now() - source.wrongAt >= this.#cleanAfterMs;
  }

  #enqueue(source: Source): void {
    source.ring = this.#isClean(source) ? this.#clean : this.#dirty;
    source.ring.push(source);
  }

  #dequeue(source: Source): void {
    const ring = source.ring;
    if (ring === undefined) return;
    ring.splice(ring.indexOf(source), 1);
    source.ring = undefined;
  }

  /**
   * Frees a place by dropping the newest waiting check of the source with the most waiting (a
   * source that sent wrong tokens loses a tie), if it has more waiting than the newcomer.
   */
  #dropForNewcomer(newcomer: Source): boolean {
    let most: Source | undefined;
    for (const ring of [this.#dirty, this.#clean]) {
      for (const source of ring) {
        if (most === undefined || source.queue.length > most.queue.length) most = source;
      }
    }
    if (most === undefined || most.queue.length <= newcomer.queue.length) return false;
    const dropped = most.queue.pop()!;
    this.#queued--;
    if (most.queue.length === 0) this.#dequeue(most);
    this.#refuse(most, busy()).catch(dropped.settle.reject);
    return true;
  }

  #pump(): void {
    while (this.#running < this.#lanes) {
      const ring = this.#clean.length > 0 ? this.#clean : this.#dirty;
      const source = ring.shift();
      if (source === undefined) return;
      source.ring = undefined;
      const job = source.queue.shift()!;
      this.#queued--;
      if (source.queue.length > 0) this.#enqueue(source);
      // The budget may have run out while this check waited (checks before it were wrong).
      if (!this.#mayRun(source, job.key)) {
        job.settle.reject(this.#overBudget(source));
        continue;
      }
      this.#running++;
      this.#run(job);
    }
  }

  async #run(job: Job): Promise<void> {
    try {
      const valid = await job.verify();
      if (valid) this.#remember(job.key);
      else this.#chargeWrong(job.source);
      job.settle.resolve(valid);
    } catch (error) {
      // No verdict (a worker failed): nothing to charge.
      job.settle.reject(error);
    } finally {
      this.#running--;
      this.#pump();
    }
  }

  #chargeWrong(source: Source): void {
    this.#refill(source);
    source.tokens -= 1;
    source.wrongAt = this.#now();
    if (source.ring === this.#clean) {
      this.#dequeue(source);
      this.#enqueue(source);
    }
  }

  #remember(key: string | undefined): void {
    if (key === undefined) return;
    this.#verified.delete(key);
    this.#verified.add(key);
    if (this.#verified.size > VERIFIED_KEYS) {
      this.#verified.delete(this.#verified.values().next().value!);
    }
  }

  #source(name: string): Source {
    let source = this.#sources.get(name);
    if (source === undefined) {
      if (this.#sources.size >= SWEEP_AT) this.#sweep();
      source = {
        name,
        tokens: this.#burst,
        updatedAt: this.#now(),
        wrongAt: undefined,
        queue: [],
        ring: undefined,
      };
      this.#sources.set(name, source);
    }
    return source;
  }

  #refill(source: Source): void {
    const now = this.#now();
    const earned = ((now - source.updatedAt) / 1000) * this.#rate;
    source.tokens = Math.min(this.#burst, source.tokens + earned);
    source.updatedAt = now;
  }

  /**
   * Forgets sources back to their default state (full budget, nothing waiting, clean); if that is
   * not enough, also those that are only not yet clean: memory stays bounded under any spread.
   */
  #sweep(): void {
    for (const strict of [true, false]) {
      for (const [name, source] of this.#sources) {
        this.#refill(source);
        const idle = source.tokens >= this.#burst && source.queue.length === 0;
        if (idle && (!strict || this.#isClean(source))) this.#sources.delete(name);
      }
      if (this.#sources.size < SWEEP_AT / 2) return;
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
