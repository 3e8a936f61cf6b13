/** main.ts as a subprocess: the listening line, and one-line config errors with exit code 1. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ServerProcess } from "./_process.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function runMain(
  env: Record<string, string>,
  options: { flags?: string[]; prefix?: string[] } = {},
): Promise<{ code: number; stderr: string; stdout: string }> {
  const [program, ...args] = [
    ...(options.prefix ?? []),
    Deno.execPath(),
    "run",
    ...(options.flags ?? ["-A"]),
    MAIN,
  ];
  const output = await new Deno.Command(program!, {
    args,
    env: { PORT_WS: "0", PORT_HTTP: "0", DB_PATH: ":memory:", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

// main.ts settings, ports and the listening line: process start-up, not a backend (single only).
Deno.test("[e2e][single] main.ts rejects bad settings with a one-line error naming the variable", async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ PORT_WS: "70000" }, "PORT_WS"],
    [{ PORT_HTTP: "-1" }, "PORT_HTTP"],
    [{ PORT_HTTP: "http" }, "PORT_HTTP"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [{ BCRYPT_COST: "3" }, "BCRYPT_COST"],
    [{ BCRYPT_COST: "16" }, "BCRYPT_COST"],
    [{ DB_PATH: "/proc/pushserver/forbidden.db" }, "DB_PATH"],
    [{ ADMIN_TOKEN: "too-short" }, "ADMIN_TOKEN"],
    [{ WS_ORIGINS: "app.example" }, "WS_ORIGINS"],
  ];
  for (const [env, variable] of cases) {
    await t.step(`${JSON.stringify(env)} → exit 1 naming ${variable}`, async () => {
      const result = await runMain(env);
      assert.equal(result.code, 1);
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, new RegExp(variable));
    });
  }
});

// main.ts settings, ports and the listening line: process start-up, not a backend (single only).
Deno.test("[e2e][single] main.ts reports every bad setting, one line each, exit 1", async () => {
  const result = await runMain({ PORT_WS: "70000", LOG_LEVEL: "loud", BCRYPT_COST: "3" });
  assert.equal(result.code, 1);
  assert.deepEqual(
    result.stderr.trim().split("\n").map((line) => /^pushserver: (\w+)/.exec(line)?.[1]),
    ["PORT_WS", "BCRYPT_COST", "LOG_LEVEL"],
  );
});

// main.ts settings, ports and the listening line: process start-up, not a backend (single only).
Deno.test("[e2e][single] main.ts names the clash when PORT_WS equals PORT_HTTP", async () => {
  const result = await runMain({ PORT_WS: "5299", PORT_HTTP: "5299" });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    "pushserver: PORT_WS and PORT_HTTP are both 5299: the subscriber and publisher ports must differ\n",
  );
});

/** The permission flags of `deno task start`, so these runs see what a user sees. */
async function startTaskFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  return String(config.tasks.start).split(/\s+/).filter((word) => word.startsWith("--allow-"));
}

// main.ts settings, ports and the listening line: process start-up, not a backend (single only).
Deno.test("[e2e][single] DB_PATH in a system folder: one line naming DB_PATH, not Deno's --allow-all hint", async () => {
  const flags = await startTaskFlags();
  for (const dbPath of ["/proc/x/db", "/sys/pushserver.db", "/dev/pushserver/x.db"]) {
    const result = await runMain({ DB_PATH: dbPath }, { flags });
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `pushserver: DB_PATH: cannot use "${dbPath}": it is inside a system folder (such as /proc, ` +
        "/sys or /dev) that is not for files; choose a path on disk, e.g. data/pushserver.db\n",
    );
  }
});

/**
 * Root writes anywhere, so as root the server runs without the capabilities that bypass file
 * permissions (setpriv), which makes a read-only folder read-only for it too.
 */
const ROOT_WITHOUT_BYPASS = Deno.uid() === 0
  ? ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]
  : [];

// main.ts settings, ports and the listening line: process start-up, not a backend (single only).
Deno.test({
  name: "[e2e][single] DB_PATH in a folder this user may not write to says permission denied",
  ignore: Deno.uid() === 0 && !(await Deno.stat("/usr/bin/setpriv").catch(() => undefined)),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pushserver-readonly-" });
    try {
      await Deno.chmod(dir, 0o555);
      const flags = await startTaskFlags();
      const prefix = ROOT_WITHOUT_BYPASS;
      const file = await runMain({ DB_PATH: join(dir, "p.db") }, { flags, prefix });
      assert.equal(file.code, 1);
      assert.equal(
        file.stderr,
        `pushserver: DB_PATH: cannot create "${join(dir, "p.db")}": permission denied; this user ` +
          `may not write to "${dir}" (choose another folder or fix its permissions)\n`,
      );
      const folder = await runMain({ DB_PATH: join(dir, "sub", "p.db") }, { flags, prefix });
      assert.equal(folder.code, 1);
      assert.match(
        folder.stderr,
        /^pushserver: DB_PATH: cannot create the folder "[^"]+\/sub": permission denied \(.*\)\n$/,
      );
    } finally {
      await Deno.chmod(dir, 0o755);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// main.ts settings, ports and the listening line: process start-up, not a backend (single only).
Deno.test("[e2e][single] main.ts prints the listening line with the real ports and serves", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pushserver-main-" });
  try {
    await using server = await ServerProcess.spawn({ DB_PATH: join(dir, "data", "p.db") });
    const line = server.lines.find((l) => String(l.msg).includes("ws="));
    assert.match(
      line?.msg,
      /^pushserver listening ws=127\.0\.0\.1:\d+ http=127\.0\.0\.1:\d+ mode=single$/,
    );
    assert.notEqual(server.wsPort, 0);
    assert.notEqual(server.httpPort, 0);
    const health = await fetch(`${server.httpUrl}/healthz`);
    assert.deepEqual(await health.json(), { status: "ok" });
    const ws = await fetch(server.wsUrl.replace("ws:", "http:"));
    assert.equal(ws.status, 426);
    await ws.body?.cancel();
    server.kill("SIGTERM");
    assert.equal((await server.exit()).code, 0);
    assert.ok((await Deno.stat(join(dir, "data", "p.db"))).isFile, "DB_PATH's folder was created");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// main.ts settings, ports and the listening line: process start-up, not a backend (single only).
Deno.test("[e2e][single] main.ts prints the listening line even at LOG_LEVEL=error", async () => {
  await using server = await ServerProcess.spawn({ LOG_LEVEL: "error" });
  assert.notEqual(server.httpPort, 0);
  const health = await fetch(`${server.httpUrl}/healthz`);
  assert.equal(health.status, 200);
  await health.body?.cancel();
  assert.ok(!server.lines.some((l) => l.msg === "request"), "request logs stay hidden at error");
  server.kill("SIGTERM");
  assert.equal((await server.exit()).code, 0);
});

// main.ts settings, ports and the listening line: process start-up, not a backend (single only).
Deno.test("[e2e][single] main.ts reports a port already in use in one line naming the variable", async (t) => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  for (const variable of ["PORT_HTTP", "PORT_WS"]) {
    await t.step(variable, async () => {
      const result = await runMain({ HOST: "127.0.0.1", [variable]: String(taken.addr.port) });
      assert.equal(result.code, 1);
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 1, result.stderr);
      assert.match(
        lines[0]!,
        new RegExp(`^pushserver: ${variable}: cannot listen on 127\\.0\\.0\\.1:`),
      );
    });
  }
});
