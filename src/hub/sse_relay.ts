/**
 * Where the commands of a Server-Sent Events stream go when they reach a node that does not
 * hold the stream (`POST /sse/command` behind a load balancer may land on any node). A session
 * is known here only by its key — the SHA-256 of its secret, in hex — never by the secret.
 *
 * A single node has nothing to forward to (`local/`: an unknown session is a 404 there); a
 * cluster records which node holds each session and hands the command to it (`cluster/`).
 */

/** Hands a command to this node's stream of `sessionKey`; false when none is open here. */
export type SseDeliver = (sessionKey: string, text: string) => boolean;

/** The SSE command relay between nodes. */
export interface SseRelay {
  /** Where commands forwarded to this node are handed (the SSE routes set it once). */
  attach(deliver: SseDeliver): void;
  /**
   * This node holds a stream of `sessionKey` from now on; resolves once other nodes can find
   * it (the stream's `Connected` waits for it). Never rejects: a failed write is retried.
   */
  register(sessionKey: string): Promise<void> | void;
  /** The stream of `sessionKey` has ended on this node. */
  unregister(sessionKey: string): void;
  /**
   * Hands `text` (a valid client frame) to the node that holds `sessionKey`: true once that
   * node handed it to the open stream, false when no node holds that session. Rejects with 503
   * when the cluster cannot tell.
   */
  forward(sessionKey: string, text: string): Promise<boolean>;
  /** Whether some other node may hold `sessionKey` (a bad body is a 400 then, else a 404). */
  known(sessionKey: string): Promise<boolean>;
}
