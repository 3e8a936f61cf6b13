import assert from "node:assert/strict";
import { Hono } from "hono";
import { browserRoutes } from "../../src/http/static.ts";
import { CLIENT_MODULES } from "../../src/protocol/client_modules.ts";
import type { Logger } from "../../src/log.ts";
import { action, createChannel, startTestServer } from "../_helpers.ts";

const source = (relative: string) =>
  Deno.readTextFileSync(new URL(`../../src/${relative}`, import.meta.url));

Deno.test("[e2e] GET /js/*.js serves the client modules to any origin", async (t) => {
  await using server = await startTestServer();

  for (
    const [path, file] of [
      ["/js/pushserver.js", "client/pushserver.js"],
      ["/js/publisher.js", "publisher/publisher.js"],
      ["/js/demo.js", "client/demo.js"],
      ...CLIENT_MODULES.map((name) => [`/js/${name}`, `client/${name}`] as const),
    ] as const
  ) {
    await t.step(`${path} is the file verbatim, as text/javascript with CORS *`, async () => {
      const response = await fetch(`${server.httpUrl}${path}`, {
        headers: { origin: "https://elsewhere.example" },
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "text/javascript; charset=utf-8");
      assert.equal(response.headers.get("access-control-allow-origin"), "*");
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      assert.equal(await response.text(), source(file));
    });
  }

  for (
    const [path, file] of [
      ["/js/pushserver.d.ts", "client/pushserver.d.ts"],
      ["/js/publisher.d.ts", "publisher/publisher.d.ts"],
    ] as const
  ) {
    await t.step(
      `${path} (named by the module's @ts-self-types) is the file verbatim`,
      async () => {
        const response = await fetch(`${server.httpUrl}${path}`);
        assert.equal(response.status, 200);
        assert.equal(response.headers.get("content-type"), "application/typescript; charset=utf-8");
        assert.equal(response.headers.get("access-control-allow-origin"), "*");
        assert.equal(await response.text(), source(file));
      },
    );
  }

  await t.step("Deno type-checks code that imports the modules from the server", async () => {
    const dir = await Deno.makeTempDir({ prefix: "pushserver-types-" });
    try {
      const main = `${dir}/main.ts`;
      await Deno.writeTextFile(
        main,
        [
          `import { PushPublisher } from "${server.httpUrl}/js/publisher.js";`,
          `import { PushClient } from "${server.httpUrl}/js/pushserver.js";`,
          `const publisher = new PushPublisher({ baseUrl: "${server.httpUrl}" });`,
          'const created: { channelToken: string } = await publisher.createChannel("typed");',
          "const connect: typeof PushClient.connect = PushClient.connect;",
          "console.log(created.channelToken.length, typeof connect);",
          // A wrong argument type must be caught, which shows the declarations were used.
          "// @ts-expect-error the channel name is a string",
          "publisher.ping(42);",
        ].join("\n"),
      );
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["check", "--no-config", "--no-lock", "--allow-import", main],
        env: { NO_COLOR: "1", DENO_DIR: `${dir}/deno_dir` },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("a matching If-None-Match gets 304 without a body", async () => {
    const first = await fetch(`${server.httpUrl}/js/pushserver.js`);
    await first.body?.cancel();
    const etag = first.headers.get("etag");
    assert.ok(etag);
    const second = await fetch(`${server.httpUrl}/js/pushserver.js`, {
      headers: { "if-none-match": etag },
    });
    assert.equal(second.status, 304);
    assert.equal(await second.text(), "");
  });

  await t.step("HEAD answers without a body, with the GET's content-length", async () => {
    const scripts = [
      ["/js/pushserver.js", "client/pushserver.js"],
      ["/js/publisher.js", "publisher/publisher.js"],
    ] as const;
    for (const [path, file] of scripts) {
      const response = await fetch(`${server.httpUrl}${path}`, { method: "HEAD" });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "text/javascript; charset=utf-8");
      assert.equal(
        response.headers.get("content-length"),
        String(new TextEncoder().encode(source(file)).length),
        path,
      );
      assert.equal(await response.text(), "");
    }
    const get = await fetch(`${server.httpUrl}/demo`);
    const page = new TextEncoder().encode(await get.text()).length;
    const head = await fetch(`${server.httpUrl}/demo`, { method: "HEAD" });
    assert.equal(head.headers.get("content-length"), String(page));
    assert.equal(await head.text(), "");
  });

  await t.step("POST gets 405 with Allow: GET, HEAD", async () => {
    const response = await fetch(`${server.httpUrl}/js/pushserver.js`, { method: "POST" });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "GET, HEAD");
    const body = await response.json();
    assert.equal(body.code, 405);
    assert.equal(body.message, "Method Not Allowed");
  });
});

Deno.test("[e2e] GET /demo serves the page with the real WebSocket port", async () => {
  await using server = await startTestServer();
  const response = await fetch(`${server.httpUrl}/demo`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
  const csp = response.headers.get("content-security-policy") ?? "";
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /connect-src 'self' ws: wss:/);
  const html = await response.text();
  assert.ok(html.includes(`<meta name="pushserver-ws-port" content="${server.wsPort}">`));
  assert.ok(html.includes('<script type="module" src="/js/demo.js"></script>'));
});

/** A preflight as a browser sends it before a cross-origin JSON POST. */
function preflight(url: string, origin: string): Promise<Response> {
  return fetch(url, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type",
    },
  });
}

