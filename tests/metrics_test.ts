import assert from "node:assert/strict";
import { Metrics } from "../src/metrics.ts";

function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    map.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return map;
}

const GAUGES = { connections: 3, subscriptions: 7, channels: 2, httpInFlight: 1 };

Deno.test("Metrics.render() lists every documented series with HELP and TYPE", () => {
  const text = new Metrics().render(GAUGES);
  const expected: [string, string][] = [
    ["pushserver_connections", "gauge"],
    ["pushserver_subscriptions", "gauge"],
    ["pushserver_channels", "gauge"],
    ["pushserver_http_requests_in_flight", "gauge"],
    ["pushserver_connections_opened_total", "counter"],
    ["pushserver_connections_rejected_total", "counter"],
    ["pushserver_pushes_total", "counter"],
    ["pushserver_deliveries_total", "counter"],
    ["pushserver_dropped_messages_total", "counter"],
    ["pushserver_slow_consumer_closes_total", "counter"],
    ["pushserver_errors_total", "counter"],
    ["pushserver_http_request_duration_seconds", "histogram"],
  ];
  for (const [name, type] of expected) {
    assert.match(text, new RegExp(`^# HELP ${name} \\S`, "m"), name);
    assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, "m"), name);
  }
  assert.ok(text.endsWith("\n"));
  const values = samples(text);
  assert.equal(values.get("pushserver_connections"), 3);
  assert.equal(values.get("pushserver_subscriptions"), 7);
  assert.equal(values.get("pushserver_channels"), 2);
  assert.equal(values.get("pushserver_http_requests_in_flight"), 1);
});

Deno.test("Metrics counts errors by transport and code", () => {
  const metrics = new Metrics();
  metrics.countError("http", 404);
  metrics.countError("http", 404);
  metrics.countError("ws", 429);
  const values = samples(metrics.render(GAUGES));
  assert.equal(values.get('pushserver_errors_total{transport="http",code="404"}'), 2);
  assert.equal(values.get('pushserver_errors_total{transport="ws",code="429"}'), 1);
});

Deno.test("Metrics.observeRequest() fills a cumulative latency histogram", () => {
  const metrics = new Metrics();
  for (const seconds of [0.0005, 0.003, 0.3, 5]) metrics.observeRequest(seconds);
  const values = samples(metrics.render(GAUGES));
  const bucket = (le: string) =>
    values.get(`pushserver_http_request_duration_seconds_bucket{le="${le}"}`);
  assert.equal(bucket("0.001"), 1);
  assert.equal(bucket("0.0025"), 1);
  assert.equal(bucket("0.005"), 2);
  assert.equal(bucket("0.25"), 2);
  assert.equal(bucket("0.5"), 3);
  assert.equal(bucket("2.5"), 3);
  assert.equal(bucket("+Inf"), 4);
  assert.equal(values.get("pushserver_http_request_duration_seconds_count"), 4);
  assert.ok(Math.abs(values.get("pushserver_http_request_duration_seconds_sum")! - 5.3035) < 1e-9);
});

Deno.test("Metrics counters render as set", () => {
  const metrics = new Metrics();
  metrics.pushes = 5;
  metrics.deliveries = 40;
  metrics.droppedMessages = 2;
  metrics.slowConsumerCloses = 1;
  metrics.rejectedConnections = 3;
  metrics.connectionsOpened = 9;
  const values = samples(metrics.render({ connections: 0, subscriptions: 0, channels: 0 }));
  assert.equal(values.get("pushserver_pushes_total"), 5);
  assert.equal(values.get("pushserver_deliveries_total"), 40);
  assert.equal(values.get("pushserver_dropped_messages_total"), 2);
  assert.equal(values.get("pushserver_slow_consumer_closes_total"), 1);
  assert.equal(values.get("pushserver_connections_rejected_total"), 3);
  assert.equal(values.get("pushserver_connections_opened_total"), 9);
  assert.equal(values.get("pushserver_http_requests_in_flight"), 0);
});
