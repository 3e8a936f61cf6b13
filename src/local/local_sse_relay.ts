/**
 * The SSE command relay of a single node: every stream is in this process, so a session the
 * SSE routes do not hold is held nowhere (404).
 */
import type { SseDeliver, SseRelay } from "../hub/sse_relay.ts";

/** Nothing to forward to. */
export class LocalSseRelay implements SseRelay {
  attach(_deliver: SseDeliver): void {}
  register(_sessionKey: string): void {}
  unregister(_sessionKey: string): void {}
  forward(_sessionKey: string, _text: string): Promise<boolean> {
    return Promise.resolve(false);
  }
  known(_sessionKey: string): Promise<boolean> {
    return Promise.resolve(false);
  }
}
