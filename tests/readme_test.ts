/**
 * The examples of the README and of each page in docs/, run as written: a page's shell and JS/TS
 * code blocks, in order, against a real server on free ports (as after `deno task start`: no
 * ADMIN_TOKEN, no CREATE_TOKEN), by a "reader" working in a copy of the checkout (so the files
 * they create stay out of the tree). `localhost:5223` and `localhost:5222` are rewritten to the
 * test server's ports, and `PUSHSERVER_HTTP` / `PUSHSERVER_WS` point at them.
 *
 * Shell blocks share one shell's variables, as one terminal would. A JS/TS block starts with a
 * comment naming its file and the command that runs it (`// client.js — deno run --allow-net
 * client.js`): the test saves it under that name and runs that command, so the flags the README
 * states are the flags that work. Markers, as an HTML comment on the line before a block:
 * - `<!-- readme-test: skip (why) -->`: not run (starts the server, needs Docker, ...).
 * - `<!-- readme-test: background until "TEXT" -->`: a subscriber that runs until stopped. It runs
 *   in the background; once it has subscribed the next blocks run, and after the next foreground
 *   block it must have printed every TEXT, then it is stopped.
 * - `<!-- readme-test: errors 403 404 -->`: the block causes these error answers on purpose (on a
 *   background block: at any time while it runs, so the blocks run meanwhile may see them too).
 * - `<!-- readme-test: server -->`: the block restarts the server (`NAME=value … deno task start`):
 *   the test server restarts with those settings on the same database, as the reader's would.
 * A block fails on a non-zero exit, and on any error answer the server counts while it runs that
 * its marker does not name.
 */
import assert from "node:assert/strict";
import { cpSync } from "node:fs";
import { dirname, join } from "node:path";
import { startTestServer, type TestServer } from "./_helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SHELL = new Set(["sh", "bash", "shell"]);
const SCRIPT = new Set(["js", "javascript", "mjs", "ts", "typescript"]);
const BLOCK_TIMEOUT_MS = 20_000;

/** One fenced code block of the README. */
interface Block {
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly lang: string;
  readonly code: string;
  /** The text of a `<!-- readme-test: … -->` marker right before the block, or "". */
  readonly marker: string;
}

/** The fenced code blocks of a Markdown text, with the marker before each. */
function codeBlocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    let before = start - 1;
    while (before >= 0 && lines[before]!.trim() === "") before--;
    const marker = /^<!--\s*readme-test:\s*(.*?)\s*-->$/.exec(lines[before]?.trim() ?? "");
    blocks.push({
      line: start + 1,
      lang: open[1]!,
      code: body.join("\n"),
      marker: marker?.[1] ?? "",
    });
  }
  return blocks;
}

/** What a marker asks for. */
function directives(marker: string) {
  const errors = /\berrors((?:\s+\d{3})+)/.exec(marker)?.[1]?.trim().split(/\s+/).map(Number);
  return {
    skip: /^skip\b/.test(marker),
    background: /^background\b/.test(marker),
    server: /^server\b/.test(marker),
    until: [...marker.matchAll(/"([^"]*)"/g)].map((m) => m[1]!),
    errors: (errors ?? []).sort(),
  };
}

/** A shell run of one block, in its own process group so it can be stopped with its children. */
class Run {
  readonly child: Deno.ChildProcess;
  stdout = "";
  stderr = "";
  readonly #done: Promise<Deno.CommandStatus>;

  constructor(script: string, cwd: string, env: Record<string, string>) {
    this.child = new Deno.Command("setsid", {
      args: ["bash", "-c", script],
      cwd,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const collect = async (stream: ReadableStream<Uint8Array>, add: (text: string) => void) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) add(text);
    };
    const reading = Promise.all([
      collect(this.child.stdout, (text) => this.stdout += text),
      collect(this.child.stderr, (text) => this.stderr += text),
    ]);
    this.#done = Promise.all([this.child.status, reading]).then(([status]) => status);
  }

  /** Resolves with the exit status once the process has ended and its output was read. */
  get done(): Promise<Deno.CommandStatus> {
    return this.#done;
  }

  /** Stops the whole process group (bash, `deno task`, and what that started). */
  async stop(): Promise<void> {
    try {
      Deno.kill(-this.child.pid, "SIGTERM");
    } catch {
      // Already gone.
    }
    await this.#done;
  }

  output(): string {
    return `--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`;
  }
}

/** The server's counters that show what a block did: error answers by code, and subscriptions. */
async function counters(
  server: TestServer,
): Promise<{ errors: Map<string, number>; subs: number }> {
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
  const errors = new Map<string, number>();
  for (
    const [, code, value] of text.matchAll(/^pushserver_errors_total\{[^}]*code="(\d+)"\} (\d+)$/gm)
  ) {
    errors.set(code!, (errors.get(code!) ?? 0) + Number(value));
  }
  const subs = Number(/^pushserver_subscriptions (\d+)$/m.exec(text)?.[1] ?? NaN);
  return { errors, subs };
}

