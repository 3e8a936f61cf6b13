import assert from "node:assert/strict";
import { Parser } from "@asyncapi/parser";
import { validate as validateOpenApi } from "@readme/openapi-parser";
import { Ajv, type AnySchema } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import fc from "fast-check";
import { z } from "zod";
import { CLOSE, ERRORS } from "../../src/errors.ts";
import { ACTION_SCHEMAS, type ActionName, parseAction } from "../../src/protocol/api.ts";
import { asyncApiDocument } from "../../src/protocol/asyncapi.ts";
import { clientActionSchema, type Json, requestSchema } from "../../src/protocol/document.ts";
import { CONTRACT_ERROR_MESSAGES } from "../../src/protocol/http_errors.ts";
import { openApiDocument } from "../../src/protocol/openapi.ts";
import { OPERATION_ROUTES } from "../../src/protocol/operation_routes.ts";
import { ACTION_ROUTES } from "../../src/protocol/routes.ts";
import { inboundSchema, parseInbound } from "../../src/protocol/inbound.ts";
import { mutatedAction } from "../fuzz/_arbitraries.ts";

/** The documents' own dialects: 2020-12 (OpenAPI 3.1), draft-07 (AsyncAPI 3.0's default). */
function compiler(dialect: "2020-12" | "draft-07"): (document: Json, schema: unknown) => Validate {
  const ajv = dialect === "2020-12"
    ? new Ajv2020({ strict: true, allowUnionTypes: true })
    : new Ajv({ strict: true, allowUnionTypes: true });
  addFormats.default(ajv);
  return (document, schema) => {
    const validate = ajv.compile(inline(document, schema) as AnySchema);
    return (value) => validate(value) ? [] : (validate.errors ?? []).map((e) => e.message ?? "");
  };
}

type Validate = (value: unknown) => string[];

function inline(document: Json, schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map((s) => inline(document, s));
  if (typeof schema !== "object" || schema === null) return schema;
  const ref = (schema as Json).$ref;
  if (typeof ref === "string") {
    let node: unknown = document;
    for (const part of ref.slice(2).split("/")) node = (node as Json)[part.replaceAll("~1", "/")];
    assert.ok(node !== undefined, `dangling ${ref}`);
    return inline(document, node);
  }
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, inline(document, v)]));
}

function operations(document: Json): [string, Json][] {
  const found: [string, Json][] = [];
  for (const [path, item] of Object.entries(document.paths as Record<string, Json>)) {
    for (const [method, operation] of Object.entries(item)) {
      found.push([`${method.toUpperCase()} ${path}`, operation as Json]);
    }
  }
  return found;
}

Deno.test("the OpenAPI document passes @readme/openapi-parser with no warning", async () => {
  // The parser's type wants its own OpenAPI types; the document is plain JSON.
  const document = openApiDocument() as unknown as Parameters<typeof validateOpenApi>[0];
  const result = await validateOpenApi(document);
  assert.equal(result.valid, true, JSON.stringify(result, null, 2));
  assert.deepEqual(result.warnings, []);
  assert.equal(result.specification, "OpenAPI");
});

Deno.test("the AsyncAPI document passes @asyncapi/parser with no error or warning", async () => {
  const { document, diagnostics } = await new Parser().parse(JSON.stringify(asyncApiDocument()));
  // Severity 0 is an error, 1 a warning; 2 and 3 are hints (e.g. "3.1.0 exists": PROTOCOL.md
  // asks for 3.0).
  const serious = diagnostics.filter((d) => d.severity <= 1);
  assert.deepEqual(serious.map((d) => `${d.code}: ${d.message} at ${d.path.join(".")}`), []);
  assert.ok(document !== undefined);
  assert.deepEqual(
    document.operations().all().map((o) => o.id()).sort(),
    [
      "channelDeleted",
      "connected",
      "error",
      "presence",
      "presenceChange",
      "push",
      "subscribe",
      "subscriptionExpired",
      "subscriptionRevoked",
      "unsubscribe",
    ],
  );
});

Deno.test("OpenAPI: every schema compiles in strict ajv and every example matches it", () => {
  const document = openApiDocument();
  const compile = compiler("2020-12");
  for (const [name, schema] of Object.entries((document.components as Json).schemas as Json)) {
    compile(document, schema);
    assert.ok(name.length > 0);
  }
  let examples = 0;
  for (const [where, operation] of operations(document)) {
    const bodies = [
      ["request", (operation.requestBody as Json | undefined)?.content],
      ...Object.entries(operation.responses as Record<string, Json>).map((
        [status, r],
      ) => [status, r.content]),
    ] as [string, Record<string, Json> | undefined][];
    for (const [what, content] of bodies) {
      for (const media of Object.values(content ?? {})) {
        if (media.example === undefined) continue;
        assert.deepEqual(compile(document, media.schema)(media.example), [], `${where} ${what}`);
        examples++;
      }
    }
  }
  assert.ok(examples > 100, `${examples} examples checked`);
});

