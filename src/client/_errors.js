// @ts-check
/**
 * The client's error type, shared by its modules. Part of the subscriber client served under
 * `/js/`; import `pushserver.js`, which re-exports it.
 */

/** Code of a {@link PushError} that never reached the server (closed client, lost connection). */
export const LOCAL_ERROR_CODE = 0;

/** An `ERROR` envelope from the server, or a local failure with code 0. */
export class PushError extends Error {
  /**
   * @param {number} code protocol status code (0 when no server answered)
   * @param {string} message the envelope's short message, e.g. `Not found`
   * @param {string | null} errorDetails the envelope's one-sentence detail
   */
  constructor(code, message, errorDetails) {
    super(message);
    this.name = "PushError";
    /** @type {number} */
    this.code = code;
    /** @type {string | null} */
    this.errorDetails = errorDetails;
  }
}

/**
 * A local failure (code 0): nothing was sent, or no answer can come any more.
 * @param {string} message
 * @param {string} details
 * @returns {PushError}
 */
export function localError(message, details) {
  return new PushError(LOCAL_ERROR_CODE, message, details);
}
