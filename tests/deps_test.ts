/**
 * `deno task start` fetches only the server's dependencies. Deno (`deno task` included) downloads
 * every npm package of the config's import map and lockfile before it runs anything, so deno.json
 * and deno.lock hold only what main.ts loads, and the test and docs-check libraries live in
 * tests/deno.json and tests/deno.lock, which only `deno task test|test:unit|check|bench` use.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;

/** Libraries only the tests load; none of them may reach the server's config or lockfile. */
const TEST_ONLY = [
  "playwright-core",
  "fast-check",
  "ajv",
  "ajv-formats",
  "@readme/openapi-parser",
  "@asyncapi/parser",
  "ws",
  "axe-core",
];

interface Lock {
  readonly specifiers: Record<string, string>;
  readonly npm: Record<string, unknown>;
}

async function readJson<T>(...path: string[]): Promise<T> {
  return JSON.parse(await Deno.readTextFile(join(ROOT, ...path)));
}

/** `npm:name@version/sub.js` → `npm:name@version`, the lockfile's specifier key. */
function packageOf(target: string): string {
  return /^(npm:(?:@[^/]+\/)?[^/@]+@[^/]+)/.exec(target)?.[1] ?? target;
}

Deno.test("deno.json imports only the server's dependencies; tests/deno.json pins them alike", async () => {
  type Config = {
    imports: Record<string, string>;
    compilerOptions: unknown;
    lint: unknown;
    fmt: { lineWidth: number };
  };
  const server = await readJson<Config>("deno.json");
  const tests = await readJson<Config>("tests", "deno.json");
  assert.deepEqual(
    Object.keys(server.imports).filter((name) => TEST_ONLY.includes(name)),
    [],
  );
  for (const [name, target] of Object.entries(server.imports)) {
    assert.equal(
      tests.imports[name],
      target,
      `${name} differs between the two configs`,
    );
  }
  // `deno fmt|lint|check tests/x.ts` picks tests/deno.json: it must judge code as deno.json does.
  assert.deepEqual(tests.compilerOptions, server.compilerOptions);
  assert.deepEqual(tests.lint, server.lint);
  assert.equal(tests.fmt.lineWidth, server.fmt.lineWidth);
  // Every server import is used by the server (an unused one would be downloaded for nothing).
  const sources: string[] = [await Deno.readTextFile(join(ROOT, "main.ts"))];
  for await (const file of walk(join(ROOT, "src"))) {
    sources.push(await Deno.readTextFile(file));
  }
  const code = sources.join("\n");
  for (const name of Object.keys(server.imports)) {
    assert.ok(code.includes(`"${name}`), `the server never imports ${name}`);
  }
});

Deno.test("deno.lock holds no test-only package, and tests/deno.lock resolves the server's alike", async () => {
  const server = await readJson<Lock>("deno.lock");
  const tests = await readJson<Lock>("tests", "deno.lock");
  const names = Object.keys(server.npm).map((key) => key.replace(/(?<!^)@.*$/, ""));
  assert.deepEqual(names.filter((name) => TEST_ONLY.includes(name)), []);
  const imports = (await readJson<{ imports: Record<string, string> }>("deno.json")).imports;
  assert.deepEqual(
    new Set(Object.keys(server.specifiers)),
    new Set(Object.values(imports).map(packageOf)),
  );
  for (const [key, resolved] of Object.entries(server.npm)) {
    assert.deepEqual(
      tests.npm[key],
      resolved,
      `${key} resolves differently for the tests`,
    );
  }
});

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* walk(path);
    else if (/\.(ts|js)$/.test(entry.name)) yield path;
  }
}
