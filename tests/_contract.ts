/**
 * Contract checks for every test that starts a server through the helpers: each HTTP answer
 * (through `fetch`) and each WebSocket frame (through `TestClient` or `RawWebSocket`) received
 * from a watched server is checked against the OpenAPI and AsyncAPI documents the server serves.
 * An answer with a status that the document does not list for its route, a body that does not
 * match the documented schema, or a frame that matches no server message is a violation; the
 * server's `shutdown()` (or dispose) then throws with every violation it saw.
 *
 * Validators are compiled once per schema (ajv; draft 2020-12 for OpenAPI 3.1, draft-07 for
 * AsyncAPI 3.0's default schema format), so a check costs a lookup and a validation.
 */
import { Ajv, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { asyncApiDocument } from "../src/protocol/asyncapi.ts";
import type { Json } from "../src/protocol/document.ts";
import { openApiDocument } from "../src/protocol/openapi.ts";

/** One HTTP answer, as the test received it. */
export interface HttpExchange {
  readonly port: "http" | "ws";
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly contentType: string | null;
  /** The body text; undefined when it was not read (a refused WebSocket handshake). */
  readonly body: string | undefined;
}

/**
 * Close codes that a client sees without the server choosing them (its own close, a drop; Deno
 * reports 0 when a killed server's socket just vanished).
 */
const CLIENT_SIDE_CLOSE_CODES = new Set([0, 1000, 1005, 1006]);

class Documents {
  readonly openApi = openApiDocument();
  readonly asyncApi = asyncApiDocument();
  readonly #ajv2020 = withFormats(new Ajv2020({ strict: true, allowUnionTypes: true }));
  readonly #ajv7 = withFormats(new Ajv({ strict: true, allowUnionTypes: true }));
  readonly #validators = new Map<unknown, ValidateFunction>();
  #serverMessages: { name: string; validate: ValidateFunction }[] | undefined;

  /** A validator for `schema` (a schema of `document`, `$ref`s resolved in it). */
  validator(document: "openApi" | "asyncApi", schema: Json): ValidateFunction {
    const key = typeof schema.$ref === "string" ? `${document}${schema.$ref}` : schema;
    let validate = this.#validators.get(key);
    if (validate === undefined) {
      const resolved = inlineRefs(this[document], schema) as Json;
      validate = (document === "openApi" ? this.#ajv2020 : this.#ajv7).compile(resolved);
      this.#validators.set(key, validate);
    }
    return validate;
  }

  /** Every message the server sends: the `send` operations' and the replies'. */
  serverMessages(): { name: string; validate: ValidateFunction }[] {
    if (this.#serverMessages !== undefined) return this.#serverMessages;
    const names = new Set<string>();
    for (const operation of Object.values(this.asyncApi.operations as Record<string, Json>)) {
      const refs = operation.action === "send"
        ? operation.messages as Json[]
        : (operation.reply as Json | undefined)?.messages as Json[] | undefined ?? [];
      for (const ref of refs) names.add(String(ref.$ref).split("/").pop()!);
    }
    const messages = (this.asyncApi.components as Json).messages as Record<string, Json>;
    this.#serverMessages = [...names].map((name) => ({
      name,
      validate: this.validator("asyncApi", messages[name]!.payload as Json),
    }));
    return this.#serverMessages;
  }
}

function withFormats<T extends Ajv>(ajv: T): T {
  // ajv-formats is CommonJS: its ES default export is the module object.
  addFormats.default(ajv);
  return ajv;
}

let documents: Documents | undefined;
function docs(): Documents {
  return documents ??= new Documents();
}

/** Replaces every local `$ref` with the schema it points to (the documents have no cycles). */
function inlineRefs(document: Json, schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map((item) => inlineRefs(document, item));
  if (typeof schema !== "object" || schema === null) return schema;
  const ref = (schema as Json).$ref;
  if (typeof ref === "string") return inlineRefs(document, pointer(document, ref));
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [key, inlineRefs(document, value)]),
  );
}

function pointer(document: Json, ref: string): unknown {
  if (!ref.startsWith("#/")) throw new Error(`not a local $ref: ${ref}`);
  let node: unknown = document;
  for (const part of ref.slice(2).split("/")) {
    node = (node as Json)[part.replaceAll("~1", "/").replaceAll("~0", "~")];
    if (node === undefined) throw new Error(`dangling $ref: ${ref}`);
  }
  return node;
}

function problems(validate: ValidateFunction): string {
  return (validate.errors ?? [])
    .slice(0, 3)
    .map((e) => `${e.instancePath || "(root)"} ${e.message ?? ""}`)
    .join("; ");
}

