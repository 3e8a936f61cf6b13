/** The `WS_ORIGINS` rule for WebSocket upgrades. */

/**
 * Whether an upgrade with this `Origin` header may proceed: any when `allowed` is empty, and a
 * request without `Origin` (not a browser, so not a cross-site page) always. `allowed` holds
 * origins as config.ts normalizes them (lower case); browsers send the same serialization.
 */
export function isOriginAllowed(allowed: readonly string[], origin: string | null): boolean {
  if (allowed.length === 0 || origin === null) return true;
  return allowed.includes(origin.trim().toLowerCase());
}
