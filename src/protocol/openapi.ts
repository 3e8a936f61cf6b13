/**
 * The OpenAPI 3.1 document of the HTTP port, built from the route tables (`routes.ts`,
 * `operation_routes.ts`) and the error rows (`http_errors.ts`).
 */
import {
  camel,
  type Json,
  jsonSchema,
  pascal,
  PROTOCOL_VERSION,
  requestSchema,
  sortedStatuses,
} from "./document.ts";
import { errorSchema, serverAckSchema } from "./envelopes.ts";
import {
  errorExample,
  EVERY_ACTION_ERRORS,
  EVERY_ROUTE_ERRORS,
  httpMessages,
} from "./http_errors.ts";
import { OPERATION_ROUTES, type OperationRoute } from "./operation_routes.ts";
import { ACTION_ROUTES, type ActionRoute } from "./routes.ts";

const INFO_DESCRIPTION = [
  "The publisher API of pushserver (the HTTP port, `PORT_HTTP`, default 5223) and its " +
  "operations endpoints. The subscriber side (the WebSocket port) is described in AsyncAPI " +
  "at [/asyncapi.json](/asyncapi.json).",
  "Every action is a `POST` with a JSON body " +
  '`{"messageType":"SERVER_ACTION","action":…,"data":{…}}`; unknown extra fields are ignored. ' +
  "Answers are `application/json; charset=utf-8`, and the HTTP status always equals the " +
  "body's `code`. One trailing slash on an action route (`/push/`) is answered like the route " +
  "without it.",
  "Errors are checked in this order: 413 > 408 > 400 > 401 (`CREATE_TOKEN`, create only) > " +
  "404 channel > 401 token > 403 > 409 > 507 > 404 connection (authorize). 429 and 503 answer " +
  "where the server cannot go on; they never replace a 400 for a body that was fully read.",
  "Any path not listed here answers 404 (`x-any-other-path`).",
].join("\n\n");

