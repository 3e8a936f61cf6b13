/** The inbound frame rate limit of one connection: a token bucket with strikes. */

/** What the limiter says about one frame. */
export type Admission = "ok" | "refused" | "flood";

/**
 * Token bucket: `ratePerS` refill, `burst` capacity. A frame past an empty bucket is
 * `refused` (answered 429); more than `burst` refusals before the bucket is full again is a
 * `flood` (the connection is closed 1008).
 */
export class FrameRateLimiter {
  readonly ratePerS: number;
  readonly burst: number;
  readonly #now: () => number;
  #tokens: number;
  #refilledAt: number;
  /** Frames refused since the bucket was last full. */
  #strikes = 0;

  /** A full bucket. */
  constructor(ratePerS: number, burst: number, now: () => number) {
    this.ratePerS = ratePerS;
    this.burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#refilledAt = now();
  }

  /** Takes a token for one frame. */
  take(): Admission {
    const now = this.#now();
    const elapsed = now - this.#refilledAt;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.ratePerS) / 1000);
      this.#refilledAt = now;
    }
    // Strikes are forgiven only once the bucket is full again (the client paused long enough):
    // forgiving them on every accepted frame let a flooder live forever on the trickle refill.
    if (this.#tokens >= this.burst) this.#strikes = 0;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return "ok";
    }
    this.#strikes++;
    return this.#strikes > this.burst ? "flood" : "refused";
  }
}
