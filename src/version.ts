/**
 * The software version, from deno.json (a JSON import, so `deno compile` embeds it). It is not the
 * protocol version (`PROTOCOL_VERSION` in protocol/describe.ts), which changes only with the wire.
 */
import denoJson from "../deno.json" with { type: "json" };

/** This build's version, e.g. "1.2.0": `cli --version`, the listening line and `/docs`. */
export const VERSION: string = denoJson.version;