Deno.test("AsyncAPI: every payload compiles in strict ajv (draft-07) and every example matches", () => {
  const document = asyncApiDocument();
  const compile = compiler("draft-07");
  const messages = (document.components as Json).messages as Record<string, Json>;
  for (const [name, message] of Object.entries(messages)) {
    const validate = compile(document, message.payload);
    for (const example of message.examples as Json[]) {
      assert.deepEqual(validate(example.payload), [], name);
    }
  }
  const refusals = ((document.channels as Json).subscriber as Json)["x-http-responses"] as Json;
  // 202 and 204 (SSE commands, CORS preflights) have no body.
  for (const refusal of Object.values(refusals) as Json[]) {
    if (refusal.payload !== undefined) compile(document, refusal.payload);
  }
});

Deno.test("AsyncAPI: x-close-codes lists exactly the CLOSE catalog, code and reason", () => {
  const channel = (asyncApiDocument().channels as Json).subscriber as Json;
  const listed = channel["x-close-codes"] as { code: number; reason: string; when: string }[];
  assert.deepEqual(
    listed.map(({ code, reason }) => ({ code, reason })),
    Object.values(CLOSE).map(({ code, reason }) => ({ code, reason })),
  );
  for (const { when } of listed) assert.ok(when.length > 0);
});

Deno.test("every publisher action has a route, and every documented request example is accepted", () => {
  const routed = new Set<string>(ACTION_ROUTES.map((r) => r.action));
  for (const action of Object.keys(ACTION_SCHEMAS)) {
    assert.ok(routed.has(action), `${action} has no entry in ACTION_ROUTES`);
  }
  for (const route of ACTION_ROUTES) {
    const body = { messageType: "SERVER_ACTION", action: route.action, data: route.example };
    const parsed = parseAction(route.action, JSON.stringify(body), { maxMessageBytes: 65536 });
    assert.ok(parsed.ok, `${route.path}: ${JSON.stringify(parsed)}`);
  }
  const paths = Object.keys(openApiDocument().paths as Json);
  for (const path of ["/channel/authorize", "/channel/revoke", "/channel/rotate", "/healthz"]) {
    assert.ok(paths.includes(path), path);
  }
});

Deno.test("the documented request schemas accept every body the parsers accept", () => {
  const document = openApiDocument();
  const compile = compiler("2020-12");
  const validators = new Map(
    (Object.keys(ACTION_SCHEMAS) as ActionName[]).map((
      action,
    ) => [action, compile(document, requestSchema(action, "draft-2020-12"))]),
  );
  const token = "q3VvB1m9W6bXh5c2lJk0RrT8yZa4sQeDfGhUiOpLnMx";
  const v11: [ActionName, Json][] = [
    ["CREATE_CHANNEL", { channel: "h", history: { size: 10, ttlSeconds: 60 }, private: true }],
    ["CREATE_CHANNEL", { channel: "h", history: null, private: null }],
    ["AUTHORIZE_SUBSCRIBER", { channel: "h", channelToken: token, uuid: crypto.randomUUID() }],
    ["REVOKE_SUBSCRIBER", { channel: "h", channelToken: null, uuid: crypto.randomUUID() }],
    ["ROTATE_TOKEN", { channel: "h", channelToken: token }],
  ];
  for (const [action, data] of v11) {
    const body = { messageType: "SERVER_ACTION", action, data };
    assert.ok(parseAction(action, JSON.stringify(body), { maxMessageBytes: 65536 }).ok);
    assert.deepEqual(validators.get(action)!(body), [], JSON.stringify(body));
  }
  let accepted = 0;
  fc.assert(
    fc.property(mutatedAction, (body) => {
      const json = JSON.parse(body);
      const action = json?.action;
      const validate = validators.get(action);
      if (validate === undefined) return;
      if (!parseAction(action, body, { maxMessageBytes: 65536 }).ok) return;
      accepted++;
      assert.deepEqual(validate(json), [], body);
    }),
    // Mutations mostly make bodies invalid (more actions and fields since v1.2): 2,000 runs make
    // "no valid body at all" practically impossible (it happened about once in 20 at 400).
    { numRuns: 2000 },
  );
  assert.ok(accepted > 0, "some generated bodies were valid");

  const frames = ["SUBSCRIBE", "UNSUBSCRIBE"].map((action) =>
    compile(document, clientActionSchema(action, "draft-2020-12"))
  );
  for (
    const frame of [
      { messageType: "CLIENT_ACTION", action: "SUBSCRIBE", data: { channel: "news" } },
      { messageType: "CLIENT_ACTION", action: "UNSUBSCRIBE", data: { channel: "é" }, uuid: null },
      {
        messageType: "CLIENT_ACTION",
        action: "SUBSCRIBE",
        data: { channel: "news", since: { offset: 3, epoch: "e" } },
      },
    ]
  ) {
    assert.ok(parseInbound(JSON.stringify(frame)).ok);
    assert.ok(frames.some((validate) => validate(frame).length === 0), JSON.stringify(frame));
  }
});

