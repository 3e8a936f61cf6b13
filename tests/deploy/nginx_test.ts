/**
 * deploy/nginx.conf (the docker-compose cluster profile's load balancer) passes `nginx -t` on
 * the nginx installed here (Debian 12's 1.22). Reported as ignored where nginx is not installed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const CONF = new URL("../../deploy/nginx.conf", import.meta.url).pathname;

function nginxInstalled(): boolean {
  try {
    return new Deno.Command("nginx", { args: ["-v"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "deploy/nginx.conf passes `nginx -t` (needs nginx)",
  ignore: !nginxInstalled(),
  async fn() {
    // A scratch prefix for the pid file and the error log, so the check needs no root-owned paths.
    const dir = await Deno.makeTempDir({ prefix: "pushserver-nginx-" });
    try {
      const check = await new Deno.Command("nginx", {
        args: [
          "-t",
          "-c",
          CONF,
          "-p",
          dir,
          "-e",
          join(dir, "error.log"),
          "-g",
          `pid ${join(dir, "nginx.pid")};`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(check.stderr);
      assert.equal(check.code, 0, said);
      assert.match(said, /test is successful/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
