import assert from "node:assert/strict";
import { join } from "node:path";
import { pack, PACKAGE_FILES, stagePackage, versions } from "../../packages/build.ts";

Deno.test("npm packages are staged from the served sources, with deno.json's version", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pushserver_pkg_" });
  try {
    const { version, jose } = await versions();
    for (const name of ["client", "publisher"] as const) {
      const staged = await stagePackage(name, dir);
      const manifest = JSON.parse(await Deno.readTextFile(join(staged, "package.json")));
      assert.equal(manifest.version, version);
      assert.equal(manifest.type, "module");
      if (name === "publisher") assert.equal(manifest.dependencies.jose, jose);
      // Every exported file exists and is byte for byte the file the server serves.
      for (const target of Object.values(manifest.exports) as Record<string, string>[]) {
        for (const file of Object.values(target)) {
          const source = join(PACKAGE_FILES[name].from, file);
          assert.deepEqual(
            await Deno.readFile(join(staged, file)),
            await Deno.readFile(source),
            source,
          );
        }
      }
      const tarball = await pack(staged, dir);
      assert.match(
        tarball,
        new RegExp(`pushserver-${name}-${version.replaceAll(".", "\\.")}\\.tgz$`),
      );
    }
    // The client package carries every module pushserver.js imports.
    const entry = await Deno.readTextFile(join(dir, "client", "pushserver.js"));
    for (const [, module] of entry.matchAll(/from "\.\/([^"]+)"/g)) {
      await Deno.stat(join(dir, "client", module!));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
