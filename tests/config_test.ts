import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../src/config.ts";

Deno.test("loadConfig() defaults match the documented limits", () => {
  const config = loadConfig({});
  assert.deepEqual(config, {
    host: "0.0.0.0",
    wsPort: 5222,
    httpPort: 5223,
    jwtAudience: undefined,
    jwtPublicKeysPath: undefined,
    jwtSecret: undefined,
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
    tokenFailureBurst: 20,
    tokenFailureRate: 2,
    trustedProxies: [],
    maxSubscriptions: 5_000_000,
    corsOrigins: [],
    wsOrigins: [],
    shutdownTimeoutMs: 8000,
    createToken: undefined,
    maxChannels: 1_000_000,
    redisUrl: undefined,
    redisPrefix: "pushserver:",
    openFileLimit: undefined,
    maxReplayBytesInFlight: 64 * 1024 * 1024,
    presenceMaxMembers: 10_000,
    presenceEventsMax: 1000,
    presenceTtlMs: 20_000,
    webhook: undefined,
  });
});

Deno.test("PRESENCE_MAX_MEMBERS (1+) and PRESENCE_EVENTS_MAX (0+) are read; bad values stop", () => {
  const config = loadConfig({ PRESENCE_MAX_MEMBERS: "3", PRESENCE_EVENTS_MAX: "0" });
  assert.equal(config.presenceMaxMembers, 3);
  assert.equal(config.presenceEventsMax, 0);
  for (const [name, bad] of [["PRESENCE_MAX_MEMBERS", "0"], ["PRESENCE_EVENTS_MAX", "x"]]) {
    assert.throws(
      () => loadConfig({ [name!]: bad! }),
      (e) => e instanceof ConfigError && e.message.includes(name!),
    );
  }
});

Deno.test("CREATE_TOKEN needs 16+ characters; MAX_CHANNELS is 1 to 100,000,000", () => {
  assert.throws(
    () => loadConfig({ CREATE_TOKEN: "short" }),
    (e) => e instanceof ConfigError && /CREATE_TOKEN/.test(e.message),
  );
  assert.equal(loadConfig({ CREATE_TOKEN: "x".repeat(16) }).createToken, "x".repeat(16));
  assert.equal(loadConfig({ MAX_CHANNELS: "5" }).maxChannels, 5);
  for (const bad of ["0", "100000001", "x"]) {
    assert.throws(
      () => loadConfig({ MAX_CHANNELS: bad }),
      (e) => e instanceof ConfigError && /MAX_CHANNELS/.test(e.message),
    );
  }
});

Deno.test("TOKEN_FAILURE_BURST, TOKEN_FAILURE_RATE, TRUSTED_PROXIES and MAX_SUBSCRIPTIONS are read at their bounds", () => {
  const low = loadConfig({
    TOKEN_FAILURE_BURST: "1",
    TOKEN_FAILURE_RATE: "0.01",
    TRUSTED_PROXIES: " 10.0.0.1 ,172.16.0.0/12,fd00::/8, ::1 ",
    MAX_SUBSCRIPTIONS: "1",
  });
  assert.equal(low.tokenFailureBurst, 1);
  assert.equal(low.tokenFailureRate, 0.01);
  assert.deepEqual(low.trustedProxies, ["10.0.0.1", "172.16.0.0/12", "fd00::/8", "::1"]);
  assert.equal(low.maxSubscriptions, 1);
  const high = loadConfig({
    TOKEN_FAILURE_BURST: "1000000",
    TOKEN_FAILURE_RATE: "1000000",
    MAX_SUBSCRIPTIONS: "1000000000",
  });
  assert.equal(high.tokenFailureBurst, 1_000_000);
  assert.equal(high.tokenFailureRate, 1_000_000);
  assert.equal(high.maxSubscriptions, 1_000_000_000);
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
    ADMIN_TOKEN: "a-long-admin-tok",
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
  assert.equal(config.adminToken, "a-long-admin-tok");
  assert.equal(config.logLevel, "warn");
});

