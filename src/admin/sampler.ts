/**
 * The admin UI's time series: a bounded ring buffer of once-a-second samples of this node
 * (gauges as read, counters turned into per-second rates), and the sum of several nodes' samples
 * (cluster mode). No timer of its own: the caller ticks it (injected clock, tests tick by hand).
 */

/** Cumulative counters and gauges as read at one moment. */
export interface Reading {
  readonly connections: number;
  readonly subscriptions: number;
  readonly channels: number;
  /** Pushes accepted since start. */
  readonly pushes: number;
  /** Push frames queued to subscribers since start. */
  readonly deliveries: number;
  /** Error answers since start, by status code. */
  readonly errors: Readonly<Record<string, number>>;
}

/** One point of the series: gauges, and rates over the time since the previous sample. */
export interface Sample {
  /** Unix ms, a multiple of the interval (so that nodes' samples line up). */
  readonly t: number;
  readonly connections: number;
  readonly subscriptions: number;
  readonly channels: number;
  readonly pushesPerSecond: number;
  readonly deliveriesPerSecond: number;
  /** Errors per second by status code (codes with none in the interval are left out). */
  readonly errorsPerSecond: Readonly<Record<string, number>>;
}

/** The series as the stats endpoint answers it: one array per field, oldest first. */
export interface Series {
  readonly t: number[];
  readonly connections: number[];
  readonly subscriptions: number[];
  readonly channels: number[];
  readonly pushesPerSecond: number[];
  readonly deliveriesPerSecond: number[];
  /** Status code → errors per second at each `t` (0 where none). */
  readonly errorsPerSecond: Record<string, number[]>;
}

/** Options of {@link Sampler}. */
export interface SamplerOptions {
  /** Reads the node's counters and gauges. */
  readonly read: () => Reading;
  readonly now?: () => number;
  /** Time between samples (default 1000 ms). */
  readonly intervalMs?: number;
  /** How far back the series reaches (default 15 minutes). */
  readonly windowMs?: number;
}

/** Default time between samples. */
export const SAMPLE_INTERVAL_MS = 1000;
/** Default reach of the series. */
export const SAMPLE_WINDOW_MS = 15 * 60_000;

/** A ring buffer of this node's samples; holds at most `windowMs / intervalMs` of them. */
export class Sampler {
  readonly intervalMs: number;
  readonly windowMs: number;
  readonly #read: () => Reading;
  readonly #now: () => number;
  readonly #ring: (Sample | undefined)[];
  #next = 0;
  #previous: { readonly at: number; readonly reading: Reading } | undefined;

  /** An empty buffer; nothing is read until {@link sample}. */
  constructor(options: SamplerOptions) {
    this.#read = options.read;
    this.#now = options.now ?? Date.now;
    this.intervalMs = options.intervalMs ?? SAMPLE_INTERVAL_MS;
    this.windowMs = options.windowMs ?? SAMPLE_WINDOW_MS;
    this.#ring = new Array(Math.ceil(this.windowMs / this.intervalMs)).fill(undefined);
  }

  /** How many samples the buffer holds at most. */
  get capacity(): number {
    return this.#ring.length;
  }

  /** Reads the node now and stores the sample (a sample in the same interval replaces the last). */
  sample(): Sample {
    const at = this.#now();
    const reading = this.#read();
    const previous = this.#previous;
    const seconds = previous === undefined ? 0 : (at - previous.at) / 1000;
    const rate = (now: number, before: number | undefined) =>
      seconds > 0 && before !== undefined ? round(Math.max(0, now - before) / seconds) : 0;
    const errorsPerSecond: Record<string, number> = {};
    for (const [code, count] of Object.entries(reading.errors)) {
      const value = rate(
        count,
        previous === undefined ? undefined : previous.reading.errors[code] ?? 0,
      );
      if (value > 0) errorsPerSecond[code] = value;
    }
    const sample: Sample = {
      t: Math.floor(at / this.intervalMs) * this.intervalMs,
      connections: reading.connections,
      subscriptions: reading.subscriptions,
      channels: reading.channels,
      pushesPerSecond: rate(reading.pushes, previous?.reading.pushes),
      deliveriesPerSecond: rate(reading.deliveries, previous?.reading.deliveries),
      errorsPerSecond,
    };
    this.#previous = { at, reading };
    const last = this.#ring[(this.#next + this.#ring.length - 1) % this.#ring.length];
    if (last !== undefined && last.t === sample.t) {
      this.#ring[(this.#next + this.#ring.length - 1) % this.#ring.length] = sample;
    } else {
      this.#ring[this.#next] = sample;
      this.#next = (this.#next + 1) % this.#ring.length;
    }
    return sample;
  }

  /** The samples within the window, oldest first. */
  samples(): Sample[] {
    const since = this.#now() - this.windowMs;
    const out: Sample[] = [];
    for (let i = 0; i < this.#ring.length; i++) {
      const sample = this.#ring[(this.#next + i) % this.#ring.length];
      if (sample !== undefined && sample.t > since) out.push(sample);
    }
    return out;
  }
}

/**
 * The cluster's series from each node's samples: per interval, gauges and rates summed over the
 * nodes (channels is the cluster's count, the same on every node: the highest is taken). A node
 * without a sample in an interval adds its last earlier gauges (at most two intervals old) and
 * no rates, so a late tick neither drops a node's connections nor counts its pushes twice.
 */
export function mergeSamples(nodes: readonly (readonly Sample[])[], intervalMs: number): Sample[] {
  const times = [...new Set(nodes.flatMap((samples) => samples.map((s) => s.t)))].sort((a, b) =>
    a - b
  );
  const cursors = nodes.map(() => 0);
  return times.map((t) => {
    let connections = 0, subscriptions = 0, channels = 0, pushes = 0, deliveries = 0;
    const errors: Record<string, number> = {};
    nodes.forEach((samples, n) => {
      let i = cursors[n]!;
      while (i < samples.length && samples[i]!.t <= t) i++;
      cursors[n] = i;
      const latest = samples[i - 1];
      if (latest === undefined || t - latest.t > 2 * intervalMs) return;
      connections += latest.connections;
      subscriptions += latest.subscriptions;
      channels = Math.max(channels, latest.channels);
      if (latest.t !== t) return;
      pushes += latest.pushesPerSecond;
      deliveries += latest.deliveriesPerSecond;
      for (const [code, value] of Object.entries(latest.errorsPerSecond)) {
        errors[code] = round((errors[code] ?? 0) + value);
      }
    });
    return {
      t,
      connections,
      subscriptions,
      channels,
      pushesPerSecond: round(pushes),
      deliveriesPerSecond: round(deliveries),
      errorsPerSecond: errors,
    };
  });
}

/** Samples as the columns of the stats endpoint's `series`. */
export function toSeries(samples: readonly Sample[]): Series {
  const codes = new Set(samples.flatMap((s) => Object.keys(s.errorsPerSecond)));
  const errorsPerSecond: Record<string, number[]> = {};
  for (const code of [...codes].sort()) {
    errorsPerSecond[code] = samples.map((s) => s.errorsPerSecond[code] ?? 0);
  }
  return {
    t: samples.map((s) => s.t),
    connections: samples.map((s) => s.connections),
    subscriptions: samples.map((s) => s.subscriptions),
    channels: samples.map((s) => s.channels),
    pushesPerSecond: samples.map((s) => s.pushesPerSecond),
    deliveriesPerSecond: samples.map((s) => s.deliveriesPerSecond),
    errorsPerSecond,
  };
}

/** Three decimals are plenty for a chart, and keep the JSON short. */
function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
