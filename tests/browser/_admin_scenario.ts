/**
 * The admin page in a real Chromium, on one node and on a two-node cluster, with every request
 * that does not go to the server blocked: sign in (a wrong token refused first), watch the
 * connection chart rise with 200 subscribers and fall when they leave, find one channel among
 * 10,000 by prefix, rotate its token and delete it after confirming, pass axe-core, fit a
 * phone. Saves docs/admin.png. Runs in a child `deno test -A` started by `admin_test.ts`
 * (playwright-core probes /proc when it loads).
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { post, TestClient } from "../_helpers.ts";
import { e2e } from "../e2e/_backends.ts";
import { launch, newPage } from "./_chromium.ts";

const ADMIN = "browser-admin-token-0123456789abcdef";
const CHANNELS = 10_000;
const SUBSCRIBERS = 200;
/**
 * The README's picture is taken on every run; it replaces docs/admin.png only when asked
 * (`UPDATE_SCREENSHOTS=1 deno task test`), so that a test run leaves the checkout clean.
 */
const SCREENSHOT = Deno.env.get("UPDATE_SCREENSHOTS") === "1"
  ? new URL("../../docs/admin.png", import.meta.url).pathname
  : await Deno.makeTempFile({ prefix: "pushserver-admin-", suffix: ".png" });

function action(name: string, data: Record<string, unknown>) {
  return { messageType: "SERVER_ACTION", action: name, data };
}

/**
 * Creates `chan/00000` … in parallel batches (bcrypt cost 4 in tests). A 503 (the store did not
 * answer in time on a loaded machine) is what a publisher retries after `Retry-After`: so does
 * this setup, a few times, before it fails the test.
 */
async function createChannels(httpUrl: string): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  const names = Array.from({ length: CHANNELS }, (_, i) => `chan/${String(i).padStart(5, "0")}`);
  for (let i = 0; i < names.length; i += 32) {
    await Promise.all(
      names.slice(i, i + 32).map(async (channel) => {
        for (let attempt = 1;; attempt++) {
          const reply = await post(
            `${httpUrl}/channel/create`,
            action("CREATE_CHANNEL", { channel }),
          );
          if (reply.status === 503 && attempt < 4) continue;
          assert.equal(reply.status, 200, JSON.stringify(reply.body));
          tokens.set(channel, reply.body.data.channelToken);
          return;
        }
      }),
    );
  }
  return tokens;
}

async function ping(httpUrl: string, channel: string, channelToken: string | null) {
  return (await post(`${httpUrl}/channel/ping`, action("PING_CHANNEL", { channel, channelToken })))
    .status;
}

async function valueOf(page: Page, chart: string): Promise<string> {
  return (await page.locator(`#chart-${chart}-value`).textContent()) ?? "";
}

/**
 * Waits until the chart's current value reads `text`. (Locators, not waitForFunction: the page's
 * CSP forbids the eval that a function condition needs.)
 */
function shows(page: Page, chart: string, text: string, timeout = 10_000): Promise<void> {
  return page.locator(`#chart-${chart}-value`, { hasText: new RegExp(`^${text}$`) })
    .waitFor({ timeout });
}

async function seriousViolations(page: Page, axeSource: string): Promise<string[]> {
  // Evaluated through the DevTools protocol: the page's CSP (no inline script) does not apply.
  await page.evaluate(axeSource);
  // Strings, not functions: the page's DOM types are not in this file's (Deno's) library.
  return await page.evaluate<string[]>(`axe.run(document, { resultTypes: ["violations"] }).then(
    (result) => result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => v.id + ": " + v.help + " (" + v.nodes.map((n) => n.target.join(" ")).join(", ") + ")"))`);
}