/** The error codes counted between two readings, sorted. */
function newErrors(before: Map<string, number>, after: Map<string, number>): number[] {
  return [...after].filter(([code, n]) => n > (before.get(code) ?? 0)).map(([code]) => Number(code))
    .sort();
}

/** Polls `check` every 50 ms until it holds or `ms` pass. */
async function eventually(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return await check();
}

/** Runs a promise against a deadline; the timer is cleared either way. */
async function within<T>(ms: number, promise: Promise<T>): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) =>
    timer = setTimeout(() => resolve("timeout"), ms)
  );
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The pages whose examples run: the README, then each page in docs/. */
const DOCS = [
  "README.md",
  "docs/usage.md",
  "docs/configuration.md",
  "docs/operations.md",
  "docs/security.md",
  "docs/reliability.md",
  "docs/cluster.md",
  "docs/protocol.md",
];

/** How many blocks each page must at least run (a page that lost its examples fails). */
const MIN_BLOCKS: Readonly<Record<string, number>> = { "README.md": 8, "docs/usage.md": 10 };

/** `NAME=value` settings in front of `deno task start` in a server block. */
function serverSettings(code: string): Record<string, string> {
  const line = code.split("\n").find((l) => /\bdeno task start\b/.test(l));
  assert.ok(line, "a server block runs `deno task start`");
  const settings: Record<string, string> = {};
  for (const [, name, value] of line.matchAll(/\b([A-Z_]+)=(\S+)/g)) settings[name!] = value!;
  return settings;
}

for (const doc of DOCS) {
  Deno.test(`[e2e] ${doc} examples run as written, top to bottom`, async (t) => {
    await runExamples(t, doc);
  });
}

async function runExamples(t: Deno.TestContext, doc: string): Promise<void> {
  const text = await Deno.readTextFile(join(ROOT, doc));
  const blocks = codeBlocks(text).filter((b) => SHELL.has(b.lang) || SCRIPT.has(b.lang));
  // The reader's checkout: what `deno task cli` and the examples' local imports need.
  const dir = await Deno.makeTempDir({ prefix: "pushserver-readme-" });
  for (const entry of ["deno.json", "deno.lock", "main.ts", "src"]) {
    cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
  }
  // A database on disk, so that a restarted server keeps its channels, as `deno task start` does.
  const dbPath = join(dir, "data", "pushserver.db");
  let server: TestServer = await startTestServer({ DB_PATH: dbPath });
  const ports = new Set<number>([server.httpPort]);
  const rewrite = (text: string) =>
    text.replaceAll("localhost:5223", `127.0.0.1:${server.httpPort}`)
      .replaceAll("localhost:5222", `127.0.0.1:${server.wsPort}`);
  const state = join(dir, ".readme-test-shell-state");
  const env: Record<string, string> = {
    ...Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([name]) =>
        !name.startsWith("PUSHSERVER_") && name !== "ADMIN_TOKEN"
      ),
    ),
    PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    NO_COLOR: "1",
  };
  const pointAtServer = () => {
    env.PUSHSERVER_HTTP = server.httpUrl;
    env.PUSHSERVER_WS = server.wsUrl;
  };
  pointAtServer();
  /**
   * The block as a bash script. A foreground block hands the variables it set on to the next one
   * (with their export flags: a variable the page does not export stays unexported).
   */
  const script = (body: string, keepState: boolean) =>
    [
      "set -euo pipefail",
      "__vars_at_start=$(compgen -v)",
      `[ -f '${state}' ] && source '${state}'`,
      keepState
        ? [
          "__save() {",
          "  for __v in $(compgen -v); do",
          // FUNCNAME is set inside __save itself; sourced back outside a function, its
          // assignment fails, and as the last line of the state (a page whose first block is a
          // script) that failure ended the next block at once, silently.
          '    [[ $__v == __* || $__v == FUNCNAME ]] || grep -qxF "$__v" <<<"$__vars_at_start" ||',
          '      declare -p "$__v"',
          `  done | grep -v '^declare -[a-zA-Z]*r' > '${state}' || true`,
          "}",
          "trap __save EXIT",
        ].join("\n")
        : "",
      body,
    ].join("\n");

  const background: { run: Run; until: string[]; line: number; errors: number[] }[] = [];
  let ran = 0;
  try {
    for (const block of blocks) {
      const want = directives(block.marker);
      const name = `${doc}:${block.line} (${block.lang}${want.skip ? ", skipped" : ""})`;
      if (want.skip) {
        await t.step({ name, ignore: true, fn: () => {} });
        continue;
      }
      const passed = await t.step(name, async () => {
        if (want.server) {
          assert.equal(background.length, 0, "no subscriber runs while the server restarts");
          await server.shutdown();
          server = await startTestServer({ DB_PATH: dbPath, ...serverSettings(block.code) });
          ports.add(server.httpPort);
          pointAtServer();
          ran++;
          return;
        }
        let body = rewrite(block.code);
        if (SCRIPT.has(block.lang)) {
          const header = /^\/\/\s*(\S+)\s+—\s+(.+)$/.exec(body.split("\n")[0] ?? "");
          assert.ok(header, "a JS/TS block starts with `// FILE — COMMAND` saying how to run it");
          const [, file, command] = header;
          assert.ok(command!.includes(file!), `the command runs ${file}`);
          await Deno.writeTextFile(join(dir, file!), body);
          body = command!;
        }
        const before = await counters(server);
        const run = new Run(script(body, !want.background), dir, env);
        if (want.background) {
          background.push({ run, until: want.until, line: block.line, errors: want.errors });
          const exited = { now: false };
          run.done.then(() => exited.now = true);
          // Subscribed: the server's subscription count rose, and held still for one more poll
          // (a subscriber of several channels subscribes to them one after the other).
          let last = before.subs;
          const subscribed = await eventually(async () => {
            const subs = (await counters(server)).subs;
            const settled = subs > before.subs && subs === last;
            last = subs;
            return exited.now || settled;
          }, 10_000);
          assert.ok(subscribed && !exited.now, `the subscriber did not subscribe\n${run.output()}`);
        } else {
          const status = await within(BLOCK_TIMEOUT_MS, run.done);
          if (status === "timeout") {
            await run.stop();
            assert.fail(`still running after ${BLOCK_TIMEOUT_MS} ms\n${run.output()}`);
          }
          assert.equal(status.code, 0, `exit code ${status.code}\n${run.output()}`);
        }
        const after = await counters(server);
        // A subscriber still running may cause the errors its own marker names (e.g. a 403 each
        // time it asks again for a grant) at any moment: they are not this block's.
        const tolerated = new Set(background.flatMap((b) => b.errors));
        assert.deepEqual(
          newErrors(before.errors, after.errors).filter(
            (code) => want.errors.includes(code) || !tolerated.has(code),
          ),
          want.errors,
          `error answers while it ran (a marker names the expected ones)\n${run.output()}`,
        );
        // The subscribers started before this block must have printed what it sent them.
        if (!want.background) {
          for (const { run: subscriber, until, line } of background.splice(0)) {
            const printed = await eventually(
              () => until.every((text) => subscriber.stdout.includes(text)),
              5_000,
            );
            await subscriber.stop();
            assert.ok(
              printed,
              `${doc}:${line} did not print ${JSON.stringify(until)}\n${subscriber.output()}`,
            );
          }
        }
        ran++;
      });
      if (!passed) break;
    }
  } finally {
    for (const { run } of background) await run.stop();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
    for (const port of ports) await forgetRemoteModules(port);
  }
  assert.ok(ran >= (MIN_BLOCKS[doc] ?? 0), `only ${ran} ${doc} blocks ran`);
}

