/**
 * A wrong-token flood, run as its own process so that its request loop does not slow the test's
 * own measurements: `deno run -A _token_flood.ts <push url> <concurrency> <max seconds>
 * [addresses]`. With `addresses`, attacker i claims to be 10.9.x.y number i % addresses through
 * `X-Forwarded-For` (the server must trust 127.0.0.1 as a proxy). Prints `ready` once 2,000
 * answers came back and every address got a 403 (each has sent a wrong token the server
 * checked), then, when stdin closes or time is up, the count of each status as one JSON line.
 */
const [url, concurrency, seconds, addressCount] = Deno.args;
const deadline = performance.now() + Number(seconds) * 1000;
const addresses = Number(addressCount ?? 0);
let stop = false;
let answered = 0;
let ready = false;
const statuses: Record<string, number> = {};
const checked = new Set<number>();
const encoder = new TextEncoder();

// A different wrong token every time, as a guessing attacker sends.
const wrong = () =>
  JSON.stringify({
    messageType: "SERVER_ACTION",
    action: "PUSH_MESSAGE",
    data: { channel: "news", channelToken: crypto.randomUUID(), recipients: [], message: "x" },
  });

const attackers = Array.from({ length: Number(concurrency) }, async (_, i) => {
  const address = addresses > 0 ? i % addresses : 0;
  const headers: Record<string, string> = addresses > 0
    ? { "x-forwarded-for": `10.9.${address >> 8}.${address & 255}` }
    : {};
  while (!stop && performance.now() < deadline) {
    let status = "error";
    try {
      const res = await fetch(url!, { method: "POST", body: wrong(), headers });
      await res.body?.cancel();
      status = String(res.status);
    } catch {
      // Counted as "error".
    }
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status === "403") checked.add(address);
    answered++;
    if (!ready && answered >= 2000 && checked.size >= Math.max(1, addresses)) {
      ready = true;
      await Deno.stdout.write(encoder.encode("ready\n"));
    }
  }
});
// The test closes stdin to end the flood.
(async () => {
  for await (const _ of Deno.stdin.readable) { /* drain */ }
  stop = true;
})();
await Promise.all(attackers);
await Deno.stdout.write(encoder.encode(JSON.stringify(statuses) + "\n"));