Deno.test("loadConfig() treats an empty ADMIN_TOKEN as unset (the endpoint stays disabled)", () => {
  assert.equal(loadConfig({ ADMIN_TOKEN: "" }).adminToken, undefined);
});

Deno.test("loadConfig() needs an ADMIN_TOKEN of at least 16 characters, and never echoes it", () => {
  assert.equal(loadConfig({ ADMIN_TOKEN: "0123456789abcdef" }).adminToken, "0123456789abcdef");
  // Characters, not UTF-16 units: 16 emoji are 16 characters (32 units); 15 are too few.
  assert.equal(loadConfig({ ADMIN_TOKEN: "🔑".repeat(16) }).adminToken, "🔑".repeat(16));
  for (const short of ["s3cret", "0123456789abcde", "🔑".repeat(15)]) {
    assert.throws(
      () => loadConfig({ ADMIN_TOKEN: short }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(
          error.message,
          /^ADMIN_TOKEN must be at least 16 characters long, got (6|15)$/,
        );
        assert.ok(!error.message.includes(short), "the token must not be echoed");
        return true;
      },
    );
  }
});

Deno.test("loadConfig() reads WS_ORIGINS as a list of origins, normalized as browsers send them", () => {
  assert.deepEqual(
    loadConfig({ WS_ORIGINS: " https://App.Example:443 , http://localhost:3000/,null,," })
      .wsOrigins,
    ["https://app.example", "http://localhost:3000", "null"],
  );
  assert.deepEqual(loadConfig({ WS_ORIGINS: "" }).wsOrigins, []);
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
    ["TOKEN_FAILURE_BURST", "0"],
    ["TOKEN_FAILURE_BURST", "1000001"],
    ["TOKEN_FAILURE_RATE", "0.001"],
    ["TOKEN_FAILURE_RATE", "1000001"],
    ["TOKEN_FAILURE_RATE", "-1"],
    ["TOKEN_FAILURE_RATE", "1e3"],
    ["TRUSTED_PROXIES", "10.0.0.1, proxy.example"],
    ["TRUSTED_PROXIES", "10.0.0.0/33"],
    ["TRUSTED_PROXIES", "10.0.0.256"],
    ["TRUSTED_PROXIES", "fd00::/129"],
    ["MAX_SUBSCRIPTIONS", "0"],
    ["MAX_SUBSCRIPTIONS", "1000000001"],
    ["SHUTDOWN_TIMEOUT_MS", "99"],
    ["REQUEST_TIMEOUT_S", "0"],
    ["OPEN_FILE_LIMIT", "63"],
    ["REQUEST_TIMEOUT_S", "3601"],
    ["MAX_BODY_BYTES_IN_FLIGHT", String(1024 * 1024 - 1)],
    ["MAX_BODY_BYTES_IN_FLIGHT", String(4 * 1024 * 1024 * 1024 + 1)],
    ["LOG_LEVEL", "verbose"],
    ["HOST", " "],
    ["ADMIN_TOKEN", "short"],
    ["WS_ORIGINS", "app.example"],
    ["WS_ORIGINS", "https://app.example/path"],
    ["WS_ORIGINS", "https://app.example, *"],
    ["WS_ORIGINS", "ftp://files.example"],
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

Deno.test("loadConfig() reports every bad variable at once, one line each", () => {
  assert.throws(
    () => loadConfig({ PORT_WS: "x", BCRYPT_COST: "3", LOG_LEVEL: "loud", HOST: "ok" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems.map((line) => line.split(" ")[0]), [
        "PORT_WS",
        "BCRYPT_COST",
        "LOG_LEVEL",
      ]);
      assert.equal(error.message, error.problems.join("\n"));
      return true;
    },
  );
});

Deno.test("loadConfig() refuses PORT_WS equal to PORT_HTTP, naming the clash", () => {
  assert.throws(
    () => loadConfig({ PORT_WS: "5300", PORT_HTTP: "5300" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        "PORT_WS and PORT_HTTP are both 5300: the subscriber and publisher ports must differ",
      ]);
      return true;
    },
  );
  // The clash is reported next to the other problems, not after they are fixed.
  assert.throws(
    () => loadConfig({ PORT_WS: "5223", LOG_LEVEL: "loud" }),
    (error: unknown) =>
      error instanceof ConfigError && error.problems.length === 2 &&
      error.problems.some((line) => line.startsWith("PORT_WS and PORT_HTTP are both 5223")),
  );
  // Port 0 means "any free port": both may ask for it.
  assert.equal(loadConfig({ PORT_WS: "0", PORT_HTTP: "0" }).wsPort, 0);
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

Deno.test("loadConfig() reads REDIS_URL (unset = single node) and REDIS_PREFIX", () => {
  const single = loadConfig({});
  assert.equal(single.redisUrl, undefined);
  assert.equal(single.redisPrefix, "pushserver:");
  assert.equal(loadConfig({ REDIS_URL: " " }).redisUrl, undefined);
  const cluster = loadConfig({ REDIS_URL: "redis://:pw@redis:6379/2", REDIS_PREFIX: "app1:" });
  assert.equal(cluster.redisUrl, "redis://:pw@redis:6379/2");
  assert.equal(cluster.redisPrefix, "app1:");
  assert.equal(
    loadConfig({ REDIS_URL: "rediss://cache.example:6380" }).redisUrl,
    "rediss://cache.example:6380",
  );
  for (const env of [{ REDIS_URL: "http://redis:6379" }, { REDIS_URL: "redis:6379" }]) {
    assert.throws(() => loadConfig(env), (error: Error) => {
      assert(error instanceof ConfigError);
      assert.match(error.message, /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/);
      return true;
    });
  }
  assert.throws(() => loadConfig({ REDIS_URL: "redis://:secret@" }), (error: Error) => {
    assert.match(error.message, /REDIS_URL/);
    assert(!error.message.includes("secret"), "the URL's password is never repeated");
    return true;
  });
  assert.throws(() => loadConfig({ REDIS_PREFIX: "has space" }), /^ConfigError: REDIS_PREFIX/);
  assert.throws(() => loadConfig({ REDIS_PREFIX: "" }), /REDIS_PREFIX/);
});

Deno.test("loadConfig() reads WEBHOOK_URL with WEBHOOK_SECRET (16+), WEBHOOK_RETRY_S default 86,400", () => {
  const secret = "s".repeat(16);
  assert.deepEqual(
    loadConfig({ WEBHOOK_URL: "https://hooks.example/in", WEBHOOK_SECRET: secret }).webhook,
    {
      url: "https://hooks.example/in",
      secret,
      retryS: 86_400,
    },
  );
  assert.equal(
    loadConfig({
      WEBHOOK_URL: "http://127.0.0.1:9/x",
      WEBHOOK_SECRET: secret,
      WEBHOOK_RETRY_S: "60",
    })
      .webhook?.retryS,
    60,
  );
  assert.equal(loadConfig({ WEBHOOK_SECRET: secret }).webhook, undefined);
  const refused = (env: Record<string, string>, variable: string) =>
    assert.throws(() => loadConfig(env), (error: Error) => {
      assert(error instanceof ConfigError);
      assert.match(error.message, new RegExp(`^${variable}`));
      assert(!error.message.includes("sekrit"), "the secret is never repeated");
      return true;
    });
  refused({ WEBHOOK_URL: "https://hooks.example/in" }, "WEBHOOK_SECRET");
  refused({ WEBHOOK_URL: "https://hooks.example/in", WEBHOOK_SECRET: "sekrit" }, "WEBHOOK_SECRET");
  refused({ WEBHOOK_URL: "ftp://hooks.example/in", WEBHOOK_SECRET: secret }, "WEBHOOK_URL");
  refused({ WEBHOOK_URL: "hooks.example", WEBHOOK_SECRET: secret }, "WEBHOOK_URL");
  refused(
    { WEBHOOK_URL: "https://h.example", WEBHOOK_SECRET: secret, WEBHOOK_RETRY_S: "0" },
    "WEBHOOK_RETRY_S",
  );
});
