/** Reads a request body as UTF-8 text, refusing it while it arrives once it passes a limit. */
import { PushError } from "../errors.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

function tooLarge(size: string, limit: number): PushError {
  return new PushError("payload_too_large", `body is ${size} bytes; the limit is ${limit}`);
}

/** The body as text; 413 past `limit` bytes (never buffering more), 400 when not UTF-8. */
export async function readBodyText(request: Request, limit: number): Promise<string> {
  const declared = request.headers.get("content-length");
  let bytes: Uint8Array;
  if (declared !== null && /^\d+$/.test(declared)) {
    if (Number(declared) > limit) throw tooLarge(declared, limit);
    // The declared length frames the body, so reading it whole stays within the limit.
    bytes = new Uint8Array(await request.arrayBuffer());
  } else {
    bytes = await readCapped(request, limit);
  }
  try {
    return utf8.decode(bytes);
  } catch {
    throw new PushError("bad_json", "Body is not valid JSON (it is not UTF-8)");
  }
}

async function readCapped(request: Request, limit: number): Promise<Uint8Array> {
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(`over ${limit}`, limit);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
