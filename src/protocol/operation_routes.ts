/**
 * Every route of the HTTP port that is not a publisher action (operations, admin, browser files,
 * API descriptions), as `openapi.ts` describes it.
 */
import { z } from "zod";
import { adminActionSchema } from "./api.ts";
import { type Json, JSON_TYPE } from "./document.ts";
import {
  channelTokenValue,
  errorSchema,
  health,
  readiness,
  serverAckSchema,
  sysadmin,
} from "./envelopes.ts";
import { CLIENT_MODULES } from "./client_modules.ts";
import { channelName } from "./fields.ts";
import { errorContent, EVERY_ACTION_ERRORS, httpMessages } from "./http_errors.ts";
import { nullToken } from "./routes.ts";
import { ADMIN_ROUTES } from "./admin_api.ts";

/** One answer of an operations route. */
export interface Reply {
  readonly description: string;
  /** Media type and body; absent for a body-less answer (304). */
  readonly content?: {
    readonly type: string;
    readonly schema: z.ZodType | Json;
    readonly example?: unknown;
  };
}

/** One route that is not a publisher action (operations, admin, browser files). */
export interface OperationRoute {
  readonly path: string;
  /** `get` when absent (`HEAD` then answers the same without a body). */
  readonly method?: "get" | "post" | "put" | "delete";
  /** The request body, for a method that takes one. */
  readonly request?: Reply["content"];
  readonly tag: string;
  readonly summary: string;
  readonly description: string;
  /** Every status besides the ones every route answers (405, 500, 503), which may be overridden. */
  readonly responses: Readonly<Record<number, Reply>>;
  /** A required bearer token (`ADMIN_TOKEN`). */
  readonly bearer?: "adminToken";
  /** OpenAPI parameter objects (query parameters). */
  readonly parameters?: readonly Json[];
}

const JS_TYPE = "text/javascript; charset=utf-8";
const TS_TYPE = "application/typescript; charset=utf-8";
const HTML_TYPE = "text/html; charset=utf-8";
const CSS_TYPE = "text/css; charset=utf-8";
const anyText: Json = { type: "string" };

function file(description: string, type: string): Readonly<Record<number, Reply>> {
  return {
    200: { description, content: { type, schema: anyText } },
    304: NOT_MODIFIED,
    500: {
      description: "The file is not in this build (see the server's log)",
      content: errorContent(500),
    },
  };
}

function page(description: string): Readonly<Record<number, Reply>> {
  return {
    200: { description, content: { type: HTML_TYPE, schema: anyText } },
    500: {
      description: "The page is not in this build (see the server's log)",
      content: errorContent(500),
    },
  };
}

const NOT_MODIFIED: Reply = {
  description: "The copy named by `If-None-Match` is current (no body)",
};

function apiDocument(description: string): Readonly<Record<number, Reply>> {
  return {
    200: { description, content: { type: JSON_TYPE, schema: { type: "object" } } },
    304: NOT_MODIFIED,
  };
}

