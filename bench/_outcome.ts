/**
 * Whether a failed bench scenario means the bench is broken or the machine was busy.
 *
 * The CI smoke run (`deno task bench --quick`) must fail only when the bench itself is broken:
 * a scenario that errors is run again, and the run fails only when every attempt failed and
 * every attempt's failure looks like a defect. Failures that a loaded machine causes (a server
 * slow to start, a port taken between choosing and binding it, a connection reset, a
 * timeout, a generator killed) are reported and never turn the run red.
 */

/**
 * What one error message points to. A `crash` (the server died on its own, with an exit code,
 * while under load) is a defect that no co-occurring environment error explains away: the
 * connection resets it causes in the generator are its consequence, not a busy machine.
 */
export type Cause = "environment" | "defect" | "crash";

/**
 * Errors a busy or crowded machine produces without anything being wrong with the bench or the
 * server. Everything else counts as a defect, which still fails only if it repeats on every
 * attempt.
 */
const ENVIRONMENT: readonly RegExp[] = [
  /did not start within/i,
  /timed out|timeout/i,
  /killed by signal/i,
  /address already in use|AddrInUse|os error 98\b/i,
  /cannot assign requested address|os error 99\b/i,
  /connection reset|ECONNRESET|os error 104\b/i,
  /connection refused|ECONNREFUSED|os error 111\b/i,
  /broken pipe|EPIPE|os error 32\b/i,
  /too many open files|EMFILE|os error 24\b/i,
  /cannot allocate memory|ENOMEM|os error 12\b/i,
  /WebSocket handshake: connection closed/,
  /answered (429|503)\b/,
  /handshake refused: HTTP\/1\.1 (429|503)\b/,
];

const CRASH = /exited during the scenario \(exit code/;

/** Classifies one error message. */
export function causeOf(error: string): Cause {
  if (CRASH.test(error)) return "crash";
  return ENVIRONMENT.some((pattern) => pattern.test(error)) ? "environment" : "defect";
}

/** Whether one attempt's errors show a defect (rather than a busy machine). */
function defective(errors: readonly string[]): boolean {
  const causes = errors.map(causeOf);
  return causes.includes("crash") ||
    (causes.includes("defect") && !causes.includes("environment"));
}

/** The outcome of a scenario over its attempts. */
export type Verdict =
  /** The last attempt worked (`retried` earlier attempts failed, and why). */
  | { readonly kind: "ok"; readonly retried: readonly string[] }
  /** Every attempt failed, at least one for a reason a busy machine explains: reported only. */
  | { readonly kind: "inconclusive"; readonly reasons: readonly string[] }
  /** Every attempt failed with a defect: the bench is broken. */
  | { readonly kind: "broken"; readonly reasons: readonly string[] };

/**
 * Judges a scenario from the errors of each attempt, in order (an empty list is an attempt that
 * worked). Attempts stop at the first that worked, so only the last may be empty.
 */
export function verdict(attempts: readonly (readonly string[])[]): Verdict {
  if (attempts.length === 0) throw new Error("verdict: no attempts");
  const failed = attempts.filter((errors) => errors.length > 0);
  const reasons = failed.map((errors, i) => `attempt ${i + 1}: ${errors.join("; ")}`);
  if (attempts.at(-1)!.length === 0) return { kind: "ok", retried: reasons };
  return failed.every(defective) ? { kind: "broken", reasons } : { kind: "inconclusive", reasons };
}
