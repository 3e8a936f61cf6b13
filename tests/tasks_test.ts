/** The deno.json tasks that select tests: `test:unit` runs the fast tests and nothing tagged. */
import assert from "node:assert/strict";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("[e2e] deno task test:unit runs the untagged tests and filters out [e2e], [browser], [cluster] and [fuzz]", async () => {
  // A file of its own with one test of each kind, run through the task as a user would.
  const dir = await Deno.makeTempDir({ prefix: "pushserver-tasks-" });
  try {
    const file = join(dir, "kinds_test.ts");
    await Deno.writeTextFile(
      file,
      ["unit one", "unit two", "[e2e] x", "[browser] x", "[cluster] x", "[fuzz] x"]
        .map((name) => `Deno.test(${JSON.stringify(name)}, () => {});`).join("\n"),
    );
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "--config", join(ROOT, "deno.json"), "test:unit", file],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(run.stdout);
    assert.equal(run.code, 0, out + new TextDecoder().decode(run.stderr));
    assert.match(out, /ok \| 2 passed \| 0 failed \| 4 filtered out/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
