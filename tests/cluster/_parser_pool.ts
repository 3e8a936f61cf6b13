/**
 * redis-parser (ioredis's reply parser) keeps one module-wide buffer pool for bulk replies that
 * span socket reads; when it grows the pool it starts a 50 ms `setInterval` that shrinks the pool
 * by a tenth per tick and clears itself once the pool is small again (up to ~1.5 s later). A test
 * that received such a reply would end with that interval still running, and the op sanitizer
 * would fail it. This module notes those intervals so that a cluster test's teardown can wait
 * until the parser has cleared its own (bounded), instead of switching the sanitizer off.
 */

/** The parser's shrink callback is a named function: its intervals are the ones to wait for. */
const PARSER_CALLBACK = "decreaseBufferPool";
const running = new Set<unknown>();
const setIntervalBefore = globalThis.setInterval;
const clearIntervalBefore = globalThis.clearInterval;

globalThis.setInterval =
  ((handler: (...args: unknown[]) => void, timeout?: number, ...args: unknown[]) => {
    const id = setIntervalBefore(handler, timeout, ...args);
    if (handler.name === PARSER_CALLBACK) running.add(id);
    return id;
  }) as typeof setInterval;

globalThis.clearInterval = ((id?: number) => {
  running.delete(id);
  clearIntervalBefore(id);
}) as typeof clearInterval;

/** Waits (at most `ms`) until redis-parser has cleared the pool intervals it started. */
export async function parserPoolSettled(ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (running.size > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
