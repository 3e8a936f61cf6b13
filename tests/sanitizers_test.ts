/**
 * The test run keeps Deno's op and resource sanitizers on: since Deno 2.8 they are off unless the
 * config asks for them, and a test that leaks a timer or a socket would otherwise pass.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;
// `deno task test` runs with the tests' config (test-only libraries live in its import map).
const CONFIG = join(ROOT, "tests", "deno.json");

Deno.test("deno.json turns the op and resource sanitizers on for every test", async () => {
  const config = JSON.parse(await Deno.readTextFile(CONFIG));
  assert.deepEqual(
    {
      sanitizeOps: config.test?.sanitizeOps,
      sanitizeResources: config.test?.sanitizeResources,
    },
    { sanitizeOps: true, sanitizeResources: true },
  );
});

Deno.test("no test file switches a sanitizer off", async () => {
  // Built from parts so that this file does not match itself.
  const off = new RegExp(
    [
      "sanitize(Ops|Resources|Exit)\\s*:\\s*false",
      "Deno\\.test\\.sanitizer\\s*\\(",
    ].join("|"),
  );
  const offenders: string[] = [];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (
        /\.(ts|js)$/.test(entry.name) && off.test(await Deno.readTextFile(path))
      ) {
        offenders.push(path.slice(ROOT.length));
      }
    }
  }
  await walk(join(ROOT, "tests"));
  assert.deepEqual(offenders, []);
});

Deno.test("under the project's config, a test that leaks a timer or a listener fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pushserver-sanitizers-" });
  try {
    const file = join(dir, "leaky_test.ts");
    await Deno.writeTextFile(
      file,
      [
        'Deno.test("leaks a timer", () => { setTimeout(() => {}, 10_000); });',
        'Deno.test("leaks a listener", () => { Deno.listen({ hostname: "127.0.0.1", port: 0 }); });',
      ].join("\n"),
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--config", CONFIG, "--no-lock", "--allow-net", file],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout) +
      new TextDecoder().decode(output.stderr);
    assert.notEqual(output.code, 0, text);
    assert.match(text, /\| 0 passed \| 2 failed/);
    assert.match(text, /A timer was started in this test/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
