/**
 * One push, as `/push` and each `/push/batch` item make it: the token check, then the publish,
 * then its ack data. Split in two steps so a batch can check every item's token concurrently and
 * still publish in list order.
 */
import type { ChannelService } from "../channels/service.ts";
import type { Channel } from "../channels/store.ts";
import type { Broker, PublishOptions, PushOnce, Receipt } from "../hub/broker.ts";
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
 * the `Sent` ack's extra data: `offset` and `epoch` on a stored push; with `receipt`,
 * `delivered`, `undelivered` (targeted pushes) and `partial` (a node did not answer in time).
 */
export async function publishPush(
  deps: PushDeps,
  channel: Channel,
  data: PushData,
): Promise<Record<string, unknown>> {
  const receipt: Receipt | undefined = data.receipt
    ? {
      delivered: 0,
      reached: data.recipients.length > 0 ? new Set() : undefined,
      partial: false,
    }
    : undefined;
  if (data.idempotencyKey !== undefined) return await publishOnce(deps, channel, data, receipt);
  const options: PublishOptions | undefined = receipt === undefined
    ? (data.message.json ? { json: true } : undefined)
    : { json: data.message.json, receipt };
  const offset = await deps.broker.publish(channel, data.message.text, data.recipients, options);
  deps.metrics.countPush(channel.name);
  const position = offset === undefined ? {} : { offset, epoch: channel.epoch };
  return receipt === undefined ? position : { ...position, ...receiptData(receipt, data) };
}

/**
 * A push with an `idempotencyKey` (v1.2): the broker makes it unless the key was used on the
 * channel within 300 s; then it is answered exactly as the first one was (its offset, and its
 * receipt counts when the first asked for them), whatever this one asks.
 */
async function publishOnce(
  deps: PushDeps,
  channel: Channel,
  data: PushData,
  receipt: Receipt | undefined,
): Promise<Record<string, unknown>> {
  const once: PushOnce = { key: data.idempotencyKey! };
  const options: PublishOptions = {
    json: data.message.json,
    once,
    ...(receipt === undefined ? {} : { receipt }),
  };
  const offset = await deps.broker.publish(channel, data.message.text, data.recipients, options);
  const earlier = once.earlier;
  if (earlier === undefined) {
    deps.metrics.pushes++;
    const position = offset === undefined ? {} : { offset, epoch: channel.epoch };
    return receipt === undefined ? position : { ...position, ...receiptData(receipt, data) };
  }
  const position = earlier.offset === undefined
    ? {}
    : { offset: earlier.offset, epoch: channel.epoch };
  if (earlier.receipt === undefined) return position;
  const first: Receipt = {
    delivered: earlier.receipt.delivered,
    reached: earlier.receipt.reached === undefined ? undefined : new Set(earlier.receipt.reached),
    partial: earlier.receipt.partial,
  };
  return { ...position, ...receiptData(first, data) };
}

/** The receipt fields of a `Sent` ack. */
function receiptData(receipt: Receipt, data: PushData): Record<string, unknown> {
  const answer: Record<string, unknown> = { delivered: receipt.delivered };
  if (receipt.reached !== undefined) {
    const undelivered = new Set<string>();
    for (const id of data.recipients) if (!receipt.reached.has(id)) undelivered.add(id);
    answer.undelivered = [...undelivered];
  }
  if (receipt.partial) answer.partial = true;
  return answer;
}
