/** Debian's Chromium driven by playwright-core (which never downloads a browser of its own). */
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { assertChromium, CHROMIUM } from "./_child.ts";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  // Without these, Chromium keeps calling home on a machine with no internet.
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];

/** Launches Chromium with a fresh profile in `dir`; playwright never downloads a browser. */
export async function launch(dir: string): Promise<BrowserContext> {
  await assertChromium();
  return await chromium.launchPersistentContext(join(dir, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/** A page that fails the test on any uncaught page error. */
export async function newPage(context: BrowserContext, errors: string[]): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("pageerror", (error) => errors.push(String(error)));
  return page;
}
