/**
 * Request schemas that PROTOCOL.md (v1.1) defines and that `api.ts` / `inbound.ts` do not validate
 * yet, written with the same field helpers. `describe.ts` uses an entry only while the real
 * schema lacks one of its `data` fields; `tests/protocol/describe_test.ts` fails once an entry is
 * no longer needed, so it gets deleted here instead of shadowing the real schema.
 */
import { z } from "zod";
import { channelName, exactly, expecting, object, uuid } from "./fields.ts";

const channelToken = z.string({ error: expecting("a string or null") }).nullish();

function action<A extends string, D extends z.ZodRawShape>(name: A, data: D) {
  return object({
    messageType: exactly("SERVER_ACTION"),
    action: exactly(name),
    data: object(data),
  });
}

const history = object({
  size: z.int().min(1).max(10_000),
  ttlSeconds: z.int().min(1).max(2_592_000),
})
  .nullish()
  .meta({
    description: "Keep the newest `size` broadcast pushes younger than `ttlSeconds` for " +
      "recovery; absent or null = no history",
  });

/** Publisher actions, by action name. */
export const CONTRACT_ACTIONS: Readonly<Record<string, z.ZodType>> = {
  CREATE_CHANNEL: action("CREATE_CHANNEL", {
    channel: channelName,
    history,
    private: z.boolean().nullish().meta({
      description: "Only connections a publisher authorized may subscribe; absent or null = false",
    }),
  }),
  AUTHORIZE_SUBSCRIBER: action("AUTHORIZE_SUBSCRIBER", {
    channel: channelName,
    channelToken,
    uuid,
  }),
  REVOKE_SUBSCRIBER: action("REVOKE_SUBSCRIBER", { channel: channelName, channelToken, uuid }),
  ROTATE_TOKEN: action("ROTATE_TOKEN", { channel: channelName, channelToken }),
};

/** Subscriber `CLIENT_ACTION` frames, by action name. */
export const CONTRACT_CLIENT_ACTIONS: Readonly<Record<string, z.ZodType>> = {
  SUBSCRIBE: object({
    messageType: exactly("CLIENT_ACTION"),
    action: exactly("SUBSCRIBE"),
    data: object({
      channel: channelName,
      since: object({ offset: z.int().min(0), epoch: z.string() }).nullish().meta({
        description: "Resume a history channel after this position (from the last push or " +
          "`recovery` seen); absent or null = start live",
      }),
    }),
    uuid: z.string().nullish(),
  }),
};
