// @ts-check
/**
 * Transports: how the client reaches the server. A transport opens one connection, waits for the
 * server's `Connected` frame, then carries frames both ways; requests, pacing, subscriptions and
 * recovery sit above it and are the same whatever the transport (pusher-js and centrifuge-js split
 * their clients the same way). WebSocket is built in; an SSE transport (PROTOCOL.md
 * "Server-Sent Events") implements the same {@link PushTransport} interface. Part of the
 * subscriber client served under `/js/`; import `pushserver.js`, which re-exports what is public.
 */
import { LOCAL_ERROR_CODE, PushError } from "./_errors.js";
import { sseTransport } from "./_sse_transport.js";

/** The WebSocket subprotocol that asks the server for compact frames (PROTOCOL.md). */
export const COMPACT_PROTOCOL = "pushserver.compact";

/**
 * @typedef {import("./pushserver.d.ts").PushTransport} PushTransport
 * @typedef {import("./pushserver.d.ts").TransportConnection} TransportConnection
 * @typedef {import("./pushserver.d.ts").TransportOpenOptions} TransportOpenOptions
 * @typedef {{ new (url: string, protocols?: string | string[]): WebSocket }} WebSocketConstructor
 */

/** A connection attempt that failed or closed before `Connected` (not a timeout). */
class HandshakeFailed extends PushError {}

/**
 * The WebSocket transport, with `WebSocket` (e.g. from the `ws` package) or the global one.
 * It offers compact frames when asked to. A server that does not accept the subprotocol answers
 * without one, and browsers, `ws` and Node's WebSocket then fail the handshake ("Sent non-empty
 * 'Sec-WebSocket-Protocol' header but no response was received", "Server sent no subprotocol"):
 * so a failed offer is followed at once by an attempt without it, in the same time budget.
 *
 * @param {WebSocketConstructor} [WebSocketClass]
 * @returns {PushTransport}
 */
export function webSocketTransport(WebSocketClass) {
  const fallback = /** @type {WebSocketConstructor | undefined} */ (globalThis.WebSocket);
  const ctor = WebSocketClass ?? fallback;
  if (!ctor) {
    throw new TypeError("No WebSocket implementation: pass options.WebSocket (e.g. from 'ws')");
  }
  return {
    name: "websocket",
    async open(url, options) {
      const deadline = Date.now() + options.timeoutMs;
      if (!options.compact) return await openSocket(ctor, url, false, deadline, options);
      try {
        return await openSocket(ctor, url, true, deadline, options);
      } catch (error) {
        if (!(error instanceof HandshakeFailed) || options.signal?.aborted) throw error;
        return await openSocket(ctor, url, false, deadline, options);
      }
    },
  };
}

/**
 * Opens a socket and resolves on the server's `Connected` ack. Rejects on an `error` event, a
 * close, or at `deadline`, whichever comes first: Node 20's built-in WebSocket fires only `error`
 * (never `close`) for a refused connection, and `ws` throws an unhandled `error` event (ending
 * the process) when nobody listens for it. Aborting closes the socket; the promise rejects once
 * it has closed.
 *
 * @param {WebSocketConstructor} ctor
 * @param {string} url
 * @param {boolean} offerCompact
 * @param {number} deadline ms since the epoch
 * @param {TransportOpenOptions} options
 * @returns {Promise<TransportConnection>}
 */
function openSocket(ctor, url, offerCompact, deadline, options) {
  return new Promise((resolve, reject) => {
    /** @type {WebSocket} */
    let socket;
    try {
      socket = offerCompact ? new ctor(url, [COMPACT_PROTOCOL]) : new ctor(url);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      reject(new PushError(LOCAL_ERROR_CODE, "Connection failed", detail));
      return;
    }
    const { signal } = options;
    let welcomed = false;
    let failed = false;
    let closedByClient = false;
    const onAbort = () => closeQuietly(socket, 1000, "client closed");
    /**
     * @param {string} detail
     * @param {boolean} [handshake] the socket failed or closed (rather than timing out)
     */
    const fail = (detail, handshake = false) => {
      if (welcomed || failed) return;
      failed = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      closeQuietly(socket);
      const ErrorType = handshake ? HandshakeFailed : PushError;
      reject(new ErrorType(LOCAL_ERROR_CODE, "Connection failed", detail));
    };
    const timer = setTimeout(
      () => fail(`No answer from ${url} within ${options.timeoutMs} ms`),
      Math.max(0, deadline - Date.now()),
    );
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.onerror = () => fail(`Could not connect to ${url}`, true);
    socket.onmessage = (event) => {
      if (failed || closedByClient) return;
      const frame = parseFrame(event.data);
      if (welcomed) return options.onFrame(frame);
      const data = /** @type {{ uuid?: unknown } | undefined} */ (frame?.data);
      if (frame?.messageType === "CLIENT_ACK" && typeof data?.uuid === "string") {
        welcomed = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve({
          uuid: data.uuid,
          compact: socket.protocol === COMPACT_PROTOCOL,
          send(frame) {
            socket.send(JSON.stringify(frame));
          },
          close(code = 1000, reason = "client closed") {
            closedByClient = true;
            return new Promise((closed) => {
              if (socket.readyState === 3) return closed();
              socket.addEventListener("close", () => closed());
              socket.close(code, reason);
            });
          },
        });
      } else {
        fail(`${url} did not start with a Connected ack`);
      }
    };
    socket.onclose = (event) => {
      if (!welcomed) return fail(`Could not connect to ${url} (close code ${event.code})`, true);
      if (!closedByClient) options.onClose(event.code, event.reason);
    };
  });
}

/**
 * @param {WebSocket} socket
 * @param {number} [code]
 * @param {string} [reason]
 */
function closeQuietly(socket, code, reason) {
  try {
    if (code === undefined) socket.close();
    else socket.close(code, reason);
  } catch {
    // Some implementations throw when closing a socket that never opened.
  }
}

/**
 * A server frame: a JSON object, or null for anything else.
 * @param {unknown} data
 * @returns {Record<string, unknown> | null}
 */
export function parseFrame(data) {
  if (typeof data !== "string") return null;
  try {
    const frame = JSON.parse(data);
    return typeof frame === "object" && frame !== null && !Array.isArray(frame) ? frame : null;
  } catch {
    return null;
  }
}

/**
 * The transports to try, in order: `"websocket"` (with `WebSocketClass` or the global one) or
 * an object implementing {@link PushTransport}.
 * @param {unknown} transports
 * @param {WebSocketConstructor | undefined} WebSocketClass
 * @returns {PushTransport[]}
 */
export function checkTransports(transports, WebSocketClass) {
  if (!Array.isArray(transports) || transports.length === 0) {
    throw new TypeError('options.transports must be a non-empty array, e.g. ["websocket"]');
  }
  return transports.map((transport) => {
    if (transport === "websocket") return webSocketTransport(WebSocketClass);
    if (transport === "sse") return sseTransport();
    const candidate = /** @type {Partial<PushTransport> | null} */ (transport);
    if (typeof candidate?.name !== "string" || typeof candidate.open !== "function") {
      throw new TypeError(
        `options.transports: ${String(transport)} is neither "websocket", "sse" nor a transport ` +
          "({ name, open(url, options) })",
      );
    }
    return /** @type {PushTransport} */ (candidate);
  });
}
