/**
 * `PUSH_BATCH` (v1.2 "Batch publish"): up to 100 pushes in one request, each answered exactly as
 * `/push` would answer it. Every item is parsed on its own, every token is checked concurrently
 * (through the fair token gate, which verifies identical tokens once), then the valid pushes are
 * published in list order in one go: per channel they arrive in list order, history offsets of
 * a batch share one commit (single node) and the Redis commands go out together (cluster).
 */
import { ERRORS, PushError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { parsePushData } from "../protocol/api.ts";
import { authorizePush, publishPush, type PushData, type PushDeps } from "./push_action.ts";

/** One item's answer: the `{code, message, data}` of what `/push` would have answered. */
export interface BatchResult {
  readonly code: number;
  readonly message: string;
  readonly data: Record<string, unknown>;
}

/** What a batch needs. */
export interface BatchDeps extends PushDeps {
  readonly logger: Logger;
  readonly limits: { readonly maxMessageBytes: number };
}

/** Runs a batch's items and answers the `Batch` ack with their results in order. */
export async function runBatch(
  deps: BatchDeps,
  items: readonly Record<string, unknown>[],
  source: string | undefined,
): Promise<string> {
  const parsed = items.map((item) => parsePushData(item, deps.limits));
  // Token checks of every valid item at once; a failed check only fails its own item.
  const checks = await Promise.allSettled(
    parsed.map((item) => item.ok ? authorizePush(deps, item.value, source) : undefined),
  );
  // Published in list order without awaiting in between: see the module comment.
  const published = parsed.map((item, i) => {
    const check = checks[i]!;
    if (!item.ok) return Promise.reject(item.error);
    if (check.status === "rejected") return Promise.reject(check.reason);
    return publishPush(deps, check.value!, item.value);
  });
  const settled = await Promise.allSettled(published);
  const results = settled.map((outcome, i) =>
    outcome.status === "fulfilled"
      ? sent((parsed[i] as { value: PushData }).value, outcome.value)
      : failed(deps, outcome.reason)
  );
  return JSON.stringify({
    messageType: "SERVER_ACK",
    code: 200,
    message: "Batch",
    data: { results },
  });
}

function sent(data: PushData, extra: Record<string, unknown>): BatchResult {
  return {
    code: 200,
    message: "Sent",
    data: { channel: data.channel, channelToken: null, ...extra },
  };
}

function failed(deps: BatchDeps, reason: unknown): BatchResult {
  const error = reason instanceof PushError ? reason : new PushError("internal", null);
  if (!(reason instanceof PushError)) deps.logger.error("batch item failed", { error: reason });
  deps.metrics.countError("http", error.status);
  return {
    code: error.status,
    message: ERRORS[error.code].message,
    data: { errorDetails: error.details },
  };
}
