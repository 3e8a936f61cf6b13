/**
 * The subscriber client's private modules in `src/client/`: `/js/pushserver.js` imports them by
 * relative path, so the HTTP port serves each beside it as `/js/<name>` and the API
 * description lists them. Pure data.
 */
export const CLIENT_MODULES = [
  "_client.js",
  "_connection.js",
  "_emitter.js",
  "_errors.js",
  "_frames.js",
  "_grants.js",
  "_options.js",
  "_requests.js",
  "_resubscribe.js",
  "_sse_transport.js",
  "_subscription.js",
  "_tokens.js",
  "_transport.js",
] as const;
