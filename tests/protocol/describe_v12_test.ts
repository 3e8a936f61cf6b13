/**
 * The API documents name protocol 1.2.0, and the push request's schema has v1.2's
 * `idempotencyKey` with its bounds (PROTOCOL.md "Idempotent pushes").
 */
import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import { asyncApiDocument } from "../../src/protocol/asyncapi.ts";
import { type Json, requestSchema } from "../../src/protocol/document.ts";
import { openApiDocument } from "../../src/protocol/openapi.ts";

Deno.test("OpenAPI and AsyncAPI documents describe protocol 1.2.0", () => {
  assert.equal((openApiDocument().info as Json).version, "1.2.0");
  assert.equal((asyncApiDocument().info as Json).version, "1.2.0");
});

Deno.test("PUSH_MESSAGE's schema takes idempotencyKey: 1-64 printable ASCII, or null", () => {
  const schema = requestSchema("PUSH_MESSAGE", "draft-2020-12");
  const data = (schema.properties as Json).data as Json;
  const key = (data.properties as Json).idempotencyKey as Json;
  assert.ok(key !== undefined, "idempotencyKey is described");
  assert.match(String(key.description), /300 s/);
  const validate = new Ajv2020({ strict: false }).compile(key);
  for (const ok of ["k", " ~", "x".repeat(64), null]) assert.ok(validate(ok), JSON.stringify(ok));
  for (const bad of ["", "x".repeat(65), "caf\u00e9", "\t", 5]) {
    assert.ok(!validate(bad), JSON.stringify(bad));
  }
});