/** Builds the OpenAPI 3.1 document of the HTTP port (from the two route tables by default). */
export function openApiDocument(
  tables: {
    readonly actions?: readonly ActionRoute[];
    readonly operations?: readonly OperationRoute[];
  } = {},
): Json {
  const { actions = ACTION_ROUTES, operations = OPERATION_ROUTES } = tables;
  const target = "draft-2020-12";
  const schemas: Record<string, Json> = {};
  const paths: Record<string, Json> = {};

  const errorRef = (status: number): Json => {
    const name = `Error${status}`;
    schemas[name] ??= {
      ...jsonSchema(errorSchema(status, httpMessages(status)), target),
      title: `${status} ${httpMessages(status).join(" / ")}`,
    };
    return { $ref: `#/components/schemas/${name}` };
  };

  const errorResponse = (status: number, description: string, details?: string): Json => {
    const response: Json = {
      description,
      content: {
        "application/json": {
          schema: errorRef(status),
          example: errorExample(status, httpMessages(status)[0] ?? "", details),
        },
      },
    };
    if (status === 405) {
      response.headers = {
        Allow: { description: "The methods this path takes", schema: { type: "string" } },
      };
    }
    return response;
  };

  for (const route of actions) {
    const name = pascal(route.action);
    schemas[`${name}Request`] = requestSchema(route.action, target);
    schemas[`${name}Ack`] = jsonSchema(
      serverAckSchema(route.success.message, route.success.data),
      target,
    );
    const responses: Record<string, Json> = {
      200: {
        description: `\`${route.success.message}\``,
        content: {
          "application/json": {
            schema: { $ref: `#/components/schemas/${name}Ack` },
            example: {
              messageType: "SERVER_ACK",
              code: 200,
              message: route.success.message,
              data: route.success.example,
            },
          },
        },
      },
    };
    const whens = { ...EVERY_ACTION_ERRORS, ...EVERY_ROUTE_ERRORS, ...route.errors };
    for (const status of sortedStatuses(whens)) {
      responses[status] = errorResponse(
        status,
        whens[status] ?? "",
        route.errorExamples?.[status],
      );
    }
    const post: Json = {
      operationId: camel(route.action),
      tags: [route.tag],
      summary: route.summary,
      description: route.description,
      requestBody: {
        required: true,
        content: {
          "application/json": {
            schema: { $ref: `#/components/schemas/${name}Request` },
            example: { messageType: "SERVER_ACTION", action: route.action, data: route.example },
          },
        },
      },
      responses,
    };
    if (route.bearer !== undefined) post.security = [{}, { [route.bearer]: [] }];
    paths[route.path] = {
      post,
      options: {
        operationId: `${camel(route.action)}Preflight`,
        tags: ["CORS"],
        summary: `CORS preflight for ${route.path}`,
        description: "Answered 204 with the CORS headers when the server has `CORS_ORIGINS` " +
          "set; otherwise this method gets 405 like any other.",
        responses: {
          204: { description: "The preflight answer (no body)" },
          405: errorResponse(405, "`CORS_ORIGINS` is not set"),
          500: errorResponse(500, EVERY_ROUTE_ERRORS[500] ?? ""),
          503: errorResponse(503, EVERY_ROUTE_ERRORS[503] ?? ""),
        },
      },
    };
  }

  for (const route of operations) {
    const responses: Record<string, Json> = {};
    for (const status of sortedStatuses(EVERY_ROUTE_ERRORS, route.responses)) {
      const reply = route.responses[status];
      if (reply === undefined) {
        responses[status] = errorResponse(status, EVERY_ROUTE_ERRORS[status] ?? "");
        continue;
      }
      const response: Json = { description: reply.description };
      if (reply.content !== undefined) {
        const media: Json = { schema: jsonSchema(reply.content.schema, target) };
        if (reply.content.example !== undefined) media.example = reply.content.example;
        response.content = { [reply.content.type.split(";")[0]!]: media };
      }
      responses[status] = response;
    }
    const method = route.method ?? "get";
    const name = route.path.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_|_$/g, "");
    const operation: Json = {
      operationId: camel(method === "get" ? name : `${method}_${name}`),
      tags: [route.tag],
      summary: route.summary,
      description: method === "get"
        ? `${route.description}\n\n\`HEAD\` answers the same without a body.`
        : route.description,
      responses,
    };
    if (route.request !== undefined) {
      const media: Json = { schema: jsonSchema(route.request.schema, target, "input") };
      if (route.request.example !== undefined) media.example = route.request.example;
      operation.requestBody = {
        required: true,
        content: { [route.request.type.split(";")[0]!]: media },
      };
    }
    if (route.bearer !== undefined) operation.security = [{ [route.bearer]: [] }];
    if (route.parameters !== undefined) operation.parameters = [...route.parameters];
    paths[route.path] = { ...paths[route.path], [method]: operation };
  }

  return {
    openapi: "3.1.0",
    info: {
      title: "pushserver publisher API",
      version: PROTOCOL_VERSION,
      description: INFO_DESCRIPTION,
    },
    servers: [{ url: "/", description: "This server's HTTP port" }],
    tags: [
      { name: "Channels", description: "Create, check, rotate and delete channels" },
      { name: "Push", description: "Send messages to subscribers" },
      { name: "Grants", description: "Who may subscribe to a private channel" },
      { name: "Operations", description: "Health, readiness, metrics, admin" },
      { name: "Browser files", description: "Client modules and the demo page" },
      { name: "API descriptions", description: "This document, AsyncAPI, and this page" },
      { name: "CORS", description: "Preflights for browser publishers (`CORS_ORIGINS`)" },
    ],
    paths,
    components: {
      schemas,
      securitySchemes: {
        createToken: {
          type: "http",
          scheme: "bearer",
          description: "`CREATE_TOKEN`, when the server has one set",
        },
        adminToken: { type: "http", scheme: "bearer", description: "`ADMIN_TOKEN`" },
      },
    },
    "x-any-other-path": {
      description: "Any other path, with any method",
      responses: {
        404: errorResponse(404, "No such route", "No route for GET /nope"),
        500: errorResponse(500, EVERY_ROUTE_ERRORS[500] ?? ""),
        503: errorResponse(503, EVERY_ROUTE_ERRORS[503] ?? ""),
      },
    },
  };
}
