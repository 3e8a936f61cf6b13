/**
 * Redis key and pub/sub channel names of one deployment. Every name starts with the configured
 * prefix (`REDIS_PREFIX`, default `pushserver:`), so several deployments can share one Redis, and
 * the kind comes before the channel name: a channel name may contain `:` or anything else, so
 * only a fixed part in front keeps two kinds (or two channels) from ever sharing a name.
 */

/** Names of every key and pub/sub channel, under one prefix. */
export class Keys {
  /** Creates the names under `prefix`. */
  constructor(readonly prefix: string) {}

  /** HASH: the channel record (tokenHash, createdAt, epoch, private, history*) and its stream top. */
  channel(name: string): string {
    return `${this.prefix}channel:${name}`;
  }

  /** ZSET: every channel name, scored by creation time (listing, and counting for MAX_CHANNELS). */
  get index(): string {
    return `${this.prefix}channels`;
  }

  /**
   * ZSET: every channel name, all scored 0, so that ZRANGE BYLEX reads names by prefix in order
   * (the admin UI's channel table); kept by the create and delete scripts.
   */
  get names(): string {
    return `${this.prefix}names`;
  }

  /** LIST: a history channel's stored pushes, newest first, capped at its size, expiring by TTL. */
  history(name: string): string {
    return `${this.prefix}history:${name}`;
  }

  /** STRING: the id of the node holding live connection `uuid` (expires unless refreshed). */
  connection(uuid: string): string {
    return `${this.prefix}conn:${uuid}`;
  }

  /** HASH: the grants of connection `uuid`, channel name → epoch. */
  grants(uuid: string): string {
    return `${this.prefix}grants:${uuid}`;
  }

  /** Prefix of the node heartbeat keys (a node's key expires within seconds of its death). */
  get nodePrefix(): string {
    return `${this.prefix}node:`;
  }

  /** STRING: heartbeat of node `id`. */
  node(id: string): string {
    return `${this.nodePrefix}${id}`;
  }

  /** Pub/sub: the pushes of one channel; a node subscribes while it has local subscribers. */
  pushes(name: string): string {
    return `${this.prefix}push:${name}`;
  }

  /** The channel name of a {@link pushes} pub/sub channel (undefined for another one). */
  channelOfPushes(pubsubChannel: string): string | undefined {
    const head = `${this.prefix}push:`;
    return pubsubChannel.startsWith(head) ? pubsubChannel.slice(head.length) : undefined;
  }

  /** Pub/sub: the receipt counts other nodes send back to node `id` (v1.2 receipts). */
  receipts(id: string): string {
    return `${this.prefix}receipt:${id}`;
  }

  /**
   * STRING: the id of the node holding the SSE stream whose session secret has SHA-256
   * `sessionKey` (hex; never the secret itself), expiring unless refreshed.
   */
  sseSession(sessionKey: string): string {
    return `${this.prefix}sse:${sessionKey}`;
  }

  /** Pub/sub: SSE commands forwarded to node `id`, and the answers to its own forwards. */
  sseRelay(id: string): string {
    return `${this.prefix}sse-relay:${id}`;
  }

  /** HASH: a presence channel's members, UUID → info JSON text. */
  presence(name: string): string {
    return `${this.prefix}presence:${name}`;
  }

  /** ZSET: a presence channel's members, UUID → expiry (ms, Redis's clock). */
  presenceExpiry(name: string): string {
    return `${this.prefix}presence-exp:${name}`;
  }

  /** HASH: a channel's subscriber count per node, node id → `count:expiresAtMs`. */
  counts(name: string): string {
    return `${this.prefix}counts:${name}`;
  }

  /** Pub/sub: presence joins and leaves of every channel, which every node listens to. */
  get presenceEvents(): string {
    return `${this.prefix}presence-events`;
  }

  /** ZSET: the nodes sharing admin UI numbers, scored by their last report (unix ms). */
  get adminNodes(): string {
    return `${this.prefix}admin:nodes`;
  }

  /** LIST: node `id`'s admin UI samples, oldest first (expires unless written). */
  adminSamples(id: string): string {
    return `${this.prefix}admin:samples:${id}`;
  }

  /** HASH: node `id`'s admin UI table `table` (`subs`, `pushes`): channel → value. */
  adminTable(table: string, id: string): string {
    return `${this.prefix}admin:${table}:${id}`;
  }

  /** Pub/sub: channel events (deleted, rotated, revoked) that every node listens to. */
  get events(): string {
    return `${this.prefix}events`;
  }
}
