/** Start-up diagnosis for a `DB_PATH` that cannot be opened: one line that points at the fix. */
import { dirname } from "node:path";

/**
 * Explains why the SQLite file at `path` could not be created or opened, naming DB_PATH. SQLite's
 * own "unable to open database file" does not say why, so the file system is asked once more.
 */
export function explainDbPathError(path: string, error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  const folder = dirname(path);
  // Deno refuses /proc, /sys and /dev without --allow-all, and says so: the wrong fix for a
  // database path, which belongs on a disk.
  if (error instanceof Deno.errors.NotCapable && reason.includes("--allow-all")) {
    return `DB_PATH: cannot use "${path}": it is inside a system folder (such as /proc, /sys or ` +
      `/dev) that is not for files; choose a path on disk, e.g. data/pushserver.db`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `DB_PATH: cannot create the folder "${folder}": permission denied (${reason})`;
  }
  if ((error as { code?: unknown } | null)?.code !== "ERR_SQLITE_ERROR") {
    return `DB_PATH: cannot open "${path}": ${reason}`;
  }
  const refused = createRefusal(path);
  if (refused instanceof Deno.errors.PermissionDenied) {
    return `DB_PATH: cannot create "${path}": permission denied; this user may not write to ` +
      `"${folder}" (choose another folder or fix its permissions)`;
  }
  if (refused !== undefined) return `DB_PATH: cannot create "${path}": ${refused.message}`;
  return `DB_PATH: cannot open "${path}": ${reason}`;
}

/** The error the OS gives for opening `path` for writing (creating it if needed), if any. */
function createRefusal(path: string): Error | undefined {
  let existed = true;
  try {
    Deno.lstatSync(path);
  } catch {
    existed = false;
  }
  try {
    Deno.openSync(path, { write: true, create: !existed }).close();
    if (!existed) Deno.removeSync(path);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}
