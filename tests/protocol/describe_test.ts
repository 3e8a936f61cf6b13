import assert from "node:assert/strict";
import { Parser } from "@asyncapi/parser";
import { validate as validateOpenApi } from "@readme/openapi-parser";
import { Ajv, type AnySchema } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import fc from "fast-check";
import { isDeepStrictEqual } from "node:util";
import { z } from "zod";
import { ERRORS } from "../../src/errors.ts";
import { ACTION_SCHEMAS, parseAction } from "../../src/protocol/api.ts";
import {
  CONTRACT_ACTIONS,
  CONTRACT_CLIENT_ACTIONS,
} from "../../src/protocol/_contract_requests.ts";
import {
  ACTION_ROUTES,
  asyncApiDocument,
  clientActionSchema,
  CONTRACT_ERROR_MESSAGES,
  covers,
  type Json,
  openApiDocument,
  OPERATION_ROUTES,
  requestSchema,
} from "../../src/protocol/describe.ts";
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
      "push",
      "subscribe",
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
  for (const refusal of Object.values(refusals)) compile(document, (refusal as Json).payload);
});

Deno.test("every publisher action has a route, and every documented v1 request is accepted", () => {
  const routed = new Set(ACTION_ROUTES.map((r) => r.action));
  for (const action of Object.keys(ACTION_SCHEMAS)) {
    assert.ok(routed.has(action), `${action} has no entry in ACTION_ROUTES`);
  }
  for (const route of ACTION_ROUTES) {
    if (!(route.action in ACTION_SCHEMAS)) continue;
    const body = { messageType: "SERVER_ACTION", action: route.action, data: route.example };
    const parsed = parseAction(
      route.action as keyof typeof ACTION_SCHEMAS,
      JSON.stringify(body),
      { maxMessageBytes: 65536 },
    );
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
    Object.keys(ACTION_SCHEMAS).map((
      action,
    ) => [action, compile(document, requestSchema(action, "draft-2020-12"))]),
  );
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
    { numRuns: 400 },
  );
  assert.ok(accepted > 0, "some generated bodies were valid");

  const frames = ["SUBSCRIBE", "UNSUBSCRIBE"].map((action) =>
    compile(document, clientActionSchema(action, "draft-2020-12"))
  );
  for (
    const frame of [
      { messageType: "CLIENT_ACTION", action: "SUBSCRIBE", data: { channel: "news" } },
      { messageType: "CLIENT_ACTION", action: "UNSUBSCRIBE", data: { channel: "é" }, uuid: null },
    ]
  ) {
    assert.ok(parseInbound(JSON.stringify(frame)).ok);
    assert.ok(frames.some((validate) => validate(frame).length === 0), JSON.stringify(frame));
  }
});

/** The JSON Schema of a zod schema, as describe.ts embeds it. */
function contractJson(schema: z.ZodType): Json {
  const { $schema: _, ...json } = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "any",
  }) as Json;
  return json;
}

Deno.test("a PROTOCOL.md schema in _contract_requests.ts is used only while the real one lacks its fields", () => {
  // Today's real schemas: whichever action or field they lack is documented from the contract.
  for (const action of Object.keys(CONTRACT_ACTIONS)) {
    const documented = requestSchema(action, "draft-2020-12");
    const data = (documented.properties as Record<string, Json>).data!;
    assert.ok(Object.keys(data.properties as Json).includes("channel"), action);
  }
  const stale = Object.entries(CONTRACT_ACTIONS)
    .filter(([action, schema]) =>
      !isDeepStrictEqual(requestSchema(action, "draft-2020-12"), contractJson(schema))
    )
    .map(([action]) => action);
  assert.deepEqual(
    stale,
    [],
    "ACTION_SCHEMAS validates these now: delete them in _contract_requests.ts",
  );
  const staleFrames = Object.entries(CONTRACT_CLIENT_ACTIONS)
    .filter(([action, schema]) =>
      !isDeepStrictEqual(clientActionSchema(action, "draft-2020-12"), contractJson(schema))
    )
    .map(([action]) => action);
  assert.deepEqual(
    staleFrames,
    [],
    "inbound.ts validates these now: delete them in _contract_requests.ts",
  );
  const catalogStatuses = new Set(Object.values(ERRORS).map((e) => e.status));
  const staleErrors = Object.keys(CONTRACT_ERROR_MESSAGES).filter((s) =>
    catalogStatuses.has(Number(s))
  );
  assert.deepEqual(
    staleErrors,
    [],
    "errors.ts has these now: delete them from CONTRACT_ERROR_MESSAGES",
  );
});

Deno.test("requestSchema() prefers ACTION_SCHEMAS once it has every field of the contract's", () => {
  const own = contractJson(ACTION_SCHEMAS.CREATE_CHANNEL);
  const contract = contractJson(CONTRACT_ACTIONS.CREATE_CHANNEL!);
  assert.equal(covers(own, contract), false, "today create lacks history and private");
  assert.equal(covers(contract, own), true);
  assert.deepEqual(
    requestSchema("PUSH_MESSAGE", "draft-2020-12"),
    contractJson(ACTION_SCHEMAS.PUSH_MESSAGE),
  );
  assert.throws(() => requestSchema("NO_SUCH_ACTION", "draft-2020-12"), /no request schema/);
  // The frames come from inbound.ts' schema, narrowed to one action each.
  const unsubscribe = clientActionSchema("UNSUBSCRIBE", "draft-2020-12");
  assert.deepEqual((unsubscribe.properties as Json).action, {
    type: "string",
    const: "UNSUBSCRIBE",
  });
  assert.deepEqual(
    (unsubscribe.properties as Json).data,
    (contractJson(inboundSchema).properties as Json).data,
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
