/**
 * Presence cost on a 1,000-member channel, in process (Hub + LocalChannelPresence, subscribers that
 * count frames; no sockets): frames and ms per join as the channel fills up, and heap per
 * member. `deno run -A bench/presence.ts [members]`. The Redis backend adds one script call
 * per join (see docs/protocol.md "Presence").
 */
import { Hub, type Subscriber } from "../src/hub/hub.ts";
import { LocalChannelPresence } from "../src/local/local_channel_presence.ts";

const MEMBERS = Number(Deno.args[0] ?? 1000);
const print = (line: string) => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));
let frames = 0;

function subscriber(id: string): Subscriber {
  return {
    id,
    compact: true,
    send: () => {
      frames++;
      return true;
    },
    close: () => {},
  };
}

function fill(eventsMax: number): { msPerJoin: number[]; framesLast: number } {
  const hub = new Hub({
    maxSubscriptionsPerConnection: 10,
    onMembership: (channel, id, subscribed): Promise<void> | void =>
      subscribed ? presence.subscribed(channel) : presence.unsubscribed(channel, id),
  });
  const presence: LocalChannelPresence = new LocalChannelPresence(hub, {
    maxMembers: 10_000,
    eventsMax,
  });
  const msPerJoin: number[] = [];
  let framesLast = 0;
  for (let i = 0; i < MEMBERS; i++) {
    const id = crypto.randomUUID();
    hub.add(subscriber(id));
    const before = frames;
    const started = performance.now();
    hub.subscribe(id, "room");
    presence.join("room", { uuid: id, info: `{"user":"u${i}"}` });
    msPerJoin.push(performance.now() - started);
    framesLast = frames - before;
  }
  return { msPerJoin, framesLast };
}

function memoryPerMember(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const base = Deno.memoryUsage().heapUsed;
  const hub = new Hub({ maxSubscriptionsPerConnection: 10 });
  const presence = new LocalChannelPresence(hub, { maxMembers: 1_000_000, eventsMax: 0 });
  const n = 100_000;
  for (let i = 0; i < n; i++) presence.join("room", { uuid: crypto.randomUUID(), info: "{}" });
  gc?.();
  const used = Deno.memoryUsage().heapUsed - base;
  if (presence.localMembers !== n) throw new Error("not filled");
  return used / n;
}

const bytesPerMember = memoryPerMember();
const p = (values: number[], q: number) =>
  [...values].sort((a, b) => a - b)[Math.floor(q * (values.length - 1))]!;
for (const eventsMax of [1000, 0]) {
  const { msPerJoin, framesLast } = fill(eventsMax);
  const tail = msPerJoin.slice(-100);
  print(JSON.stringify({
    members: MEMBERS,
    eventsMax,
    framesOfLastJoin: framesLast,
    lastHundredJoinsMsP50: Number(p(tail, 0.5).toFixed(4)),
    lastHundredJoinsMsP99: Number(p(tail, 0.99).toFixed(4)),
  }));
}
print(JSON.stringify({ bytesPerMember: Math.round(bytesPerMember) }));
