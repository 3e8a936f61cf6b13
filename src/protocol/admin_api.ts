/**
 * The admin UI's JSON endpoints (PROTOCOL.md v1.2 "Admin UI"), as OpenAPI describes them:
 * zod schemas of their answers, and the routes' table entries. Optional fields appear when the
 * server has the feature (cluster mode, presence, webhooks); a client must not rely on them.
 */
import { z } from "zod";
import { type Json, JSON_TYPE } from "./document.ts";
import { connectionUuid, epoch, historySettings } from "./envelopes.ts";
import { channelName } from "./fields.ts";
import { errorContent } from "./http_errors.ts";
import type { OperationRoute, Reply } from "./operation_routes.ts";

const count = z.int().min(0);
const rate = z.number().min(0);

const node = z.object({
  id: z.string().meta({ description: "The node's id (`local` in single-node mode)" }),
  connections: count,
  subscriptions: count,
  redis: z.enum(["up", "down"]).optional().meta({
    description: "Cluster mode: whether the node's Redis connections work",
  }),
  lastHeartbeat: z.int().optional().meta({
    description: "Cluster mode: when the node last reported (unix ms)",
  }),
});

/** `GET /admin/api/stats`. */
export const adminStats = z.object({
  mode: z.enum(["single", "cluster"]),
  nodes: z.array(node),
  connections: count.meta({ description: "Subscriber connections, summed over the nodes" }),
  subscriptions: count,
  channels: count.meta({ description: "Channels in the store" }),
  series: z.object({
    t: z.array(z.int()).meta({ description: "Sample times (unix ms), oldest first, ≤ 15 min" }),
    connections: z.array(count),
    subscriptions: z.array(count),
    channels: z.array(count),
    pushesPerSecond: z.array(rate),
    deliveriesPerSecond: z.array(rate),
    errorsPerSecond: z.record(z.string().regex(/^\d{3}$/), z.array(rate)).meta({
      description: "Error answers per second by status code",
    }),
  }).meta({ description: "One value per sample time in each array (cluster-wide sums)" }),
  webhooks: z.object({
    queued: count,
    lastDelivery: z.int().nullable(),
    failures: count,
  }).optional().meta({ description: "Only when webhooks are configured" }),
});

const channelRow = z.object({
  channel: channelName,
  subscribers: count.meta({ description: "Live subscribers on every node" }),
  pushesPerMinute: count,
  private: z.boolean(),
  history: z.boolean(),
  presence: z.boolean(),
});

/** `GET /admin/api/channels`. */
export const adminChannels = z.object({
  channels: z.array(channelRow).meta({ description: "Ascending by name (code point order)" }),
  next: z.string().nullable().meta({
    description: "The `cursor` of the next page; null on the last page",
  }),
});

/** `GET /admin/api/channel`. */
export const adminChannel = channelRow.extend({
  historySettings: historySettings.nullable(),
  offset: z.int().min(0).nullable().meta({
    description: "The stream's top offset (history channels; else null)",
  }),
  epoch,
  createdAt: z.int(),
  members: z.object({
    count,
    members: z.array(z.object({ uuid: connectionUuid, info: z.unknown() })),
    truncated: z.boolean().optional(),
  }).optional().meta({ description: "Presence channels, when the server has presence" }),
});

const ADMIN_NOTE = "Exists only when the server has `ADMIN_TOKEN` set; needs " +
  "`Authorization: Bearer <ADMIN_TOKEN>`.";

const refused: Readonly<Record<number, Reply>> = {
  401: {
    description: "No valid admin bearer token",
    content: errorContent(401, "A valid admin bearer token is required"),
  },
  404: {
    description: "`ADMIN_TOKEN` is not set, so the route does not exist (for any method)",
    content: errorContent(
      404,
      "No route for GET /admin/api/stats: the admin routes exist only when ADMIN_TOKEN is set",
    ),
  },
};

