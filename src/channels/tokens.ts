/** Channel tokens: generation, bcrypt hashing off the main thread, and a fast digest for reuse. */
import { sha256 } from "@noble/hashes/sha2";
import { PushError } from "../errors.ts";
import type { FaultReporter } from "../metrics.ts";
import type { BcryptJob, BcryptRequest, BcryptResult } from "./_bcrypt_worker.ts";

/** Bytes of CSPRNG output in a token (43 base64url characters, under bcrypt's 72-byte limit). */
export const TOKEN_BYTES = 32;

/** A fresh channel token: 32 bytes from the OS CSPRNG, base64url without padding. */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

const utf8 = new TextEncoder();

/**
 * SHA-256 of a token, kept in memory once bcrypt has accepted it. Pure-JS noble hashes: on the
 * push path node:crypto's createHash (a native hash object and Buffers per call) cost ~14% of
 * publish throughput in the bench.
 */
export function tokenDigest(token: string): Uint8Array {
  return sha256(utf8.encode(token));
}

/**
 * Constant-time equality of two digests: every byte is compared whatever the first difference.
 * (node:crypto's timingSafeEqual does the same through Buffer conversions that cost ~1.5 µs per
 * push; digests are fixed-length, so only the length check may exit early.)
 */
export function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/** Hashes and verifies tokens. Implementations must not block the event loop. */
export interface TokenHasher {
  hash(token: string): Promise<string>;
  verify(token: string, hash: string): Promise<boolean>;
  /** Stops background work (worker threads). */
  close(): void;
}

/**
 * The one mapping of hasher failures, each reported: a crashed worker is 503 (retry: the pool
 * starts new workers on the next job), a closed hasher 503 (shutting down), and a job bcrypt
 * itself refused (e.g. a stored hash that is not one) 500.
 */
export function hasherFault(
  kind: "crashed" | "closed" | "refused",
  reason: string,
): PushError {
  switch (kind) {
    case "crashed":
      return new PushError("unavailable", "Token checks failed (a bcrypt worker stopped); retry");
    case "closed":
      return new PushError("unavailable", `Token checks are unavailable: ${reason}`);
    case "refused":
      return new PushError("internal", null);
  }
}

/** Options of {@link bcryptHasher}. */
export interface BcryptHasherOptions {
  /** Verify workers (default {@link VERIFY_WORKERS}). */
  readonly verifyWorkers?: number;
  /** Where a worker crash or a refused job is reported. */
  readonly reportFault?: FaultReporter;
  /** The worker module (tests hand in one that crashes). */
  readonly workerUrl?: URL;
}

/** Worker threads for verifications by default; hashing has its own worker besides. */
export const VERIFY_WORKERS = 2;

/**
 * bcrypt at `cost` on worker threads, started on first use: `verifyWorkers` for verifications
 * and one more for hashing (creates and rotations), so a hash never queues behind a flood of
 * verifications. bcrypt's compare is constant-time over the hash, so a wrong token costs the same
 * as a right one.
 */
export function bcryptHasher(cost: number, options: BcryptHasherOptions = {}): TokenHasher {
  const reportFault = options.reportFault ?? (() => {});
  const workerUrl = options.workerUrl ?? new URL("./_bcrypt_worker.ts", import.meta.url);
  const pools = {
    verify: { size: options.verifyWorkers ?? VERIFY_WORKERS, workers: [] as Worker[] },
    hash: { size: 1, workers: [] as Worker[] },
  };
  const pending = new Map<
    number,
    { resolve: (v: string | boolean) => void; reject: (e: PushError) => void; worker: Worker }
  >();
  /** Jobs sent to each worker and not answered yet. */
  const load = new Map<Worker, number>();
  let nextId = 0;
  let closed = false;

  function onResult(event: MessageEvent<BcryptResult>): void {
    const result = event.data;
    const job = pending.get(result.id);
    if (job === undefined) return;
    pending.delete(result.id);
    load.set(job.worker, (load.get(job.worker) ?? 1) - 1);
    if ("error" in result) {
      reportFault("bcrypt", new Error(`bcrypt refused a job: ${result.error}`));
      job.reject(hasherFault("refused", result.error));
    } else job.resolve(result.value);
  }

  function onCrash(event: ErrorEvent): void {
    event.preventDefault();
    reportFault("bcrypt", new Error(`bcrypt worker failed: ${event.message}`));
    const error = hasherFault("crashed", event.message);
    for (const job of pending.values()) job.reject(error);
    pending.clear();
    load.clear();
    terminateAll();
  }

  function terminateAll(): void {
    for (const pool of Object.values(pools)) {
      for (const worker of pool.workers.splice(0)) worker.terminate();
    }
  }

  function run(job: BcryptRequest): Promise<string | boolean> {
    if (closed) return Promise.reject(hasherFault("closed", "the token hasher is closed"));
    const id = nextId++;
    const pool = pools[job.op];
    if (pool.workers.length < pool.size) {
      const worker = new Worker(workerUrl.href, {
        type: "module",
      });
      worker.onmessage = onResult;
      worker.onerror = onCrash;
      pool.workers.push(worker);
    }
    // The least busy worker, not id % size: ids are shared by both pools, so two verifications
    // could land on one worker and a check the token gate let run waited behind another.
    let worker = pool.workers[0]!;
    for (const candidate of pool.workers) {
      if ((load.get(candidate) ?? 0) < (load.get(worker) ?? 0)) worker = candidate;
    }
    load.set(worker, (load.get(worker) ?? 0) + 1);
    const { promise, resolve, reject } = Promise.withResolvers<string | boolean>();
    pending.set(id, { resolve, reject, worker });
    worker.postMessage({ ...job, id } as BcryptJob);
    return promise;
  }

  return {
    async hash(token) {
      return String(await run({ op: "hash", token, cost }));
    },
    async verify(token, hash) {
      return (await run({ op: "verify", token, hash })) === true;
    },
    close() {
      closed = true;
      terminateAll();
      const error = hasherFault("closed", "the token hasher is closed");
      for (const job of pending.values()) job.reject(error);
      pending.clear();
    },
  };
}
