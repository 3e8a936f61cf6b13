/**
 * The admin UI's routes on the HTTP port: the page and its files under `/admin`, and the JSON
 * endpoints under `/admin/api/` (bearer `ADMIN_TOKEN`), mounted only when `ADMIN_TOKEN` is set.
 * The token is compared by digest and never logged.
 */
import type { Context, Hono } from "hono";
import type { Channel, ChannelStore } from "../channels/store.ts";
import { sameDigest, tokenDigest } from "../channels/tokens.ts";
import { PushError } from "../errors.ts";
import type { Broker } from "../hub/broker.ts";
import { errorResponse } from "../protocol/outbound.ts";
import { toSeries } from "./sampler.ts";
import { adminAssets } from "./assets.ts";
import type { AdminView } from "./view.ts";

/** Largest page of the channel table. */
export const MAX_PAGE = 500;
const DEFAULT_PAGE = 50;
const JSON_TYPE = "application/json; charset=utf-8";

/** A presence channel's members, when the server has presence (a later feature). */
export interface PresenceMembers {
  readonly count: number;
  readonly members: readonly { readonly uuid: string; readonly info: unknown }[];
  readonly truncated?: boolean;
}

/** The webhook queue, when `WEBHOOK_URL` is configured (a later feature). */
export interface WebhookState {
  readonly queued: number;
  /** Unix ms of the last acknowledged delivery; null before the first. */
  readonly lastDelivery: number | null;
  readonly failures: number;
}

/** What the admin routes need. */
export interface AdminDeps {
  readonly adminToken: string;
  readonly store: ChannelStore;
  readonly broker: Pick<Broker, "history">;
  readonly view: AdminView;
  /** The cluster's channel count (the store's). */
  readonly channelCount: () => number;
  /** Members of a presence channel; absent while the server has no presence. */
  readonly presence?: (channel: Channel) => Promise<PresenceMembers>;
  /** The webhook queue; absent (or undefined) while webhooks are not configured. */
  readonly webhooks?: () => WebhookState | undefined;
}

/**
 * Registers the page, its files and the JSON endpoints on `app` (the HTTP port's, built by
 * http/app.ts, which answers these paths 404 naming `ADMIN_TOKEN` while it is unset).
 */
export function registerAdminRoutes(app: Hono, deps: AdminDeps): void {
  const digest = tokenDigest(deps.adminToken);
  const authorized = (c: Context) => {
    const presented = /^Bearer (.+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (presented === undefined || !sameDigest(tokenDigest(presented), digest)) {
      throw new PushError("token_missing", "A valid admin bearer token is required");
    }
  };
  const get = (path: string, handle: (c: Context) => Response | Promise<Response>) => {
    app.get(path, handle);
    app.all(path, (c) =>
      errorResponse(
        new PushError(
          "method_not_allowed",
          `${c.req.method} is not allowed on ${c.req.path}; use GET`,
        ),
        { allow: "GET, HEAD" },
      ));
  };

  for (const asset of adminAssets()) get(asset.path, (c) => asset.handle(c.req.raw));

  get("/admin/api/stats", async (c) => {
    authorized(c);
    const { nodes, samples, cluster } = await deps.view.overview();
    const sum = (field: "connections" | "subscriptions") =>
      nodes.reduce((total, node) => total + node[field], 0);
    const webhooks = deps.webhooks?.();
    return json({
      mode: cluster ? "cluster" : "single",
      nodes,
      connections: sum("connections"),
      subscriptions: sum("subscriptions"),
      channels: deps.channelCount(),
      series: toSeries(samples),
      ...(webhooks === undefined ? {} : { webhooks }),
    });
  });

  get("/admin/api/channels", async (c) => {
    authorized(c);
    const query = pageQuery(c);
    // One more than asked: whether there is a next page, without a count.
    const found = await deps.store.page({ ...query, limit: query.limit + 1 });
    const page = found.slice(0, query.limit);
    const counts = await deps.view.counts(page.map((channel) => channel.name));
    return json({
      channels: page.map((channel, i) => ({
        channel: channel.name,
        subscribers: counts[i]?.subscribers ?? 0,
        pushesPerMinute: counts[i]?.pushesPerMinute ?? 0,
        ...flags(channel),
      })),
      next: found.length > query.limit ? encodeCursor(page.at(-1)!.name) : null,
    });
  });

  get("/admin/api/channel", async (c) => {
    authorized(c);
    const name = c.req.query("name");
    if (name === undefined || name.length === 0) {
      throw new PushError("invalid_request", "The query parameter name (a channel) is required");
    }
    const channel = await deps.store.get(name);
    if (channel === undefined) {
      throw new PushError("unknown_channel", `Could not find a channel called "${name}"`);
    }
    const [counts] = await deps.view.counts([name]);
    const top = channel.history === null
      ? null
      : (await deps.broker.history(channel, undefined)).top;
    const presence = flags(channel).presence && deps.presence !== undefined
      ? await deps.presence(channel)
      : undefined;
    return json({
      channel: channel.name,
      subscribers: counts?.subscribers ?? 0,
      pushesPerMinute: counts?.pushesPerMinute ?? 0,
      ...flags(channel),
      historySettings: channel.history,
      offset: top,
      epoch: channel.epoch,
      createdAt: channel.createdAt,
      ...(presence === undefined ? {} : { members: presence }),
    });
  });
}

/** The flags of the channel table; `presence` once channel records carry it. */
function flags(channel: Channel & { readonly presence?: boolean }) {
  return {
    private: channel.private,
    history: channel.history !== null,
    presence: channel.presence === true,
  };
}

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), {
    headers: { "content-type": JSON_TYPE, "cache-control": "no-store" },
  });
}

/** `prefix`, `cursor` and `limit` of the channel table; 400 when one is malformed. */
function pageQuery(c: Context): { prefix: string; after: string | undefined; limit: number } {
  const prefix = c.req.query("prefix") ?? "";
  if (prefix.length > 200) {
    throw new PushError("invalid_request", "prefix is longer than a channel name (200)");
  }
  const rawLimit = c.req.query("limit");
  const limit = rawLimit === undefined ? DEFAULT_PAGE : Number(rawLimit);
  if (
    !/^\d+$/.test(rawLimit ?? "50") || !Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE
  ) {
    throw new PushError("invalid_request", `limit must be an integer from 1 to ${MAX_PAGE}`);
  }
  const cursor = c.req.query("cursor");
  return {
    prefix,
    after: cursor === undefined || cursor === "" ? undefined : decodeCursor(cursor),
    limit,
  };
}

/** A cursor is the page's last name as base64url (UTF-8): opaque, and safe in a URL. */
export function encodeCursor(name: string): string {
  const bytes = new TextEncoder().encode(name);
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

function decodeCursor(cursor: string): string {
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error("not base64url");
    const binary = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    return new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(binary, (ch) => ch.charCodeAt(0)),
    );
  } catch {
    throw new PushError("invalid_request", "cursor is not one this server gave out");
  }
}
