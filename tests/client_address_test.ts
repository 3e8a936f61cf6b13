import assert from "node:assert/strict";
import { clientAddressRule, parseIp, parseTrustedProxies } from "../src/client_address.ts";

Deno.test("parseIp() reads IPv4, IPv6 and IPv4-mapped IPv6, and nothing else", () => {
  assert.deepEqual(parseIp("10.1.2.3"), { version: 4, value: 0x0a010203n });
  assert.deepEqual(parseIp("::ffff:10.1.2.3"), { version: 4, value: 0x0a010203n });
  assert.deepEqual(parseIp("::1"), { version: 6, value: 1n });
  assert.deepEqual(parseIp("2001:db8::"), { version: 6, value: 0x20010db8n << 96n });
  assert.deepEqual(parseIp("1:2:3:4:5:6:7:8")?.value, 0x00010002000300040005000600070008n);
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.256",
      "01.2.3.4",
      "1.2.3.4:80",
      "[::1]",
      "::1::",
      "1:2:3:4:5:6:7:8:9",
      "unknown",
      "fe80::1%eth0",
      "12345::",
    ]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

Deno.test("parseTrustedProxies() accepts IPs and CIDRs, and names the first entry that is neither", () => {
  assert.deepEqual(parseTrustedProxies(""), { ok: true, value: [] });
  assert.deepEqual(parseTrustedProxies("10.0.0.0/8, ::1"), {
    ok: true,
    value: ["10.0.0.0/8", "::1"],
  });
  assert.deepEqual(parseTrustedProxies("10.0.0.0/8,lb.internal"), {
    ok: false,
    error: '"lb.internal" is not an IP address or CIDR block',
  });
  assert.equal(parseTrustedProxies("10.0.0.0/8/1").ok, false);
});

Deno.test("clientAddressRule(): the rightmost X-Forwarded-For address that is not a trusted proxy, only when the peer is one", () => {
  const rule = clientAddressRule(["10.0.0.0/8", "fd00::/8", "192.0.2.1"]);
  // The peer is no proxy: its header is whatever the client wrote.
  assert.equal(rule("198.51.100.7", "203.0.113.9"), "198.51.100.7");
  // From a trusted proxy: the rightmost untrusted hop (hops the client wrote are further left).
  assert.equal(rule("10.1.1.1", "203.0.113.9"), "203.0.113.9");
  assert.equal(rule("10.1.1.1", "1.1.1.1, 203.0.113.9, 10.2.2.2"), "203.0.113.9");
  assert.equal(rule("::ffff:10.1.1.1", "203.0.113.9,192.0.2.1"), "203.0.113.9");
  assert.equal(rule("fd00::5", "2001:db8::1"), "2001:db8::1");
  // No header, only proxies, or a malformed header: the peer.
  assert.equal(rule("10.1.1.1", null), "10.1.1.1");
  assert.equal(rule("10.1.1.1", "10.2.2.2, 192.0.2.1"), "10.1.1.1");
  assert.equal(rule("10.1.1.1", "203.0.113.9, not-an-ip"), "10.1.1.1");
  assert.equal(rule("10.1.1.1", "203.0.113.9:4711"), "10.1.1.1");
  assert.equal(rule("10.1.1.1", ""), "10.1.1.1");
  // Without trusted proxies the header is never read.
  assert.equal(clientAddressRule([])("10.1.1.1", "203.0.113.9"), "10.1.1.1");
});

Deno.test("[e2e] TRUSTED_PROXIES: the request log line names the client from X-Forwarded-For only when the peer is trusted", async () => {
  const { jsonLogger } = await import("../src/log.ts");
  const { startTestServer } = await import("./_helpers.ts");
  const lines: { client?: string; path?: string }[] = [];
  const logger = jsonLogger("info", { write: (line) => lines.push(JSON.parse(line)) });
  for (const [trusted, expected] of [["127.0.0.1", "203.0.113.9"], ["10.0.0.0/8", "127.0.0.1"]]) {
    lines.length = 0;
    await using server = await startTestServer({ TRUSTED_PROXIES: trusted!, LOG_LEVEL: "info" }, {
      logger,
    });
    const response = await fetch(`${server.httpUrl}/healthz`, {
      headers: { "x-forwarded-for": "198.51.100.1, 203.0.113.9" },
    });
    await response.body?.cancel();
    const line = lines.find((l) => l.path === "/healthz");
    assert.equal(line?.client, expected, `TRUSTED_PROXIES=${trusted}`);
  }
});