/** The JSON Schema of a zod schema, as the document builders embed it. */
function json(schema: z.ZodType): Json {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "any",
  }) as Json;
  return rest;
}

Deno.test("request schemas are ACTION_SCHEMAS' own; frames are inbound.ts' narrowed to one action", () => {
  for (const route of ACTION_ROUTES) {
    assert.deepEqual(
      requestSchema(route.action, "draft-2020-12"),
      json(ACTION_SCHEMAS[route.action]),
    );
  }
  const create = requestSchema("CREATE_CHANNEL", "draft-2020-12");
  const fields = ((create.properties as Record<string, Json>).data!.properties) as Json;
  assert.deepEqual(Object.keys(fields), ["channel", "history", "private", "presence"]);
  const recipients = (((requestSchema("PUSH_MESSAGE", "draft-2020-12").properties as Json)
    .data as Json).properties as Json).recipients;
  assert.deepEqual(recipients, { type: "array", items: { type: "string", format: "uuid" } });

  for (const action of ["SUBSCRIBE", "UNSUBSCRIBE", "PRESENCE"]) {
    const frame = clientActionSchema(action, "draft-2020-12");
    assert.deepEqual((frame.properties as Json).action, { type: "string", const: action });
    assert.deepEqual(
      (frame.properties as Json).data,
      (json(inboundSchema).properties as Json).data,
    );
  }
  const since = (((clientActionSchema("SUBSCRIBE", "draft-7").properties as Json).data as Json)
    .properties as Json).since;
  assert.ok(since !== undefined, "SUBSCRIBE documents since");
});

Deno.test("a status PROTOCOL.md names is documented from CONTRACT_ERROR_MESSAGES only until errors.ts has it", () => {
  const catalogStatuses = new Set(Object.values(ERRORS).map((e) => e.status));
  const stale = Object.keys(CONTRACT_ERROR_MESSAGES).filter((s) => catalogStatuses.has(Number(s)));
  assert.deepEqual(stale, [], "errors.ts has these now: delete them from CONTRACT_ERROR_MESSAGES");
  const create = (openApiDocument().paths as Record<string, Record<string, Json>>)[
    "/channel/create"
  ]!.post!;
  assert.deepEqual(
    Object.keys(create.responses as Json),
    ["200", "400", "401", "405", "408", "409", "413", "429", "500", "503", "507"],
  );
});

Deno.test("every status in the error catalog is documented somewhere", () => {
  const openApi = JSON.stringify(openApiDocument());
  const asyncApi = JSON.stringify(asyncApiDocument());
  for (const [code, { status, message }] of Object.entries(ERRORS)) {
    const quoted = JSON.stringify(message);
    assert.ok(openApi.includes(quoted) || asyncApi.includes(quoted), `${code}: ${message}`);
    assert.ok(openApi.includes(`"${status}"`) || asyncApi.includes(`"${status}"`), code);
  }
});

Deno.test("a new route is one table entry: an admin POST with a body gets a valid operation", async () => {
  const document = openApiDocument({
    operations: [
      ...OPERATION_ROUTES,
      {
        path: "/sysadmin",
        method: "post",
        tag: "Operations",
        summary: "An admin action",
        description: "Example of a route added later.",
        request: {
          type: "application/json",
          schema: z.object({ channel: z.string() }),
          example: { channel: "news" },
        },
        responses: { 200: { description: "Done" } },
        bearer: "adminToken",
      },
    ],
  });
  const sysadmin = (document.paths as Record<string, Json>)["/sysadmin"]!;
  assert.deepEqual(Object.keys(sysadmin), ["get", "post"]);
  const post = sysadmin.post as Json;
  assert.equal(post.operationId, "postSysadmin");
  assert.deepEqual(Object.keys(post.responses as Json), ["200", "405", "500", "503"]);
  assert.ok(post.requestBody !== undefined);
  const result = await validateOpenApi(
    document as unknown as Parameters<typeof validateOpenApi>[0],
  );
  assert.equal(result.valid, true, JSON.stringify(result));
});
