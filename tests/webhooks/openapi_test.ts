/**
 * The OpenAPI document's `webhooks` section describes what the sender really POSTs: a delivery
 * body built by the sender's own code validates against its schema, and the names match.
 */
import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { openApiDocument } from "../../src/protocol/openapi.ts";
import { deliveryBody, WEBHOOK_EVENT_NAMES } from "../../src/webhooks/events.ts";
import { SIGNATURE_HEADER } from "../../src/webhooks/signature.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

function validator(document: Json, name: string) {
  const ajv = new Ajv2020({ strict: false, allowUnionTypes: true });
  // ajv-formats is CommonJS: its ES default export is the module object.
  addFormats.default(ajv);
  return ajv.compile({
    $ref: `#/components/schemas/${name}`,
    components: { schemas: document.components.schemas },
  });
}

Deno.test("/openapi.json: webhooks.channelEvents describes a real delivery", () => {
  const document: Json = openApiDocument();
  const post = document.webhooks.channelEvents.post;
  assert.equal(post.parameters[0].name, SIGNATURE_HEADER);
  assert.equal(
    post.requestBody.content["application/json"].schema.$ref,
    "#/components/schemas/WebhookDelivery",
  );
  const schemas = document.components.schemas;
  assert.deepEqual(
    [
      ...schemas.WebhookChannelEvent.properties.name.enum,
      ...schemas.WebhookSubscriberEvent.properties.name.enum,
    ].sort(),
    [...WEBHOOK_EVENT_NAMES].sort(),
  );
  const validate = validator(document, "WebhookDelivery");
  const body: Record<string, unknown> = JSON.parse(
    deliveryBody(crypto.randomUUID(), 1767225600000, [
      { name: "channel_created", channel: "room", timeMs: 1767225599412 },
      {
        name: "subscriber_joined",
        channel: "room",
        timeMs: 1767225599530,
        uuid: crypto.randomUUID(),
        info: { user: "ann" },
      },
    ]),
  );
  assert.ok(validate(body), JSON.stringify(validate.errors));
  assert.ok(validate(post.requestBody.content["application/json"].example));
  assert.ok(!validate({ ...body, events: [] }), "a delivery carries at least one event");
  assert.ok(!validate({ ...body, events: [{ name: "channel_renamed", channel: "r", timeMs: 1 }] }));
});