function query(name: string, description: string, schema: Json, required = false): Json {
  return { name, in: "query", required, description, schema };
}

const HTML_TYPE = "text/html; charset=utf-8";
const anyText: Json = { type: "string" };

/** The admin UI's routes, for the OpenAPI document. */
export const ADMIN_ROUTES: readonly OperationRoute[] = [
  {
    path: "/admin",
    tag: "Operations",
    summary: "Admin UI (web page)",
    description: "Live charts, channels, nodes; asks for the admin token in the page. Every " +
      "file from this server. Exists only when the server has `ADMIN_TOKEN` set.",
    responses: {
      200: { description: "The page", content: { type: HTML_TYPE, schema: anyText } },
      304: { description: "The copy named by `If-None-Match` is current (no body)" },
      404: refused[404]!,
    },
  },
  ...[
    ["/admin/ui/admin.js", "The admin page's script", "text/javascript; charset=utf-8"],
    ["/admin/ui/admin.css", "The admin page's styles", "text/css; charset=utf-8"],
    ["/admin/ui/uPlot.js", "uPlot (from the `uplot` package)", "text/javascript; charset=utf-8"],
    ["/admin/ui/uPlot.css", "uPlot's styles (from the `uplot` package)", "text/css; charset=utf-8"],
  ].map(([path, summary, type]): OperationRoute => ({
    path: path!,
    tag: "Browser files",
    summary: summary!,
    description: "Loaded by `/admin`; exists only when the server has `ADMIN_TOKEN` set.",
    responses: {
      200: { description: "The file", content: { type: type!, schema: anyText } },
      304: { description: "The copy named by `If-None-Match` is current (no body)" },
      404: refused[404]!,
    },
  })),
  {
    path: "/admin/api/stats",
    tag: "Operations",
    summary: "Live numbers and the last 15 minutes (admin)",
    description: `Cluster-wide sums, and the series the admin page charts. ${ADMIN_NOTE}`,
    bearer: "adminToken",
    responses: {
      200: { description: "The numbers", content: { type: JSON_TYPE, schema: adminStats } },
      ...refused,
    },
  },
  {
    path: "/admin/api/channels",
    tag: "Operations",
    summary: "Channels by name prefix, paged (admin)",
    description: "Each channel exactly once across the pages; reads one index range per page. " +
      ADMIN_NOTE,
    bearer: "adminToken",
    parameters: [
      query("prefix", "Literal, case-sensitive name prefix (no wildcards)", {
        type: "string",
        maxLength: 200,
      }),
      query("cursor", "`next` of the previous page", { type: "string" }),
      query("limit", "Channels per page", {
        type: "integer",
        minimum: 1,
        maximum: 500,
        default: 50,
      }),
    ],
    responses: {
      200: { description: "One page", content: { type: JSON_TYPE, schema: adminChannels } },
      400: {
        description: "`limit` is not an integer from 1 to 500, `prefix` is too long, or " +
          "`cursor` is not one this server gave out",
        content: errorContent(400, "limit must be an integer from 1 to 500"),
      },
      ...refused,
    },
  },
  {
    path: "/admin/api/channel",
    tag: "Operations",
    summary: "One channel's detail (admin)",
    description: "Subscribers, flags, history settings and top offset, presence members " +
      "(when the server has presence). Rotate and delete with `/admin/channel/rotate` and " +
      `\`/admin/channel/delete\`. ${ADMIN_NOTE}`,
    bearer: "adminToken",
    parameters: [query("name", "The channel's name", { type: "string", minLength: 1 }, true)],
    responses: {
      200: { description: "The channel", content: { type: JSON_TYPE, schema: adminChannel } },
      400: { description: "`name` is missing", content: errorContent(400) },
      401: refused[401]!,
      404: {
        description: "No channel of that name; or `ADMIN_TOKEN` is not set",
        content: errorContent(404),
      },
    },
  },
];
