/** Process counters and their Prometheus text rendering. */

/** Request latency buckets, in seconds. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

/** Point-in-time values read when metrics are rendered. */
export interface Gauges {
  connections: number;
  subscriptions: number;
  channels: number;
  /** Publisher-port requests being handled, the scrape itself included. */
  httpInFlight?: number;
  /** bcrypt checks of not-yet-verified tokens running or waiting in the token gate. */
  tokenChecks?: number;
  /** Log lines dropped because they could not be written (a counter kept by the logger). */
  logLinesDropped?: number;
  /** Of {@link connections}, those over Server-Sent Events. */
  sseConnections?: number;
  /** Members of presence channels held by this node's connections. */
  presenceMembers?: number;
}

/**
 * Reports a failure of work no caller waits for (a background sweep or refresh, a callback):
 * one log line and a count in /metrics, never a silent catch.
 */
export type FaultReporter = (job: string, error: unknown) => void;

/** Counters the server increments as it works. */
export class Metrics {
  pushes = 0;
  deliveries = 0;
  droppedMessages = 0;
  slowConsumerCloses = 0;
  rejectedConnections = 0;
  connectionsOpened = 0;
  /** Of {@link connectionsOpened}, those over Server-Sent Events. */
  sseConnectionsOpened = 0;
  readonly errors = new Map<string, number>();
  /** Told of each accepted push's channel (the admin UI counts pushes per channel). */
  onPush: ((channel: string) => void) | undefined;
  /** Failures of background work, by job (see {@link FaultReporter}). */
  readonly faults = new Map<string, number>();
  /** More exposition text appended to every render (cluster mode adds Redis and pub/sub). */
  readonly sections: (() => string)[] = [];
  readonly #latencyCounts: number[] = LATENCY_BUCKETS.map(() => 0);
  #latencyCount = 0;
  #latencySum = 0;

  /** Counts one error response or frame, by transport and code. */
  countError(transport: "http" | "ws" | "sse", code: number): void {
    const key = `transport="${transport}",code="${code}"`;
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }

  /** Counts one accepted push to `channel`. */
  countPush(channel: string): void {
    this.pushes++;
    this.onPush?.(channel);
  }

  /** Counts one failure of background work `job`. */
  countFault(job: string): void {
    this.faults.set(job, (this.faults.get(job) ?? 0) + 1);
  }

  /** Records one publisher request's duration. */
  observeRequest(seconds: number): void {
    this.#latencyCount++;
    this.#latencySum += seconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) this.#latencyCounts[i]!++;
    }
  }

  /** Prometheus text exposition format 0.0.4. */
  render(gauges: Gauges): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
    };
    metric("pushserver_connections", "gauge", "Open subscriber WebSocket connections.", [[
      "",
      gauges.connections,
    ]]);
    metric("pushserver_subscriptions", "gauge", "Live channel subscriptions.", [[
      "",
      gauges.subscriptions,
    ]]);
    metric("pushserver_channels", "gauge", "Channels in the store.", [["", gauges.channels]]);
    metric(
      "pushserver_http_requests_in_flight",
      "gauge",
      "Publisher-port requests being handled (this scrape included).",
      [["", gauges.httpInFlight ?? 0]],
    );
    metric("pushserver_connections_opened_total", "counter", "WebSocket connections accepted.", [[
      "",
      this.connectionsOpened,
    ]]);
    metric(
      "pushserver_connections_rejected_total",
      "counter",
      "WebSocket upgrades refused (connection limit or shutdown).",
      [["", this.rejectedConnections]],
    );
    metric(
      "pushserver_presence_members",
      "gauge",
      "Members of presence channels held by this node's connections (sum over nodes: the cluster's).",
      [["", gauges.presenceMembers ?? 0]],
    );
    const sse = gauges.sseConnections ?? 0;
    metric(
      "pushserver_transport_connections",
      "gauge",
      "Open subscriber connections by transport.",
      [[`{transport="websocket"}`, gauges.connections - sse], [`{transport="sse"}`, sse]],
    );
    metric(
      "pushserver_transport_connections_opened_total",
      "counter",
      "Subscriber connections accepted, by transport.",
      [
        [`{transport="websocket"}`, this.connectionsOpened - this.sseConnectionsOpened],
        [`{transport="sse"}`, this.sseConnectionsOpened],
      ],
    );
    metric("pushserver_pushes_total", "counter", "Accepted push requests.", [["", this.pushes]]);
    metric("pushserver_deliveries_total", "counter", "Push frames queued to subscribers.", [[
      "",
      this.deliveries,
    ]]);
    metric(
      "pushserver_dropped_messages_total",
      "counter",
      "Push frames not queued because the subscriber was closing or too slow.",
      [["", this.droppedMessages]],
    );
    metric(
      "pushserver_slow_consumer_closes_total",
      "counter",
      "Connections closed with 4008 because their send buffer passed MAX_BUFFERED_BYTES.",
      [["", this.slowConsumerCloses]],
    );
    metric(
      "pushserver_errors_total",
      "counter",
      "Error responses and frames, by transport and code.",
      [...this.errors].map(([labels, value]) => [`{${labels}}`, value]),
    );
    metric(
      "pushserver_background_errors_total",
      "counter",
      "Failures of background work (history sweeps, presence and count refreshes, callbacks), by job.",
      [...this.faults].map(([job, value]) => [`{job="${job}"}`, value]),
    );
    metric(
      "pushserver_token_checks",
      "gauge",
      "bcrypt checks of not-yet-verified channel tokens running or waiting.",
      [["", gauges.tokenChecks ?? 0]],
    );
    metric(
      "pushserver_log_lines_dropped_total",
      "counter",
      "Log lines dropped because stdout could not be written (closed pipe, full disk).",
      [["", gauges.logLinesDropped ?? 0]],
    );
    const name = "pushserver_http_request_duration_seconds";
    lines.push(
      `# HELP ${name} Publisher request duration.`,
      `# TYPE ${name} histogram`,
    );
    LATENCY_BUCKETS.forEach((bound, i) => {
      lines.push(`${name}_bucket{le="${bound}"} ${this.#latencyCounts[i]}`);
    });
    lines.push(`${name}_bucket{le="+Inf"} ${this.#latencyCount}`);
    lines.push(`${name}_sum ${this.#latencySum}`, `${name}_count ${this.#latencyCount}`);
    return lines.join("\n") + "\n" + this.sections.map((section) => section()).join("");
  }
}