e2e(
  "[browser] the admin page: sign in, live charts, channels, rotate, delete",
  async (t, backend) => {
    await using deployment = await backend.start({ ADMIN_TOKEN: ADMIN });
    const { httpUrl } = deployment;
    const origin = new URL(httpUrl).origin;
    const axeSource = await Deno.readTextFile(
      new URL(import.meta.resolve("axe-core")).pathname.replace(/axe\.js$/, "axe.min.js"),
    );
    const tokens = await createChannels(httpUrl);
    const dir = await Deno.makeTempDir({ prefix: "pushserver_admin_" });
    const context = await launch(dir);
    const errors: string[] = [];
    const blocked: string[] = [];
    try {
      await context.route("**/*", (route) => {
        const url = route.request().url();
        if (new URL(url).origin === origin) return route.continue();
        blocked.push(url);
        return route.abort("blockedbyclient");
      });
      const page = await newPage(context, errors);
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text());
      });
      await page.setViewportSize({ width: 1280, height: 800 });

      await t.step(
        "before sign-in only the token form shows; a wrong token is refused",
        async () => {
          await page.goto(`${httpUrl}/admin`);
          await page.getByLabel("Admin token").waitFor();
          assert.equal(await page.locator("#app").isVisible(), false);
          assert.equal(await page.getByLabel("Search channels").isVisible(), false);
          await page.getByLabel("Admin token").fill("not-the-admin-token-at-all");
          await page.getByRole("button", { name: "Sign in" }).click();
          await page.getByRole("alert").filter({ hasText: "refused" }).waitFor();
          assert.equal(await page.locator("#app").isVisible(), false);
          assert.equal(await page.evaluate(() => sessionStorage.length), 0);
          // Chromium reports the refused request itself as a console error: expected here only.
          const refused = errors.splice(0);
          assert.ok(refused.every((text) => /401/.test(text)), refused.join("\n"));
        },
      );

      await t.step("the right token shows the charts, kept in session storage only", async () => {
        await page.getByLabel("Admin token").fill(ADMIN);
        await page.getByRole("button", { name: "Sign in" }).click();
        await page.getByLabel("Search channels").waitFor();
        assert.equal(await page.getByLabel("Admin token").isVisible(), false);
        assert.ok(!page.url().includes(ADMIN));
        assert.equal(
          await page.evaluate(() => sessionStorage.getItem("pushserver.adminToken")),
          ADMIN,
        );
        await shows(page, "channels", "10,000");
        for (
          const chart of ["connections", "subscriptions", "pushesPerSecond", "errorsPerSecond"]
        ) {
          assert.match(await valueOf(page, chart), /\d/, chart);
          assert.equal(await page.locator(`[data-chart="${chart}"] canvas`).count(), 1, chart);
        }
      });

      await t.step(
        `the connection chart rises with ${SUBSCRIBERS} subscribers, then falls`,
        async () => {
          const clients: TestClient[] = [];
          try {
            for (let i = 0; i < SUBSCRIBERS; i += 50) {
              clients.push(
                ...await Promise.all(
                  Array.from({ length: 50 }, () => TestClient.connect(deployment.wsUrl)),
                ),
              );
            }
            await Promise.all(clients.map((c) => c.act("SUBSCRIBE", "chan/00001")));
            await shows(page, "connections", String(SUBSCRIBERS), 15_000);
            await shows(page, "subscriptions", String(SUBSCRIBERS), 15_000);
          } finally {
            await Promise.all(clients.map((c) => c.close()));
          }
          await shows(page, "connections", "0", 15_000);
        },
      );

      if (backend.name === "cluster") {
        await t.step("the nodes panel shows both nodes", async () => {
          await page.getByRole("heading", { name: "Nodes" }).waitFor();
          await page.locator("#nodes tr").nth(1).waitFor();
          const nodes = await page.locator("#nodes tr").allTextContents();
          assert.ok(nodes.every((row) => row.includes("up")), nodes.join("\n"));
        });
      } else {
        await t.step("single-node mode hides the nodes panel", async () => {
          assert.equal(await page.getByRole("heading", { name: "Nodes" }).isVisible(), false);
        });
      }

      const target = "chan/04242";
      await t.step("find one channel among 10,000 by prefix and open it", async () => {
        await page.getByLabel("Search channels").fill("chan/0424");
        await page.locator("#channels tr").first().filter({ hasText: "chan/04240" }).waitFor();
        const names = await page.locator("#channels tr td:first-child").allTextContents();
        assert.deepEqual(names, Array.from({ length: 10 }, (_, i) => `chan/0424${i}`));
        if (backend.name === "single") {
          // The README's picture: charts, and the search result (the page from its top).
          await page.screenshot({ path: SCREENSHOT, fullPage: true });
        }
        await page.getByRole("button", { name: target, exact: true }).click();
        await page.getByRole("heading", { name: `Channel ${target}` }).waitFor();
        assert.match(await page.locator("#detail-facts").textContent() ?? "", /History\s*off/);
      });

      await t.step(
        "rotate the token after confirming: the old one is 403, the new one works",
        async () => {
          const old = tokens.get(target)!;
          assert.equal(await ping(httpUrl, target, old), 200);
          await page.getByRole("button", { name: "Rotate token" }).click();
          const dialog = page.getByRole("dialog");
          await dialog.waitFor();
          await dialog.getByRole("button", { name: "Confirm" }).click();
          const shown = page.getByLabel("New channel token");
          await page.locator("#new-token-box").waitFor();
          const fresh = await shown.inputValue();
          assert.match(fresh, /^[A-Za-z0-9_-]{43}$/);
          await page.getByRole("button", { name: "Copy token" }).waitFor();
          assert.equal(await ping(deployment.subscriberNode.httpUrl, target, old), 403);
          assert.equal(await ping(deployment.subscriberNode.httpUrl, target, fresh), 200);
        },
      );

      await t.step("cancel keeps the channel; delete after confirming removes it", async () => {
        await page.getByRole("button", { name: "Delete channel" }).click();
        await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
        assert.equal(await ping(httpUrl, target, null), 200);
        await page.getByRole("button", { name: "Delete channel" }).click();
        await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
        await page.getByRole("status").filter({ hasText: "was deleted" }).waitFor();
        assert.equal(await ping(httpUrl, target, null), 404);
        await page.locator("#channels", { hasText: target }).waitFor({ state: "detached" });
        assert.equal(await page.locator("#channels tr").count(), 9);
      });

      await t.step(
        "axe-core finds no serious or critical violation, at 1280×800 and on a phone",
        async () => {
          assert.deepEqual(await seriousViolations(page, axeSource), []);
          await page.setViewportSize({ width: 390, height: 844 });
          await page.getByLabel("Search channels").fill("chan/0001");
          await page.locator("#channels tr").first().filter({ hasText: "chan/00010" }).waitFor();
          const overflow = await page.evaluate<number>(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth",
          );
          assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px on a phone`);
          assert.ok(await page.getByLabel("Search channels").isVisible());
          assert.deepEqual(await seriousViolations(page, axeSource), []);
          await page.setViewportSize({ width: 1280, height: 800 });
        },
      );

      await t.step("signing out forgets the token", async () => {
        await page.getByRole("button", { name: "Sign out" }).click();
        await page.getByLabel("Admin token").waitFor();
        assert.equal(await page.evaluate(() => sessionStorage.length), 0);
      });

      assert.deepEqual(blocked, [], "the page asked for nothing outside the server");
      assert.deepEqual(errors, [], "no page error, no console error (a CSP violation is one)");
    } finally {
      await context.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
