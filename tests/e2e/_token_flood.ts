/**
 * A wrong-token flood, run as its own process so that its request loop does not slow the test's
 * own measurements: `deno run -A _token_flood.ts <push url> <concurrency> <max seconds>`. Prints
 * `ready` once 2,000 answers came back, then, when stdin closes or time is up, the count of each
 * status as one JSON line.
 */
const [url, concurrency, seconds] = Deno.args;
const deadline = performance.now() + Number(seconds) * 1000;
let stop = false;
let answered = 0;
const statuses: Record<string, number> = {};
const encoder = new TextEncoder();

// A different wrong token every time, as a guessing attacker sends.
const wrong = () =>
  JSON.stringify({
    messageType: "SERVER_ACTION",
    action: "PUSH_MESSAGE",
    data: { channel: "news", channelToken: crypto.randomUUID(), recipients: [], message: "x" },
  });

const attackers = Array.from({ length: Number(concurrency) }, async () => {
  while (!stop && performance.now() < deadline) {
    let status = "error";
    try {
      const res = await fetch(url!, { method: "POST", body: wrong() });
      await res.body?.cancel();
      status = String(res.status);
    } catch {
      // Counted as "error".
    }
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (++answered === 2000) await Deno.stdout.write(encoder.encode("ready\n"));
  }
});
// The test closes stdin to end the flood.
(async () => {
  for await (const _ of Deno.stdin.readable) { /* drain */ }
  stop = true;
})();
await Promise.all(attackers);
await Deno.stdout.write(encoder.encode(JSON.stringify(statuses) + "\n"));
