/**
 * A recovery: the `Subscribed` ack with where the stream stands, then (when recovering) the
 * missed pushes streamed from history page by page, then the live pushes — no gap, no
 * duplicate. Pages come out of the server's {@link ReplayBudget}; sends are paced by the
 * connection's writer; a revoke or delete of the channel ends the replay at once.
 */
import type { Channel } from "../channels/store.ts";
import { CLOSE } from "../errors.ts";
import { entryBytes, type HistoryRead } from "../history/log.ts";
import { PAGE_ENTRIES } from "../history/replay_budget.ts";
import { PushFrames } from "../hub/frames.ts";
import type { InboundFrame } from "../protocol/inbound.ts";
import type { AckPresence } from "../protocol/outbound.ts";
import type { SessionDeps } from "./session.ts";
import { storeUnavailable } from "../channels/failures.ts";
import type { FrameWriter } from "./writer.ts";

/** One recovery to run. */
export interface ReplayRequest {
  readonly id: string;
  readonly channel: Channel;
  readonly since: InboundFrame["data"]["since"];
  /** The connection was subscribed already (then nothing is replayed). */
  readonly already: boolean;
  /** Settles once the channel's live traffic reaches this node. */
  readonly ready: Promise<void> | undefined;
  readonly deps: SessionDeps;
  readonly writer: FrameWriter;
  readonly close: (code: number, reason: string) => void;
  /** The ack's `presence` (presence channels). */
  readonly presence?: AckPresence | undefined;
}

/** Runs a recovery; rejects (after unsubscribing) when the store fails before the ack. */
export async function replay(request: ReplayRequest): Promise<void> {
  const { id, channel, since, already, deps, writer } = request;
  const { hub, replayBudget: budget } = deps;
  const name = channel.name;
  const asked = !already && since !== undefined && since.epoch === channel.epoch
    ? since.offset
    : undefined;
  hub.hold(id, name);
  const endReplay = budget.begin();
  /** Budget bytes this replay holds now. */
  let holding = 0;
  // Already subscribed: live pushes kept flowing, so none held may be dropped.
  let reached = -1;
  const stopped = () => writer.closed || !hub.replaying(id, name);
  const read = async (after: number | undefined): Promise<HistoryRead> => {
    if (after === undefined) return await deps.channels.history(channel, undefined);
    const want = budget.share();
    await budget.acquire(want);
    holding += want;
    const page = await deps.channels.history(channel, after, {
      limit: PAGE_ENTRIES,
      maxBytes: want,
    });
    const bytes = page.entries.reduce((sum, entry) => sum + entryBytes(entry), 0);
    if (bytes > want) budget.take(bytes - want);
    else budget.release(want - bytes);
    holding += bytes - want;
    return page;
  };
  try {
    let page: HistoryRead;
    try {
      await request.ready;
      page = await read(asked);
    } catch (error) {
      if (!already) hub.unsubscribe(id, name);
      throw storeUnavailable(error);
    }
    const recovered = asked !== undefined && page.complete;
    // Everything up to the top read now is replayed; what comes after is live.
    if (!already) reached = page.top;
    writer.send(
      hub.ackFor(id, "Subscribed", name, {
        channel: name,
        epoch: channel.epoch,
        offset: page.top,
        recovered,
      }, request.presence),
    );
    if (!recovered) return;
    let position = asked;
    for (;;) {
      for (const entry of page.entries) {
        if (entry.offset !== position + 1) return fellBehind(request);
        await writer.room(stopped);
        if (stopped()) return;
        const frames = PushFrames.of(name, entry.message, {
          offset: entry.offset,
          epoch: channel.epoch,
        }, entry.json);
        writer.send(hub.pushFrame(id, frames));
        const bytes = entryBytes(entry);
        holding -= bytes;
        budget.release(bytes);
        position = entry.offset;
      }
      reached = position;
      if (stopped()) return;
      if (position >= page.top && hub.finish(id, position)) return;
      budget.release(holding);
      holding = 0;
      try {
        page = await read(position);
      } catch (error) {
        // The ack is out: the client can only learn of the failure by reconnecting.
        deps.logger.warn("replay read failed", { uuid: id, channel: name, error });
        return request.close(CLOSE.internalError.code, CLOSE.internalError.reason);
      }
      if (stopped()) return;
      if (!page.complete || page.entries.length === 0 && position < page.top) {
        return fellBehind(request);
      }
    }
  } finally {
    budget.release(holding);
    endReplay();
    for (const frame of hub.release(id, reached)) {
      if (!writer.send(frame)) break;
    }
  }
}

/**
 * Retention dropped pushes this replay had not sent yet (it read too slowly while pushes kept
 * coming): it cannot go on without a gap. The connection is closed as a slow consumer; the
 * client reconnects with its last offset and is told `recovered: false`.
 */
function fellBehind(request: ReplayRequest): void {
  request.deps.metrics.slowConsumerCloses++;
  request.deps.logger.warn("replay fell behind retention; closing", {
    uuid: request.id,
    channel: request.channel.name,
  });
  request.close(CLOSE.slowConsumer.code, CLOSE.slowConsumer.reason);
}
