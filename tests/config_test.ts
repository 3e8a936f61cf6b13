import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../src/config.ts";

Deno.test("loadConfig() defaults match the documented limits", () => {
  const config = loadConfig({});
  assert.deepEqual(config, {
    host: "0.0.0.0",
    wsPort: 5222,
    httpPort: 5223,
    dbPath: "data/pushserver.db",
    bcryptCost: 10,
    maxMessageBytes: 65536,
    maxBodyBytes: 1024 * 1024,
    maxBodyBytesInFlight: 64 * 1024 * 1024,
    requestTimeoutS: 30,
    maxFrameBytes: 64 * 1024,
    adminToken: undefined,
    logLevel: "info",
    wsIdleTimeoutS: 60,
    maxConnections: 50_000,
    maxSubscriptionsPerConnection: 1000,
    maxBufferedBytes: 4 * 1024 * 1024,
    frameRatePerS: 100,
    frameBurst: 200,
    maxTokenChecks: 64,
    corsOrigins: [],
    shutdownTimeoutMs: 8000,
    openFileLimit: undefined,
  });
});

Deno.test("loadConfig() reads every limit from its variable", () => {
  const config = loadConfig({
    MAX_MESSAGE_BYTES: "1000",
    MAX_BODY_BYTES: "2048",
    MAX_FRAME_BYTES: "4096",
    WS_IDLE_TIMEOUT_S: "5",
    MAX_CONNECTIONS: "10",
    MAX_SUBSCRIPTIONS_PER_CONNECTION: "3",
    MAX_BUFFERED_BYTES: "65536",
    WS_FRAME_RATE: "7",
    WS_FRAME_BURST: "9",
    MAX_TOKEN_CHECKS: "2",
    SHUTDOWN_TIMEOUT_MS: "500",
    MAX_BODY_BYTES_IN_FLIGHT: String(4 * 1024 * 1024 * 1024),
    REQUEST_TIMEOUT_S: "3600",
    OPEN_FILE_LIMIT: "4096",
    ADMIN_TOKEN: "t",
    LOG_LEVEL: " WARN ",
  });
  assert.equal(config.maxMessageBytes, 1000);
  assert.equal(config.maxBodyBytes, 2048);
  assert.equal(config.maxFrameBytes, 4096);
  assert.equal(config.wsIdleTimeoutS, 5);
  assert.equal(config.maxConnections, 10);
  assert.equal(config.maxSubscriptionsPerConnection, 3);
  assert.equal(config.maxBufferedBytes, 65536);
  assert.equal(config.frameRatePerS, 7);
  assert.equal(config.frameBurst, 9);
  assert.equal(config.maxTokenChecks, 2);
  assert.equal(config.shutdownTimeoutMs, 500);
  assert.equal(config.maxBodyBytesInFlight, 4 * 1024 * 1024 * 1024);
  assert.equal(config.requestTimeoutS, 3600);
  assert.equal(config.openFileLimit, 4096);
  assert.equal(config.adminToken, "t");
  assert.equal(config.logLevel, "warn");
});

Deno.test("loadConfig() treats an empty ADMIN_TOKEN as unset (the endpoint stays disabled)", () => {
  assert.equal(loadConfig({ ADMIN_TOKEN: "" }).adminToken, undefined);
});

Deno.test("loadConfig() rejects bad values with a message naming the variable", async (t) => {
  const cases: [string, string][] = [
    ["PORT_WS", "65536"],
    ["PORT_HTTP", "-1"],
    ["PORT_HTTP", "80.5"],
    ["BCRYPT_COST", "3"],
    ["MAX_MESSAGE_BYTES", "0"],
    ["MAX_BODY_BYTES", "1e6"],
    ["MAX_FRAME_BYTES", "10"],
    ["WS_IDLE_TIMEOUT_S", "0"],
    ["MAX_CONNECTIONS", "lots"],
    ["MAX_SUBSCRIPTIONS_PER_CONNECTION", "0"],
    ["MAX_BUFFERED_BYTES", "0x100000"],
    ["WS_FRAME_RATE", "0"],
    ["WS_FRAME_BURST", "-5"],
    ["MAX_TOKEN_CHECKS", "0"],
    ["SHUTDOWN_TIMEOUT_MS", "99"],
    ["REQUEST_TIMEOUT_S", "0"],
    ["OPEN_FILE_LIMIT", "63"],
    ["REQUEST_TIMEOUT_S", "3601"],
    ["MAX_BODY_BYTES_IN_FLIGHT", String(1024 * 1024 - 1)],
    ["MAX_BODY_BYTES_IN_FLIGHT", String(4 * 1024 * 1024 * 1024 + 1)],
    ["LOG_LEVEL", "verbose"],
    ["HOST", " "],
  ];
  for (const [variable, value] of cases) {
    await t.step(`${variable}=${JSON.stringify(value)}`, () => {
      assert.throws(
        () => loadConfig({ [variable]: value }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.ok(error.message.startsWith(variable), error.message);
          assert.ok(!error.message.includes("\n"));
          return true;
        },
      );
    });
  }
});

Deno.test("loadConfig() rejects MAX_BODY_BYTES_IN_FLIGHT below MAX_BODY_BYTES (no body could ever be read)", () => {
  assert.throws(
    () =>
      loadConfig({
        MAX_BODY_BYTES: String(2 * 1024 * 1024),
        MAX_BODY_BYTES_IN_FLIGHT: String(1024 * 1024),
      }),
    /^ConfigError: MAX_BODY_BYTES_IN_FLIGHT \(1048576\) must be at least MAX_BODY_BYTES \(2097152\)$/,
  );
});

Deno.test("loadConfig() never reads Deno.env itself", () => {
  Deno.env.set("MAX_CONNECTIONS", "7");
  try {
    assert.equal(loadConfig({}).maxConnections, 50_000);
  } finally {
    Deno.env.delete("MAX_CONNECTIONS");
  }
});
