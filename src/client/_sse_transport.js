// @ts-check
/**
 * The Server-Sent Events transport (PROTOCOL.md "Server-Sent Events"), for networks that block
 * WebSocket: frames arrive on `GET /sse` as `data:` events, client frames go out as
 * `POST /sse/command` with the stream's session secret. It reads the stream with `fetch` rather
 * than `EventSource`, so that the client (not the browser) decides when to reconnect, and so
 * that it runs the same in browsers, Deno and Node 22+. Part of the subscriber client served
 * under `/js/`; import `pushserver.js`, which re-exports what is public.
 */
import { LOCAL_ERROR_CODE, PushError } from "./_errors.js";

/**
 * @typedef {import("./pushserver.d.ts").PushTransport} PushTransport
 * @typedef {import("./pushserver.d.ts").TransportConnection} TransportConnection
 * @typedef {import("./pushserver.d.ts").TransportOpenOptions} TransportOpenOptions
 */

/**
 * An event's data as a server frame: a JSON object, or null for anything else (as the
 * WebSocket transport reads its messages).
 * @param {string} data
 * @returns {Record<string, unknown> | null}
 */
function parseFrame(data) {
  try {
    const frame = JSON.parse(data);
    return typeof frame === "object" && frame !== null && !Array.isArray(frame) ? frame : null;
  } catch {
    return null;
  }
}

/**
 * The event-stream URL of a subscriber URL: `ws://host:port/…` → `http://host:port/sse`
 * (`wss:` → `https:`).
 * @param {string} url
 * @returns {URL}
 */
export function sseUrl(url) {
  const parsed = new URL(url);
  if (parsed.protocol === "ws:") parsed.protocol = "http:";
  else if (parsed.protocol === "wss:") parsed.protocol = "https:";
  return new URL("/sse", parsed.origin);
}

/**
 * The SSE transport, with `fetchImpl` or the global `fetch`.
 * @param {typeof fetch} [fetchImpl]
 * @returns {PushTransport}
 */
export function sseTransport(fetchImpl) {
  const doFetch = fetchImpl ?? globalThis.fetch?.bind(globalThis);
  if (!doFetch) throw new TypeError("No fetch implementation for the SSE transport");
  return {
    name: "sse",
    open: (url, options) => openStream(doFetch, url, options),
  };
}

/**
 * @param {string} detail
 * @returns {PushError}
 */
function failed(detail) {
  return new PushError(LOCAL_ERROR_CODE, "Connection failed", detail);
}

/**
 * Opens the stream and resolves at `Connected`.
 * @param {typeof fetch} doFetch
 * @param {string} url
 * @param {TransportOpenOptions} options
 * @returns {Promise<TransportConnection>}
 */
async function openStream(doFetch, url, options) {
  const stream = sseUrl(url);
  if (options.compact) stream.searchParams.set("compact", "1");
  const commandUrl = new URL("/sse/command", stream.origin);
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  options.signal.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => abort.abort(), options.timeoutMs);
  /** @type {ReadableStreamDefaultReader<Uint8Array>} */
  let reader;
  try {
    const response = await doFetch(stream, {
      headers: { accept: "text/event-stream" },
      signal: abort.signal,
      cache: "no-store",
    });
    if (response.status !== 200 || response.body === null) {
      await response.body?.cancel().catch(() => {});
      throw failed(`${stream} answered ${response.status}`);
    }
    reader = response.body.getReader();
  } catch (error) {
    clearTimeout(timer);
    options.signal.removeEventListener("abort", onAbort);
    if (error instanceof PushError) throw error;
    throw failed(
      options.signal.aborted
        ? "The client was closed"
        : abort.signal.aborted
        ? `No answer from ${stream} within ${options.timeoutMs} ms`
        : `Could not connect to ${stream}`,
    );
  }

  return await new Promise((resolve, reject) => {
    let welcomed = false;
    let closedByClient = false;
    /** @type {{ code: number, reason: string } | null} */
    let closeEvent = null;
    /** Commands are posted one after another: the session handles them in arrival order. */
    let queue = Promise.resolve();
    let session = "";

    /** @param {Record<string, unknown> | null} frame */
    const onData = (frame) => {
      if (welcomed) return options.onFrame(frame);
      const data = /** @type {{ uuid?: unknown, session?: unknown } | undefined} */ (frame?.data);
      if (
        frame?.messageType !== "CLIENT_ACK" || typeof data?.uuid !== "string" ||
        typeof data.session !== "string"
      ) {
        abort.abort();
        return reject(failed(`${stream} did not start with a Connected event`));
      }
      welcomed = true;
      session = data.session;
      clearTimeout(timer);
      options.signal.removeEventListener("abort", onAbort);
      resolve({
        uuid: data.uuid,
        compact: options.compact,
        send(frame) {
          const body = JSON.stringify(frame);
          queue = queue.then(() => post(body)).catch(() => {});
        },
        close() {
          closedByClient = true;
          abort.abort();
          return Promise.resolve();
        },
      });
    };

    /** @param {string} body */
    const post = async (body) => {
      if (closedByClient) return;
      const response = await doFetch(commandUrl, {
        method: "POST",
        headers: { authorization: `Bearer ${session}`, "content-type": "application/json" },
        body,
      });
      if (response.status === 202) {
        await response.body?.cancel().catch(() => {});
        return;
      }
      const text = await response.text();
      if (response.status === 404) {
        // The stream is gone on the server: end it here too, the client reconnects.
        abort.abort();
        return;
      }
      // The WebSocket would have received this ERROR on the connection.
      options.onFrame(parseFrame(text));
    };

    pump(reader, (event, data) => {
      if (event === "close") {
        closeEvent = /** @type {{ code: number, reason: string }} */ (parseFrame(data));
      } else onData(parseFrame(data));
    }).finally(() => {
      clearTimeout(timer);
      options.signal.removeEventListener("abort", onAbort);
      if (!welcomed) {
        return reject(
          failed(
            abort.signal.aborted && !options.signal.aborted
              ? `No answer from ${stream} within ${options.timeoutMs} ms`
              : `${stream} ended before Connected`,
          ),
        );
      }
      if (!closedByClient) {
        options.onClose(closeEvent?.code ?? 1006, closeEvent?.reason ?? "stream ended");
      }
    });
  });
}

/**
 * Reads an event stream to its end, calling `onEvent` for each event with data.
 * @param {ReadableStreamDefaultReader<Uint8Array>} reader
 * @param {(event: string, data: string) => void} onEvent
 */
async function pump(reader, onEvent) {
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        /** @type {string[]} */
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) {
            data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
          }
        }
        if (data.length > 0) onEvent(event, data.join("\n"));
      }
    }
  } catch {
    // Aborted, or the connection broke: the stream has ended either way.
  }
}
