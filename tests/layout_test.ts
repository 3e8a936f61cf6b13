/**
 * The rooms of src/ and what each may import (docs/architecture.md): no import cycle between
 * files, and no arrow against the layering protocol ← core ← backends ← server.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(new URL("../src", import.meta.url).pathname);

/** Foundations every room may use: the error catalog, logging, metrics, settings. */
const BASE = ["errors.ts", "log.ts", "metrics.ts", "config.ts"];
const CORE = ["channels/", "history/", "hub/"];

/** Room → the rooms it may import (besides itself). */
const ALLOWED: Record<string, readonly string[]> = {
  "errors.ts": [],
  "log.ts": [],
  "metrics.ts": [],
  "config.ts": ["log.ts", "client_address.ts"],
  "fd_limit.ts": [],
  "listener.ts": ["log.ts"],
  // The software version lives in one place: deno.json (a JSON import).
  "version.ts": ["../"],
  "client_address.ts": [],
  "startup_notes.ts": ["config.ts", "log.ts", "version.ts"],
  "protocol/": ["errors.ts"],
  // The core: the channel rules, the hub and the seams (Backend, Broker, Grants, ChannelLookup).
  "channels/": BASE,
  "history/": [...BASE, "channels/"],
  "hub/": [...BASE, "channels/", "history/", "protocol/", "webhooks/"],
  // Webhooks (events, signer, sender, the WebhookOutbox interface) are core-level: each backend
  // implements the outbox (SQLite tables, a Redis stream) and the Backend seam opens it, so
  // hub/ and the backends import webhooks/ types; webhooks/ itself never imports a backend.
  // The contract's names and schemas are in protocol/webhooks.ts (OpenAPI describes them).
  "webhooks/": [...BASE, "protocol/"],
  // Backends implement the core's interfaces; neither knows the other or any transport.
  "local/": [...BASE, ...CORE, "webhooks/"],
  "cluster/": [...BASE, ...CORE, "webhooks/"],
  // Transports parse, call the core and write frames; they never import a backend.
  "http/": [...BASE, ...CORE, "protocol/", "client/", "version.ts"],
  "ws/": [...BASE, ...CORE, "protocol/"],
  // Server-Sent Events: another writer under the transport-neutral session of ws/.
  "sse/": [...BASE, ...CORE, "protocol/", "ws/"],
  // The admin UI (page and JSON API on the HTTP port): transport level like http/, whose app it
  // is mounted on and whose file caching (http/static.ts) it serves its page with; it reads the
  // core and the backend's seams (StatsShare), never a backend.
  "admin/": [...BASE, ...CORE, "protocol/", "http/"],
  "client/": [],
  "publisher/": [],
  // Composition roots and tools.
  "server.ts": [
    ...BASE,
    ...CORE,
    "protocol/",
    "local/",
    "cluster/",
    "http/",
    "ws/",
    "sse/",
    "webhooks/",
    "admin/",
    "fd_limit.ts",
    "listener.ts",
    "client_address.ts",
    "startup_notes.ts",
  ],
  "cli/": ["client/", "publisher/", ...BASE, "protocol/", "version.ts"],
  "migrate_to_redis.ts": ["local/", "cluster/", "history/"],
};

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) files.push(...sourceFiles(path));
    else if (/\.(ts|js)$/.test(entry.name)) files.push(path);
  }
  return files;
}

interface Import {
  readonly target: string;
  /** `import type`: erased at run time. */
  readonly typeOnly: boolean;
}

/** Every file of src/ and the src/ files it imports (relative specifiers only). */
function importGraph(): Map<string, Import[]> {
  const graph = new Map<string, Import[]>();
  const pattern = /(?:\b(from)|\b(import)(\s+type)?)\s*\(?\s*["'](\.\.?\/[^"']+)["']/g;
  for (const file of sourceFiles(SRC)) {
    const text = Deno.readTextFileSync(file);
    const imports: Import[] = [];
    for (const match of text.matchAll(pattern)) {
      // `import type { … } from "…"`: look back to the statement's start for `import type`.
      const start = text.lastIndexOf("import", match.index);
      const typeOnly = /^import\s+type\b/.test(text.slice(start));
      imports.push({ target: resolve(dirname(file), match[4]!), typeOnly });
    }
    graph.set(file, imports);
  }
  return graph;
}

/** The cycles of `graph` (each once, as the path that closes it). */
function cycles<T>(graph: Map<T, T[]>, name: (node: T) => string): string[] {
  const state = new Map<T, "visiting" | "done">();
  const found: string[] = [];
  const visit = (node: T, path: T[]) => {
    if (state.get(node) === "done") return;
    if (state.get(node) === "visiting") {
      found.push(path.slice(path.indexOf(node)).concat(node).map(name).join(" → "));
      return;
    }
    state.set(node, "visiting");
    for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
    state.set(node, "done");
  };
  for (const node of graph.keys()) visit(node, []);
  return found;
}

function roomOf(file: string): string {
  const path = relative(SRC, file);
  return path.includes("/") ? `${path.split("/")[0]}/` : path;
}

Deno.test("layout: no file in src/ imports a room it may not (no back arrows)", () => {
  const wrong: string[] = [];
  for (const [file, targets] of importGraph()) {
    const from = roomOf(file);
    const allowed = ALLOWED[from];
    assert.ok(allowed !== undefined, `src/${relative(SRC, file)}: a new room; add it to ALLOWED`);
    for (const { target } of targets) {
      const to = roomOf(target);
      if (to !== from && !allowed.includes(to)) {
        wrong.push(`src/${relative(SRC, file)} imports src/${relative(SRC, target)}`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("layout: no import cycle between rooms, types included", () => {
  const rooms = new Map<string, string[]>();
  for (const [file, imports] of importGraph()) {
    const from = roomOf(file);
    const targets = rooms.get(from) ?? [];
    for (const { target } of imports) {
      const to = roomOf(target);
      if (to !== from && !targets.includes(to)) targets.push(to);
    }
    rooms.set(from, targets);
  }
  assert.deepEqual(cycles(rooms, (room) => room), []);
});

Deno.test("layout: no import cycle between the files of src/ at run time", () => {
  const files = new Map<string, string[]>();
  for (const [file, imports] of importGraph()) {
    files.set(file, imports.filter((i) => !i.typeOnly).map((i) => i.target));
  }
  assert.deepEqual(cycles(files, (file) => relative(SRC, file)), []);
});
