// @ts-check
// @ts-self-types="./pushserver.d.ts"
/**
 * pushserver subscriber client: promise-based subscribe, auto-reconnect, recovery of missed
 * pushes on history channels, grants for private channels and compact frames when the server
 * accepts them.
 *
 * Three parts, as centrifuge-js and pusher-js have them: {@link PushClient} (`_client.js`, with
 * the connection lifecycle in `_connection.js`, the paced frame queue in `_requests.js` and the
 * resubscribes after a reconnect or before a token expires in `_resubscribe.js`), one
 * {@link Subscription} per channel (`_subscription.js`: handlers, state, stream position,
 * events), and a transport (`_transport.js`: WebSocket built in) that carries the frames.
 *
 * Plain JavaScript ES modules with JSDoc types (checked by `deno check`), so the server serves
 * these exact files to browsers under `/js/` and Deno and Node import them unchanged. This file
 * is the entry point: its types for importers are in `pushserver.d.ts`. (Deno reads a module
 * that names its own types as untyped when it imports other JavaScript, so the code lives in
 * the `_*.js` modules, which check each other.)
 */
export { PushClient } from "./_client.js";
export { LOCAL_ERROR_CODE, PushError } from "./_errors.js";
export { backoffDelay, DEFAULT_OPTIONS } from "./_options.js";
export { Subscription } from "./_subscription.js";
export { COMPACT_PROTOCOL, webSocketTransport } from "./_transport.js";
export { sseTransport } from "./_sse_transport.js";