Deno.test("[e2e] CORS_ORIGINS unset: publisher routes send no CORS headers", async () => {
  await using server = await startTestServer();
  const options = await preflight(`${server.httpUrl}/push`, "https://app.example");
  await options.body?.cancel();
  assert.equal(options.status, 405);
  assert.equal(options.headers.get("access-control-allow-origin"), null);
  const create = await fetch(`${server.httpUrl}/channel/create`, {
    method: "POST",
    headers: { origin: "https://app.example", "content-type": "application/json" },
    body: JSON.stringify(action("CREATE_CHANNEL", { channel: "news" })),
  });
  await create.body?.cancel();
  assert.equal(create.status, 200);
  assert.equal(create.headers.get("access-control-allow-origin"), null);
});

Deno.test("[e2e] CORS_ORIGINS lists the origins allowed to call the publisher actions", async (t) => {
  await using server = await startTestServer({
    CORS_ORIGINS: "https://app.example, http://localhost:3000",
  });
  const token = await createChannel(server, "news");

  const paths = ["/channel/create", "/channel/ping", "/channel/delete", "/push", "/push/"];
  const v11Paths = ["/channel/authorize", "/channel/revoke", "/channel/rotate"];
  for (const path of [...paths, ...v11Paths]) {
    await t.step(`OPTIONS ${path} from a listed origin is a 204 preflight`, async () => {
      const response = await preflight(`${server.httpUrl}${path}`, "http://localhost:3000");
      await response.body?.cancel();
      assert.equal(response.status, 204);
      assert.equal(response.headers.get("access-control-allow-origin"), "http://localhost:3000");
      assert.match(response.headers.get("access-control-allow-methods") ?? "", /POST/);
      assert.equal(response.headers.get("access-control-allow-headers"), "content-type");
      assert.match(response.headers.get("vary") ?? "", /Origin/);
    });
  }

  await t.step("an unlisted origin gets no Access-Control-Allow-Origin", async () => {
    const response = await preflight(`${server.httpUrl}/push`, "https://evil.example");
    await response.body?.cancel();
    assert.equal(response.headers.get("access-control-allow-origin"), null);
  });

  await t.step("success and error replies both carry the header", async () => {
    for (const [token_, status] of [[token, 200], ["wrong", 403]] as const) {
      const response = await fetch(`${server.httpUrl}/push`, {
        method: "POST",
        headers: { origin: "https://app.example", "content-type": "application/json" },
        body: JSON.stringify(
          action("PUSH_MESSAGE", {
            channel: "news",
            channelToken: token_,
            recipients: [],
            message: "x",
          }),
        ),
      });
      assert.equal(response.status, status);
      assert.equal(response.headers.get("access-control-allow-origin"), "https://app.example");
      assert.equal((await response.json()).code, status);
    }
  });

  await t.step("operations routes are not opened up", async () => {
    const response = await fetch(`${server.httpUrl}/healthz`, {
      headers: { origin: "https://app.example" },
    });
    await response.body?.cancel();
    assert.equal(response.headers.get("access-control-allow-origin"), null);
  });
});

