/**
 * What the two API documents (`openapi.ts`, `asyncapi.ts`) share: the protocol version, JSON
 * Schema from the zod schemas that validate requests (`api.ts`, `inbound.ts`), and naming.
 */
import { z } from "zod";
import { ACTION_SCHEMAS, type ActionName } from "./api.ts";
import { inboundSchema } from "./inbound.ts";

/** A JSON Schema (or any JSON object of a document). */
export type Json = Record<string, unknown>;

/** Version of the protocol the documents describe. */
export const PROTOCOL_VERSION = "1.2.0";

/** The media type of every JSON answer. */
export const JSON_TYPE = "application/json; charset=utf-8";

/** JSON Schema of a zod schema, for embedding in a document (no `$schema`). */
export function jsonSchema(
  schema: z.ZodType | Json,
  target: "draft-2020-12" | "draft-7",
  io: "input" | "output" = "output",
): Json {
  if (!(schema instanceof z.ZodType)) return schema;
  const { $schema: _, ...json } = z.toJSONSchema(schema, {
    target,
    io,
    unrepresentable: "any",
  }) as Json;
  return json;
}

/** The request schema of an action, from `ACTION_SCHEMAS`. */
export function requestSchema(action: ActionName, target: "draft-2020-12" | "draft-7"): Json {
  return jsonSchema(ACTION_SCHEMAS[action], target, "input");
}

/** The `CLIENT_ACTION` frame for one action (`SUBSCRIBE`, `UNSUBSCRIBE`), from `inbound.ts`. */
export function clientActionSchema(action: string, target: "draft-2020-12" | "draft-7"): Json {
  return narrowAction(jsonSchema(inboundSchema, target, "input"), action);
}

/** The branch (or the copy) of a frame schema that accepts exactly `action`. */
function narrowAction(json: Json, action: string): Json {
  for (const key of ["anyOf", "oneOf"]) {
    const branches = json[key];
    if (!Array.isArray(branches)) continue;
    for (const branch of branches as Json[]) {
      const found = narrowAction(branch, action);
      if (acceptsAction(found, action)) return found;
    }
  }
  const properties = json.properties as Record<string, Json> | undefined;
  if (properties?.action === undefined || !acceptsAction(json, action)) return json;
  return { ...json, properties: { ...properties, action: { type: "string", const: action } } };
}

function acceptsAction(json: Json, action: string): boolean {
  const schema = (json.properties as Record<string, Json> | undefined)?.action;
  if (schema === undefined) return false;
  if (schema.const !== undefined) return schema.const === action;
  return Array.isArray(schema.enum) && schema.enum.includes(action);
}

/** `PUSH_MESSAGE` → `PushMessage` (schema and message names). */
export function pascal(action: string): string {
  return action.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}

/** `PUSH_MESSAGE` → `pushMessage` (operation ids). */
export function camel(action: string): string {
  const name = pascal(action);
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/** The statuses (keys) of the tables, once each, in ascending order. */
export function sortedStatuses(...tables: Readonly<Record<number, unknown>>[]): number[] {
  const statuses = new Set<number>();
  for (const table of tables) for (const key of Object.keys(table)) statuses.add(Number(key));
  return [...statuses].sort((a, b) => a - b);
}
