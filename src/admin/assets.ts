/**
 * The admin page and its files, all from this origin (no CDN): the page, its scripts and style
 * (text imports of src/admin/ui/), and uPlot's script and style, text imports from the `uplot`
 * package (as `/docs` serves swagger-ui-dist), so `deno compile` and the image carry them.
 */
import { type BrowserRoute, cached, textAsset, withoutSourceMap } from "../http/static.ts";
import page from "./ui/admin.html" with { type: "text" };
import script from "./ui/admin.js" with { type: "text" };
import chartsScript from "./ui/_charts.js" with { type: "text" };
import style from "./ui/admin.css" with { type: "text" };
import uplotScript from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotStyle from "uplot/dist/uPlot.min.css" with { type: "text" };

/** Only this origin, and no inline script; the API calls go to this origin too. */
const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** `GET /admin` and `/admin/ui/…`. */
export function adminAssets(): BrowserRoute[] {
  const files: [string, string, string][] = [
    ["/admin/ui/admin.js", script, "text/javascript; charset=utf-8"],
    ["/admin/ui/_charts.js", chartsScript, "text/javascript; charset=utf-8"],
    ["/admin/ui/admin.css", style, "text/css; charset=utf-8"],
    [
      "/admin/ui/uPlot.js",
      withoutSourceMap(uplotScript),
      "text/javascript; charset=utf-8",
    ],
    ["/admin/ui/uPlot.css", uplotStyle, "text/css; charset=utf-8"],
  ];
  const html = textAsset(page);
  const pageHeaders = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-cache",
    "content-security-policy": PAGE_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
  };
  return [
    { path: "/admin", handle: (request) => cached(request, html, pageHeaders) },
    ...files.map(([path, body, type]): BrowserRoute => {
      const asset = textAsset(body);
      return {
        path,
        handle: (request) =>
          cached(request, asset, {
            "content-type": type,
            "cache-control": "no-cache",
            "x-content-type-options": "nosniff",
          }),
      };
    }),
  ];
}