/** Every other route of the HTTP port (`GET`; `HEAD` answers the same without a body). */
export const OPERATION_ROUTES: readonly OperationRoute[] = [
  {
    path: "/healthz",
    tag: "Operations",
    summary: "Liveness",
    description: "200 while the process runs.",
    responses: {
      200: {
        description: "The process runs",
        content: { type: JSON_TYPE, schema: health, example: { status: "ok" } },
      },
    },
  },
  {
    path: "/readyz",
    tag: "Operations",
    summary: "Readiness",
    description: "200 when the store is open and both ports listen, else 503.",
    responses: {
      200: {
        description: "Ready",
        content: { type: JSON_TYPE, schema: readiness.ready, example: { status: "ready" } },
      },
      503: {
        description: "Not ready: starting, shutting down, or the store cannot answer",
        content: {
          type: JSON_TYPE,
          schema: z.union([readiness.unavailable, errorSchema(503, httpMessages(503))]),
          example: { status: "unavailable" },
        },
      },
    },
  },
  {
    path: "/metrics",
    tag: "Operations",
    summary: "Prometheus metrics",
    description: "Connections, subscriptions, channels, pushes, deliveries, errors by code, " +
      "dropped messages, in the Prometheus text format.",
    responses: {
      200: {
        description: "The metrics",
        content: { type: "text/plain; version=0.0.4; charset=utf-8", schema: anyText },
      },
    },
  },
  {
    path: "/sysadmin",
    tag: "Operations",
    summary: "Channels and clients (admin)",
    description: "Exists only when the server has `ADMIN_TOKEN` set; needs " +
      "`Authorization: Bearer <ADMIN_TOKEN>`.",
    responses: {
      200: {
        description: "Every channel name and the number of connected clients",
        content: {
          type: JSON_TYPE,
          schema: sysadmin,
          example: {
            messageType: "SERVER_SYSADMIN",
            code: 200,
            message: "OK",
            data: { channels: ["news"], channelsAmount: 1, clientsAmount: 3 },
          },
        },
      },
      401: {
        description: "No valid admin bearer token",
        content: errorContent(401, "A valid admin bearer token is required"),
      },
      404: {
        description: "`ADMIN_TOKEN` is not set, so the route does not exist",
        content: errorContent(404, "No route for GET /sysadmin"),
      },
    },
    bearer: "adminToken",
  },
  ...(
    [
      ["delete", "Deleted", "Delete a channel whose token is lost", "like `/channel/delete`"],
      [
        "rotate",
        "Rotated",
        "Give a channel whose token is lost a new one",
        "like `/channel/rotate`",
      ],
    ] as const
  ).map(([verb, message, summary, like]): OperationRoute => ({
    path: `/admin/channel/${verb}`,
    method: "post",
    tag: "Operations",
    summary: `${summary} (admin)`,
    description: `The operator's way out of a lost channel token, ${like}. Exists only when ` +
      "the server has `ADMIN_TOKEN` set; needs `Authorization: Bearer <ADMIN_TOKEN>`.",
    request: { type: JSON_TYPE, schema: adminActionSchema, example: { channel: "news" } },
    responses: {
      200: {
        description: `\`${message}\``,
        content: {
          type: JSON_TYPE,
          schema: serverAckSchema(message, {
            channel: channelName,
            channelToken: verb === "rotate" ? channelTokenValue : nullToken,
          }),
          example: {
            messageType: "SERVER_ACK",
            code: 200,
            message,
            data: {
              channel: "news",
              channelToken: verb === "rotate"
                ? "Zx8pL0qR5tY7uI9oP1aS3dF6gH2jK4lM0nB5vC7xZ1q"
                : null,
            },
          },
        },
      },
      400: { description: 'The body is not `{"channel": NAME}`', content: errorContent(400) },
      401: {
        description: "No valid admin bearer token",
        content: errorContent(401, "A valid admin bearer token is required"),
      },
      404: {
        description: "No channel of that name; or `ADMIN_TOKEN` is not set, so the route " +
          "does not exist (for any method)",
        content: errorContent(404),
      },
      408: { description: EVERY_ACTION_ERRORS[408] ?? "", content: errorContent(408) },
      413: { description: "The body is over `MAX_BODY_BYTES`", content: errorContent(413) },
      429: { description: EVERY_ACTION_ERRORS[429] ?? "", content: errorContent(429) },
    },
    bearer: "adminToken",
  })),
  {
    path: "/js/pushserver.js",
    tag: "Browser files",
    summary: "The subscriber client (ES module)",
    description: "Served with `Access-Control-Allow-Origin: *`, so pages on any origin can " +
      "import it.",
    responses: file("The module", JS_TYPE),
  },
  ...CLIENT_MODULES.map((name) => ({
    path: `/js/${name}`,
    tag: "Browser files",
    summary: `A module of the subscriber client (imported by \`/js/pushserver.js\`)`,
    description: "Served like `/js/pushserver.js`.",
    responses: file("The module", JS_TYPE),
  })),
  {
    path: "/js/publisher.js",
    tag: "Browser files",
    summary: "The publisher client (ES module)",
    description: "Served with `Access-Control-Allow-Origin: *`.",
    responses: file("The module", JS_TYPE),
  },
  {
    path: "/js/pushserver.d.ts",
    tag: "Browser files",
    summary: "Type declarations of the subscriber client",
    description: "Named by `/js/pushserver.js` (`@ts-self-types`), so Deno type-checks an import.",
    responses: file("The declarations", TS_TYPE),
  },
  {
    path: "/js/publisher.d.ts",
    tag: "Browser files",
    summary: "Type declarations of the publisher client",
    description: "Named by `/js/publisher.js` (`@ts-self-types`).",
    responses: file("The declarations", TS_TYPE),
  },
  {
    path: "/js/demo.js",
    tag: "Browser files",
    summary: "The demo page's script",
    description: "Loaded by `/demo`.",
    responses: file("The script", JS_TYPE),
  },
  {
    path: "/demo",
    tag: "Browser files",
    summary: "Demo page",
    description: "Subscribes, shows pushes as they arrive, creates channels and pushes.",
    responses: page("The page"),
  },
  {
    path: "/docs",
    tag: "API descriptions",
    summary: "Interactive API reference",
    description: "Swagger UI for this document, served by the server itself (no CDN).",
    responses: { ...page("The page"), 304: NOT_MODIFIED },
  },
  {
    path: "/openapi.json",
    tag: "API descriptions",
    summary: "This document (OpenAPI 3.1)",
    description: "The publisher HTTP API and the operations endpoints.",
    responses: apiDocument("The document"),
  },
  {
    path: "/asyncapi.json",
    tag: "API descriptions",
    summary: "The WebSocket protocol (AsyncAPI 3.0)",
    description: "Each client action and each server message of the subscriber port.",
    responses: apiDocument("The document"),
  },
  {
    path: "/docs/swagger-ui-bundle.js",
    tag: "API descriptions",
    summary: "Swagger UI's script",
    description: "From the `swagger-ui-dist` package.",
    responses: file("The script", JS_TYPE),
  },
  {
    path: "/docs/swagger-ui.css",
    tag: "API descriptions",
    summary: "Swagger UI's styles",
    description: "From the `swagger-ui-dist` package.",
    responses: file("The style sheet", CSS_TYPE),
  },
  {
    path: "/docs/init.js",
    tag: "API descriptions",
    summary: "Starts Swagger UI on `/docs`",
    description: "A separate file, so the page needs no inline script.",
    responses: file("The script", JS_TYPE),
  },
  ...ADMIN_ROUTES,
];