function excerpt(text: string): string {
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** The documented answers for `method path` on the HTTP port. */
function httpResponses(method: string, path: string): Record<string, Json> {
  const { openApi } = docs();
  const paths = openApi.paths as Record<string, Record<string, Json>>;
  // One trailing slash on an action route is answered like the route without it.
  const trimmed = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  const item = paths[path] ?? (paths[trimmed]?.post !== undefined ? paths[trimmed] : undefined);
  if (item === undefined) {
    return (openApi["x-any-other-path"] as Json).responses as Record<string, Json>;
  }
  const operation = item[method === "HEAD" ? "get" : method.toLowerCase()];
  if (operation !== undefined) return operation.responses as Record<string, Json>;
  // An undocumented method on a documented path: only what any method can get (404 where the
  // route itself may not exist, e.g. the admin routes without ADMIN_TOKEN).
  const any = Object.values(item)[0]!.responses as Record<string, Json>;
  return Object.fromEntries(
    Object.entries(any).filter(([status]) => ["404", "405", "500", "503"].includes(status)),
  );
}

/** Checks one HTTP answer; returns the violation, or undefined when it matches the documents. */
export function checkHttp(exchange: HttpExchange): string | undefined {
  const { method, path, status } = exchange;
  const where = `${method} ${path} on the ${exchange.port} port answered ${status}`;
  let responses: Record<string, Json>;
  let document: "openApi" | "asyncApi";
  if (exchange.port === "http") {
    responses = httpResponses(method, path);
    document = "openApi";
  } else {
    const channel = (docs().asyncApi.channels as Record<string, Json>).subscriber!;
    const refusals = channel["x-http-responses"] as Record<string, Json>;
    responses = Object.fromEntries(
      Object.entries(refusals).map(([code, r]) => [
        code,
        r.contentType === undefined
          ? {}
          : { content: { [String(r.contentType).split(";")[0]!]: { schema: r.payload } } },
      ]),
    );
    document = "asyncApi";
  }
  const response = responses[String(status)];
  if (response === undefined) {
    return `${where}, which the document does not list (it lists ${
      Object.keys(responses).join(", ")
    })`;
  }
  if (exchange.body === undefined || method === "HEAD") return undefined;
  const content = response.content as Record<string, Json> | undefined;
  if (content === undefined) {
    return exchange.body === "" ? undefined : `${where} with a body, which is documented as empty`;
  }
  const type = exchange.contentType?.split(";")[0]?.trim() ?? "";
  const media = content[type];
  if (media === undefined) {
    return `${where} as ${type || "no content type"}; documented: ${Object.keys(content)}`;
  }
  if (!type.endsWith("json")) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(exchange.body);
  } catch {
    return `${where} with a body that is not JSON: ${excerpt(exchange.body)}`;
  }
  const validate = docs().validator(document, media.schema as Json);
  if (validate(json)) return undefined;
  return `${where} with a body that does not match the document (${problems(validate)}): ${
    excerpt(exchange.body)
  }`;
}

/** Checks one text frame from the server against the AsyncAPI server messages. */
export function checkFrame(text: string): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return `a WebSocket frame is not JSON: ${excerpt(text)}`;
  }
  const messages = docs().serverMessages();
  if (messages.some(({ validate }) => validate(json))) return undefined;
  const type = (json as Json | null)?.messageType;
  const message = (json as Json | null)?.message;
  const details = messages
    .filter(({ name }) => message === undefined || name === String(message).replace(" ", ""))
    .map(({ name, validate }) => (validate(json), `${name}: ${problems(validate)}`))
    .join(" | ");
  return `a ${type} frame matches no AsyncAPI message (${details}): ${excerpt(text)}`;
}

/** Checks the code of a close the server sent. */
export function checkCloseCode(code: number): string | undefined {
  if (CLIENT_SIDE_CLOSE_CODES.has(code)) return undefined;
  const channel = (docs().asyncApi.channels as Record<string, Json>).subscriber!;
  const codes = (channel["x-close-codes"] as { code: number }[]).map((c) => c.code);
  return codes.includes(code)
    ? undefined
    : `the server closed a WebSocket with ${code}, which x-close-codes does not list (${codes})`;
}

/** Violations seen for one server's two ports. */
export class Watch {
  readonly violations: string[] = [];
  readonly #hosts: string[];

  constructor(hosts: { http: string; ws: string }) {
    this.#hosts = [hosts.http, hosts.ws];
    watched.set(hosts.http, { port: "http", watch: this });
    watched.set(hosts.ws, { port: "ws", watch: this });
  }

  /** Stops watching and throws if anything was seen that the documents do not allow. */
  end(): void {
    for (const host of this.#hosts) if (watched.get(host)?.watch === this) watched.delete(host);
    if (this.violations.length === 0) return;
    const seen = this.violations.splice(0);
    throw new Error(`the server's answers break its API description:\n- ${seen.join("\n- ")}`);
  }
}

const watched = new Map<string, { port: "http" | "ws"; watch: Watch }>();

/** The watched server port at `host` (`127.0.0.1:1234`), if any. */
export function watchedAt(host: string): { port: "http" | "ws"; watch: Watch } | undefined {
  return watched.get(host);
}

/** Records the problem (if any) against the server at `host`. */
export function record(host: string, problem: string | undefined): void {
  if (problem !== undefined) watched.get(host)?.watch.violations.push(problem);
}

let installed = false;

/** Wraps `fetch` once so that answers from watched servers are checked (bodies read once more). */
export function checkFetches(): void {
  if (installed) return;
  installed = true;
  const original = globalThis.fetch;
  globalThis.fetch = async function checkedFetch(input, init) {
    const response = await original(input, init);
    const url = new URL(response.url || (input instanceof Request ? input.url : String(input)));
    const target = watched.get(url.host);
    if (target === undefined) return response;
    const method = (init?.method ?? (input instanceof Request ? input.method : "GET"))
      .toUpperCase();
    let body = "";
    // An event stream (GET /sse) lasts as long as the connection: its status and type are
    // checked, its frames by the SSE test client.
    const streaming = response.headers.get("content-type")?.startsWith("text/event-stream");
    if (method !== "HEAD" && response.body !== null && !streaming) {
      try {
        body = await response.clone().text();
      } catch {
        return response; // The body broke off; the test reading it sees that.
      }
    }
    const problem = checkHttp({
      port: target.port,
      method,
      path: url.pathname,
      status: response.status,
      contentType: response.headers.get("content-type"),
      body,
    });
    if (problem !== undefined) target.watch.violations.push(problem);
    return response;
  };
}
