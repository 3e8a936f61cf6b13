/**
 * Receipts in cluster mode (v1.2): the node that publishes a push with `receipt` learns from
 * Redis how many nodes received it (PUBLISH's answer), and each of those nodes, after handing
 * the push to its own connections, sends back its count on the publisher node's reply channel.
 * Counting happens on the receiving side; the publisher waits at most {@link RECEIPT_WAIT_MS}.
 */
import type { Receipt } from "../hub/broker.ts";

/** How long a publisher node waits for the other nodes' counts. */
export const RECEIPT_WAIT_MS = 1000;

/** One node's answer: receipt id, connections handed the push, recipients among them. */
export interface ReceiptReply {
  readonly q: string;
  readonly d: number;
  readonly u?: readonly string[];
}

interface Waiting {
  readonly receipt: Receipt;
  /** How many nodes received the push (known once its PUBLISH answered). */
  expected: number | undefined;
  got: number;
  readonly done: PromiseWithResolvers<void>;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** The receipts this node is waiting for. */
export class ReceiptWaiter {
  readonly #waiting = new Map<string, Waiting>();
  #next = 0;

  /** A fresh id for a receipt request of this node. */
  nextId(): string {
    return (this.#next++).toString(36);
  }

  /**
   * Starts counting into `receipt` for `id`, before the push is published (a fast node may
   * answer before PUBLISH does). After {@link RECEIPT_WAIT_MS} the receipt is `partial`.
   */
  register(id: string, receipt: Receipt): void {
    const timer = setTimeout(() => {
      const waiting = this.#waiting.get(id);
      if (waiting === undefined) return;
      receipt.partial = true;
      this.#finish(id, waiting);
    }, RECEIPT_WAIT_MS);
    this.#waiting.set(id, {
      receipt,
      expected: undefined,
      got: 0,
      done: Promise.withResolvers(),
      timer,
    });
  }

  /** Resolves once `nodes` nodes answered for `id`, or when its time is up. */
  wait(id: string, nodes: number): Promise<void> {
    const waiting = this.#waiting.get(id);
    if (waiting === undefined) return Promise.resolve();
    waiting.expected = nodes;
    if (waiting.got >= nodes) this.#finish(id, waiting);
    return waiting.done.promise;
  }

  /** Forgets `id` (its publish failed). */
  cancel(id: string): void {
    const waiting = this.#waiting.get(id);
    if (waiting !== undefined) this.#finish(id, waiting);
  }

  /** Counts one node's reply. */
  onReply(reply: ReceiptReply): void {
    const waiting = this.#waiting.get(reply.q);
    if (waiting === undefined) return;
    waiting.receipt.delivered += reply.d;
    for (const id of reply.u ?? []) waiting.receipt.reached?.add(id);
    waiting.got++;
    if (waiting.expected !== undefined && waiting.got >= waiting.expected) {
      this.#finish(reply.q, waiting);
    }
  }

  /** Ends every wait (the node is closing): they are partial. */
  close(): void {
    for (const [id, waiting] of this.#waiting) {
      waiting.receipt.partial = true;
      this.#finish(id, waiting);
    }
  }

  #finish(id: string, waiting: Waiting): void {
    clearTimeout(waiting.timer);
    this.#waiting.delete(id);
    waiting.done.resolve();
  }
}
