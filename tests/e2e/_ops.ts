/** Test support for operations: scraping /metrics and awaiting log lines. */
import type { LogFields, Logger } from "../../src/log.ts";

/** Fetches /metrics and returns each sample (`name{labels}` → value). */
export async function scrape(httpUrl: string): Promise<Map<string, number>> {
  const response = await fetch(`${httpUrl}/metrics`);
  const text = await response.text();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/**
 * Resolves once at least `count` other publisher requests are being handled, by scraping the
 * in-flight gauge (each scrape is a full round trip, so this waits on the server, not a timer).
 */
export async function waitForInFlight(httpUrl: string, count: number): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const inFlight = (await scrape(httpUrl)).get("pushserver_http_requests_in_flight") ?? 0;
    if (inFlight - 1 >= count) return;
  }
  throw new Error(`fewer than ${count} requests in flight after 500 scrapes`);
}

/** One captured log call. */
export interface LogRecord {
  readonly level: string;
  readonly msg: string;
  readonly fields: LogFields;
}

/** A logger that records every call and lets a test await a matching one. */
export class CapturingLogger implements Logger {
  readonly records: LogRecord[] = [];
  #waiters: { match: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];

  debug(msg: string, fields: LogFields = {}): void {
    this.#record({ level: "debug", msg, fields });
  }
  info(msg: string, fields: LogFields = {}): void {
    this.#record({ level: "info", msg, fields });
  }
  warn(msg: string, fields: LogFields = {}): void {
    this.#record({ level: "warn", msg, fields });
  }
  error(msg: string, fields: LogFields = {}): void {
    this.#record({ level: "error", msg, fields });
  }

  /**
   * Resolves with the first record (past or future) that matches, or rejects after `timeoutMs`.
   * `match` is called once per record, so it may count.
   */
  waitFor(match: (r: LogRecord) => boolean, timeoutMs = 5000): Promise<LogRecord> {
    const found = this.records.find(match);
    if (found !== undefined) return Promise.resolve(found);
    const { promise, resolve, reject } = Promise.withResolvers<LogRecord>();
    const timer = setTimeout(() => {
      this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
      reject(new Error(`no matching log line within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (record: LogRecord) => {
      clearTimeout(timer);
      resolve(record);
    };
    this.#waiters.push({ match, resolve: done });
    return promise;
  }

  #record(record: LogRecord): void {
    this.records.push(record);
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiting) {
      if (waiter.match(record)) waiter.resolve(record);
      else this.#waiters.push(waiter);
    }
  }
}
