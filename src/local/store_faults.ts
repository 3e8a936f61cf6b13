/**
 * SQLite faults at the adapter edge: whatever `node:sqlite` throws becomes the 503 `unavailable`
 * PushError before it leaves src/local/ (a lock held by another process, a full disk, an I/O
 * error), and a write that fails for any reason but a lock makes the node unready until writes
 * work again (PROTOCOL.md "Hardening (v1.2)": never a 500, and /readyz 503 while writes fail).
 */
import { PushError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { FaultReporter } from "../metrics.ts";
import { isSqliteBusy, storeLocked } from "./busy_retry.ts";

/** How often a failing store is probed for writes working again. */
const PROBE_MS = 1000;

/** Whether `error` comes from SQLite (any result code; `node:sqlite` marks them all). */
export function isSqliteError(error: unknown): boolean {
  return error instanceof Error && "code" in error && error.code === "ERR_SQLITE_ERROR";
}

/**
 * The 503 a SQLite error answers (a PushError passes through unchanged); `undefined` for an
 * error that is not the store's (a bug: the caller's 500).
 */
export function storeFault(error: unknown): PushError | undefined {
  if (error instanceof PushError) return error;
  if (!isSqliteError(error)) return undefined;
  if (isSqliteBusy(error)) return storeLocked();
  return new PushError(
    "unavailable",
    "The channel store cannot write (disk full or I/O error); retry shortly",
  );
}

/** Options of {@link WriteHealth}. */
export interface WriteHealthOptions {
  /** One small write that needs a new page, as a real write would; throws while writes fail. */
  readonly probe: () => void;
  readonly logger: Logger;
  readonly reportFault: FaultReporter;
  readonly probeMs?: number;
}

/** Whether the store's writes work: false from a failed write until a write (or probe) works. */
export class WriteHealth {
  readonly #options: WriteHealthOptions;
  #failing = false;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Starts healthy. */
  constructor(options: WriteHealthOptions) {
    this.#options = options;
  }

  /** False while writes fail. */
  get healthy(): boolean {
    return !this.#failing;
  }

  /**
   * Records the outcome of a write: `error` undefined when it worked. A lock held by another
   * process is not a failing store (it answers 503 on its own, and passes).
   */
  wrote(error?: unknown): void {
    if (error === undefined) {
      if (this.#failing) this.#recovered();
      return;
    }
    if (this.#failing || !isSqliteError(error) || isSqliteBusy(error)) return;
    this.#failing = true;
    this.#options.reportFault("store write", error);
    const timer = setInterval(() => this.#probe(), this.#options.probeMs ?? PROBE_MS);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** Stops probing. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #probe(): void {
    try {
      this.#options.probe();
    } catch {
      // Still failing: the failure was reported when it began; /readyz says so meanwhile.
      return;
    }
    this.#recovered();
  }

  #recovered(): void {
    this.#failing = false;
    this.close();
    this.#options.logger.info("channel store writes work again");
  }
}