/** Removes the test server's modules from Deno's cache (each run has its own port). */
async function forgetRemoteModules(port: number): Promise<void> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
  })
    .output();
  const cache: string = JSON.parse(new TextDecoder().decode(info.stdout)).modulesCache;
  await Deno.remove(join(cache, "http", `127.0.0.1_PORT${port}`), { recursive: true }).catch(
    () => {},
  );
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function anchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

Deno.test("links in the README and the docs/ pages point at files and headings that exist", async () => {
  const broken: string[] = [];
  for (const doc of DOCS) {
    const text = await Deno.readTextFile(join(ROOT, doc));
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?:|mailto:)/.test(target!)) continue;
      const [file, hash] = target!.split("#") as [string, string | undefined];
      const path = file === "" ? join(ROOT, doc) : join(ROOT, dirname(doc), file);
      const found = path.startsWith(ROOT) && await Deno.readTextFile(path).catch(() => undefined);
      const headings = typeof found === "string"
        ? [...found.matchAll(/^#+ (.+)$/gm)].map((m) => anchor(m[1]!))
        : [];
      if (found === undefined || found === false || (hash && !headings.includes(hash))) {
        broken.push(`${doc}: ${target}`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

Deno.test("codeBlocks() finds fenced blocks and the marker right before each", () => {
  const blocks = codeBlocks(
    [
      "text",
      "<!-- readme-test: skip (starts the server) -->",
      "",
      "```sh",
      "deno task start",
      "```",
      "```js",
      "// a.js — deno run a.js",
      "```",
    ].join("\n"),
  );
  assert.deepEqual(blocks, [
    { line: 4, lang: "sh", code: "deno task start", marker: "skip (starts the server)" },
    { line: 7, lang: "js", code: "// a.js — deno run a.js", marker: "" },
  ]);
  assert.deepEqual(directives('background until "a: b" "c"'), {
    skip: false,
    background: true,
    server: false,
    until: ["a: b", "c"],
    errors: [],
  });
  assert.deepEqual(directives("errors 404 403").errors, [403, 404]);
});
