/** The CLI's exit codes ({@link EXIT}) and its usage error: what every command module shares. */

/** Exit codes: one per class of protocol error, since exit statuses only go up to 255. */
export const EXIT = {
  ok: 0,
  /** 500 or anything unexpected. */
  failure: 1,
  /** Bad command line. */
  usage: 2,
  /** 401 or 403: token missing or wrong. */
  auth: 3,
  /** 404: no such channel. */
  notFound: 4,
  /** 409: the channel name is taken. */
  conflict: 5,
  /** 400: the server refused the request as malformed (e.g. a bad channel name or UUID). */
  badRequest: 6,
  /** 413: the message is too large. */
  tooLarge: 7,
  /** 408, 429 or 503: the server is busy, shutting down, or the request took too long. */
  unavailable: 8,
  /** The server could not be reached. */
  network: 9,
  /** 507: the server holds as many channels as it may (`MAX_CHANNELS`). */
  full: 10,
} as const;

/** Maps a protocol status code (0: no answer) to an exit code. */
export function exitCodeFor(status: number): number {
  switch (status) {
    case 0:
      return EXIT.network;
    case 400:
      return EXIT.badRequest;
    case 401:
    case 403:
      return EXIT.auth;
    case 404:
      return EXIT.notFound;
    case 409:
      return EXIT.conflict;
    case 413:
      return EXIT.tooLarge;
    case 408:
    case 429:
    case 503:
      return EXIT.unavailable;
    case 507:
      return EXIT.full;
    default:
      return EXIT.failure;
  }
}

/** A bad command line: exit code 2, with the message and a pointer to the help. */
export class UsageError extends Error {}
