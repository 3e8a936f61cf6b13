/// <reference lib="deno.worker" />
/** A bcrypt worker that dies on its first job, as one that ran out of memory would. */
self.onmessage = () => {
  throw new Error("worker ran out of memory");
};
