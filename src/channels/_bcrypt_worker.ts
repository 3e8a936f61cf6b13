/// <reference lib="deno.worker" />
/** Runs bcrypt off the main thread so hashing never stalls the event loop. */
import bcrypt from "bcryptjs";

/** What the pool asks for. */
export type BcryptRequest =
  | { op: "hash"; token: string; cost: number }
  | { op: "verify"; token: string; hash: string };

/** A request tagged with the pool's job id. */
export type BcryptJob = BcryptRequest & { id: number };

/** The pool's answer: a hash string, or whether the token matched. */
export type BcryptResult = { id: number; value: string | boolean } | { id: number; error: string };

self.onmessage = (event: MessageEvent<BcryptJob>) => {
  const job = event.data;
  try {
    const value = job.op === "hash"
      ? bcrypt.hashSync(job.token, job.cost)
      : bcrypt.compareSync(job.token, job.hash);
    self.postMessage({ id: job.id, value } satisfies BcryptResult);
  } catch (error) {
    self.postMessage({ id: job.id, error: String(error) } satisfies BcryptResult);
  }
};
