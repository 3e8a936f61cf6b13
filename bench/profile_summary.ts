/**
 * `deno run -R bench/profile_summary.ts FILE.cpuprofile [N]`: the top N functions by self time
 * and self time per script, from a V8 CPU profile (`deno run --cpu-prof`, or `deno task bench
 * --profile=DIR`, which profiles pushserver).
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function short(url: string): string {
  if (url === "") return "(native)";
  const at = url.indexOf("/src/");
  if (at >= 0) return url.slice(at + 1);
  return url.replace(/^.*\/(ext|node_modules|npm)\//, "$1/").replace(/^file:\/\/.*\//, "");
}

const [file, top = "30"] = Deno.args;
if (file === undefined) throw new Error("usage: profile_summary.ts FILE.cpuprofile [N]");
const profile = JSON.parse(await Deno.readTextFile(file)) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const byFunction = new Map<string, number>();
const byScript = new Map<string, number>();
for (const [id, us] of selfUs) {
  const frame = byId.get(id)!.callFrame;
  const name = `${frame.functionName || "(anonymous)"} ${short(frame.url)}:${frame.lineNumber + 1}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  const script = short(frame.url) || "(native)";
  byScript.set(script, (byScript.get(script) ?? 0) + us);
}
const lines = [`total sampled ${(total / 1e6).toFixed(2)} s`, "", "self time by function:"];
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
for (const [name, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
  lines.push(`${pct(us)}  ${name}`);
}
lines.push("", "self time by script:");
for (const [name, us] of [...byScript].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
  lines.push(`${pct(us)}  ${name}`);
}
Deno.stdout.writeSync(new TextEncoder().encode(lines.join("\n") + "\n"));
