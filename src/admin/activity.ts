/**
 * Pushes per minute of each channel, for the admin UI's channel table: two one-minute counters
 * per channel that had a push lately (a sliding-window estimate), so memory is bounded by the
 * channels pushed to in the last two minutes and a push costs one Map update.
 */

const MINUTE_MS = 60_000;

/** A channel's counters, in a form other nodes can read back (cluster mode). */
export interface PushWindow {
  /** Start of the current minute (unix ms). */
  readonly start: number;
  /** Pushes in the current minute so far. */
  readonly current: number;
  /** Pushes in the minute before it. */
  readonly previous: number;
}

/** Pushes per minute by channel. */
export class ChannelActivity {
  readonly #now: () => number;
  readonly #windows = new Map<string, PushWindow>();
  readonly #dirty = new Set<string>();

  /** Counts by `now` (ms). */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Counts one push to `channel`. */
  push(channel: string): void {
    const window = roll(this.#windows.get(channel), this.#now());
    this.#windows.set(channel, { ...window, current: window.current + 1 });
    this.#dirty.add(channel);
  }

  /** Pushes to `channel` in the last minute (estimated from the two counters). */
  perMinute(channel: string): number {
    return perMinute(this.#windows.get(channel), this.#now());
  }

  /** The counters of channels pushed to since the last call (cluster mode writes them out). */
  takeChanged(): Map<string, PushWindow> {
    const changed = new Map<string, PushWindow>();
    for (const channel of this.#dirty) {
      const window = this.#windows.get(channel);
      if (window !== undefined) changed.set(channel, window);
    }
    this.#dirty.clear();
    return changed;
  }

  /** Forgets channels without a push for two minutes; answers their names. */
  sweep(): string[] {
    const now = this.#now();
    const gone: string[] = [];
    for (const [channel, window] of this.#windows) {
      if (now - window.start >= 2 * MINUTE_MS) {
        this.#windows.delete(channel);
        gone.push(channel);
      }
    }
    return gone;
  }
}

/** The window moved on to the minute of `now`. */
function roll(window: PushWindow | undefined, now: number): PushWindow {
  const start = Math.floor(now / MINUTE_MS) * MINUTE_MS;
  if (window === undefined || start - window.start >= 2 * MINUTE_MS) {
    return { start, current: 0, previous: 0 };
  }
  if (start === window.start) return window;
  return { start, current: 0, previous: window.current };
}

/** Pushes in the minute before `now`: this minute's, plus the part of the last one still in it. */
export function perMinute(window: PushWindow | undefined, now: number): number {
  if (window === undefined) return 0;
  const rolled = roll(window, now);
  const elapsed = (now - rolled.start) / MINUTE_MS;
  return Math.round(rolled.current + rolled.previous * (1 - elapsed));
}
