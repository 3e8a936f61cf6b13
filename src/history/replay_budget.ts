/**
 * `MAX_REPLAY_BYTES_IN_FLIGHT`: the history bytes all replays together may hold in memory. A
 * replay asks for a page's worth before it reads one and waits (first come, first served) when
 * the budget is spent; it is never refused. Each replay's page is at most its share: the budget
 * divided by the replays in progress (between {@link MIN_PAGE_BYTES} — or a 16th of a smaller
 * budget — and {@link MAX_PAGE_BYTES}),
 * so a replay whose connection stops reading holds no more than that.
 */

/** Smallest page a replay asks for (a page still holds at least one entry). */
export const MIN_PAGE_BYTES = 64 * 1024;
/** Largest page: one store read of it stays far below 50 ms. */
export const MAX_PAGE_BYTES = 1024 * 1024;
/** Most entries in one page. */
export const PAGE_ENTRIES = 256;

/** The replay budget of one server. */
export class ReplayBudget {
  readonly capacity: number;
  #used = 0;
  #replays = 0;
  readonly #waiting: { bytes: number; resolve: () => void }[] = [];

  /** A budget of `capacity` bytes. */
  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Bytes held now (may pass the capacity by less than one entry). */
  get used(): number {
    return this.#used;
  }

  /** Replays in progress. */
  get replays(): number {
    return this.#replays;
  }

  /** Registers a replay in progress; call the returned function once when it ends. */
  begin(): () => void {
    this.#replays++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#replays--;
    };
  }

  /** The page size a replay may ask for now. */
  share(): number {
    const share = Math.floor(this.capacity / Math.max(1, this.#replays));
    const floor = Math.min(MIN_PAGE_BYTES, Math.floor(this.capacity / 16));
    return Math.min(MAX_PAGE_BYTES, Math.max(floor, share));
  }

  /** Resolves once `bytes` are held for the caller (at once when there is room). */
  acquire(bytes: number): Promise<void> {
    if (this.#waiting.length === 0 && this.#fits(bytes)) {
      this.#used += bytes;
      return Promise.resolve();
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiting.push({ bytes, resolve });
    return promise;
  }

  /** Holds `bytes` more without waiting (a page whose one entry is larger than asked for). */
  take(bytes: number): void {
    this.#used += bytes;
  }

  /** Gives `bytes` back and lets waiting replays in, in order. */
  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
    while (this.#waiting.length > 0 && this.#fits(this.#waiting[0]!.bytes)) {
      const next = this.#waiting.shift()!;
      this.#used += next.bytes;
      next.resolve();
    }
  }

  /** An empty budget admits any request, so one larger than the capacity still proceeds. */
  #fits(bytes: number): boolean {
    return this.#used === 0 || this.#used + bytes <= this.capacity;
  }
}