Deno.test("[e2e] CORS_ORIGINS=* allows any origin", async () => {
  await using server = await startTestServer({ CORS_ORIGINS: "*" });
  const response = await preflight(`${server.httpUrl}/channel/create`, "https://any.example");
  await response.body?.cancel();
  assert.equal(response.status, 204);
  assert.equal(response.headers.get("access-control-allow-origin"), "*");
});

/** The relative modules a client file imports or re-exports (`from "./x.js"`). */
function relativeImports(file: string): string[] {
  const found = source(`client/${file}`).matchAll(/\bfrom\s+"\.\/([\w.-]+\.js)"/g);
  return [...found].map((match) => match[1] ?? "");
}

Deno.test("browserRoutes() serves every module /js/pushserver.js imports, and each _*.js of src/client", async () => {
  const app = new Hono();
  for (const route of browserRoutes()) app.get(route.path, (c) => route.handle(c.req.raw));
  // Every module reachable from the entry point by relative imports is served, verbatim.
  const reachable = new Set<string>();
  const pending = ["pushserver.js"];
  while (pending.length > 0) {
    const file = pending.pop() as string;
    for (const imported of relativeImports(file)) {
      if (reachable.has(imported)) continue;
      reachable.add(imported);
      pending.push(imported);
    }
  }
  assert.ok(reachable.size > 0, "pushserver.js imports its modules by relative path");
  for (const file of reachable) {
    const response = await app.request(`/js/${file}`);
    assert.equal(response.status, 200, `/js/${file} is served`);
    assert.equal(await response.text(), source(`client/${file}`));
  }
  // And the list holds no file that is gone or unused.
  const privateFiles: string[] = [];
  for (const entry of Deno.readDirSync(new URL("../../src/client/", import.meta.url))) {
    if (entry.isFile && /^_.*\.js$/.test(entry.name)) privateFiles.push(entry.name);
  }
  assert.deepEqual([...CLIENT_MODULES].sort(), privateFiles.sort());
  assert.deepEqual([...reachable].sort(), privateFiles.sort());
});

Deno.test("browserRoutes() logs a missing file and answers 500 for it, serving the rest", async () => {
  const logged: [string, Record<string, unknown> | undefined][] = [];
  const log = (msg: string, fields?: Record<string, unknown>) => logged.push([msg, fields]);
  const logger: Logger = { debug: log, info: log, warn: log, error: log };
  const app = new Hono();
  const thrown: unknown[] = [];
  app.onError((error) => {
    thrown.push(error);
    return new Response(null, { status: 500 });
  });
  const routes = browserRoutes({
    logger,
    wsPort: () => 4321,
    readTextFile: (url) => {
      if (url.pathname.endsWith("/demo.html")) throw new Deno.errors.NotFound("not embedded");
      return Deno.readTextFileSync(url);
    },
  });
  for (const route of routes) app.get(route.path, (c) => route.handle(c.req.raw));
  assert.equal(logged.length, 1);
  assert.equal(logged[0]?.[1]?.file, "src/client/demo.html");
  const demo = await app.request("/demo");
  assert.equal(demo.status, 500);
  assert.equal(thrown.length, 1);
  const script = await app.request("/js/pushserver.js");
  assert.equal(script.status, 200);
  assert.equal(await script.text(), source("client/pushserver.js"));
});
