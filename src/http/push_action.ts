/**
 * One push, as `/push` and each `/push/batch` item make it: the token check, then the publish,
 * then its ack data. Split in two steps so a batch can check every item's token concurrently and
 * still publish in list order.
 */
import type { ChannelService } from "../channels/service.ts";
import type { Channel } from "../channels/store.ts";
import type { Broker } from "../hub/broker.ts";
import type { Metrics } from "../metrics.ts";
import type { ActionRequest } from "../protocol/api.ts";

/** The `data` of a validated `PUSH_MESSAGE`. */
export type PushData = ActionRequest<"PUSH_MESSAGE">["data"];

/** What a push needs. */
export interface PushDeps {
  readonly service: ChannelService;
  readonly broker: Broker;
  readonly metrics: Metrics;
}

/** Checks the push's token (404, 401, 403 in the protocol's order); the record it checked. */
export function authorizePush(
  deps: PushDeps,
  data: PushData,
  source: string | undefined,
): Promise<Channel> {
  return deps.service.authorize(data.channel, data.channelToken, source);
}

/**
 * Publishes an authorized push. Pushes started in a row (without awaiting in between) reach
 * each channel's subscribers in that order, and history pushes share one commit. Resolves with
 * the `Sent` ack's extra data (`offset` and `epoch` on a stored push; nothing for v1).
 */
export async function publishPush(
  deps: PushDeps,
  channel: Channel,
  data: PushData,
): Promise<Record<string, unknown>> {
  const offset = await deps.broker.publish(
    channel,
    data.message.text,
    data.recipients,
    data.message.json ? { json: true } : undefined,
  );
  deps.metrics.pushes++;
  return offset === undefined ? {} : { offset, epoch: channel.epoch };
}
