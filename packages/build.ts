/**
 * Stages the npm packages `@pushserver/client` and `@pushserver/publisher` from the very files
 * the server serves (`src/client/`, `src/publisher/`): nothing is copied into the repository, the
 * staged folder is built fresh for `npm pack`. The version and the `jose` version come from
 * deno.json, the one place they are kept.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The files of each package, as paths under the repository root. */
export const PACKAGE_FILES = {
  client: {
    dir: "packages/client",
    from: "src/client",
    // The demo page's script and docs.js belong to the server's pages, not to the package.
    exclude: ["demo.js", "docs.js", "demo.html"],
  },
  publisher: {
    dir: "packages/publisher",
    from: "src/publisher",
    exclude: [],
  },
} as const;

/** The package names by folder. */
export type PackageName = keyof typeof PACKAGE_FILES;

/** deno.json's version and its pinned `jose` version. */
export async function versions(): Promise<{ version: string; jose: string }> {
  const denoJson = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  const jose = /^npm:jose@(.+)$/.exec(String(denoJson.imports?.jose ?? ""))?.[1];
  if (typeof denoJson.version !== "string" || jose === undefined) {
    throw new Error("deno.json needs a version and an npm:jose@<version> import");
  }
  return { version: denoJson.version, jose };
}

/** Stages package `name` into `outDir/<name>` and returns that folder. */
export async function stagePackage(name: PackageName, outDir: string): Promise<string> {
  const spec = PACKAGE_FILES[name];
  const { version, jose } = await versions();
  const target = join(outDir, name);
  await Deno.mkdir(target, { recursive: true });
  const manifest = JSON.parse(await Deno.readTextFile(join(ROOT, spec.dir, "package.json")));
  manifest.version = version;
  if (manifest.dependencies?.jose !== undefined) manifest.dependencies.jose = jose;
  await Deno.writeTextFile(join(target, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
  await Deno.copyFile(join(ROOT, spec.dir, "README.md"), join(target, "README.md"));
  for await (const entry of Deno.readDir(join(ROOT, spec.from))) {
    if (!entry.isFile || (spec.exclude as readonly string[]).includes(entry.name)) continue;
    if (!/\.(js|d\.ts)$/.test(entry.name)) continue;
    await Deno.copyFile(join(ROOT, spec.from, entry.name), join(target, entry.name));
  }
  return target;
}

/** `npm pack`s a staged package into `outDir`; resolves with the tarball's path. */
export async function pack(staged: string, outDir: string): Promise<string> {
  const output = await new Deno.Command("npm", {
    args: ["pack", "--json", "--pack-destination", outDir],
    cwd: staged,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`npm pack failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  const [{ filename }] = JSON.parse(new TextDecoder().decode(output.stdout));
  return join(outDir, filename);
}

if (import.meta.main) {
  const out = Deno.args[0] ?? join(ROOT, "dist", "packages");
  for (const name of Object.keys(PACKAGE_FILES) as PackageName[]) {
    const staged = await stagePackage(name, join(out, "staged"));
    const tarball = await pack(staged, out);
    await Deno.stdout.write(new TextEncoder().encode(`${tarball}\n`));
  }
}
