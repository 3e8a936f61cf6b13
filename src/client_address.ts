/**
 * Who a request comes from when the server sits behind proxies (`TRUSTED_PROXIES`): the peer
 * address, or, when the peer is a trusted proxy, the rightmost `X-Forwarded-For` address that is
 * not one. Pure: addresses in, address out.
 */

/** An IP address as a number: 32 bits (IPv4, also IPv4-mapped IPv6) or 128 bits (IPv6). */
interface Ip {
  readonly version: 4 | 6;
  readonly value: bigint;
}

/** An address block (`10.0.0.0/8`, `fd00::/8`; a lone address is a block of one). */
interface Cidr extends Ip {
  readonly prefix: number;
}

/** Decides the client address of a request from its peer address and its headers. */
export type ClientAddressRule = (peer: string, forwardedFor: string | null) => string;

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIpv4(text: string): bigint | undefined {
  const match = IPV4.exec(text);
  if (match === null) return undefined;
  let value = 0n;
  for (const part of match.slice(1)) {
    const byte = Number(part);
    if (byte > 255 || (part.length > 1 && part.startsWith("0"))) return undefined;
    value = (value << 8n) | BigInt(byte);
  }
  return value;
}

/** Parses an IPv4 or IPv6 address (no brackets, no port, no zone); `undefined` if it is not one. */
export function parseIp(text: string): Ip | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { version: 4, value: v4 };
  if (!/^[0-9a-f:.]+$/i.test(text) || text.length > 45) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string) => (half === "" ? [] : half.split(":"));
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  // A trailing dotted quad stands for the last two groups.
  const last = (right.length > 0 ? right : left).at(-1);
  let tail: bigint | undefined;
  if (last !== undefined && last.includes(".")) {
    tail = parseIpv4(last);
    if (tail === undefined) return undefined;
    (right.length > 0 ? right : left).pop();
  }
  const width = 8 - (tail === undefined ? 0 : 2);
  const count = left.length + right.length;
  if (halves.length === 2 ? count >= width : count !== width) return undefined;
  const all = [...left, ...Array(width - count).fill("0"), ...right];
  let value = 0n;
  for (const group of all) {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) return undefined;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  if (tail !== undefined) value = (value << 32n) | tail;
  // ::ffff:a.b.c.d is the IPv4 address a.b.c.d (dual-stack sockets report peers so).
  if (value >> 32n === 0xffffn) return { version: 4, value: value & 0xffffffffn };
  return { version: 6, value };
}

/** Parses `address` or `address/prefix`; `undefined` when it is neither. */
function parseCidr(text: string): Cidr | undefined {
  const [address = "", prefixText, extra] = text.split("/");
  if (extra !== undefined) return undefined;
  const ip = parseIp(address);
  if (ip === undefined) return undefined;
  const bits = ip.version === 4 ? 32 : 128;
  if (prefixText === undefined) return { ...ip, prefix: bits };
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) return undefined;
  return { ...ip, prefix: Number(prefixText) };
}

function contains(block: Cidr, ip: Ip): boolean {
  if (block.version !== ip.version) return false;
  const shift = BigInt((block.version === 4 ? 32 : 128) - block.prefix);
  return (block.value >> shift) === (ip.value >> shift);
}

/**
 * Parses a `TRUSTED_PROXIES` value (comma-separated IPs or CIDRs, spaces allowed): the list, or
 * the first entry that is not an address or block, as an error message.
 */
export function parseTrustedProxies(raw: string): { ok: true; value: readonly string[] } | {
  ok: false;
  error: string;
} {
  const entries = raw.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  for (const entry of entries) {
    if (parseCidr(entry) === undefined) {
      return { ok: false, error: `"${entry}" is not an IP address or CIDR block` };
    }
  }
  return { ok: true, value: entries };
}

/**
 * The rule for `trustedProxies` (entries {@link parseTrustedProxies} accepted). With none, the
 * peer address is the client. A header that does not parse is ignored (the peer is the client):
 * a client that can reach a trusted proxy can write any header, but only its rightmost part was
 * written by the proxy itself.
 */
export function clientAddressRule(trustedProxies: readonly string[]): ClientAddressRule {
  const blocks = trustedProxies.map((entry) => parseCidr(entry)!);
  if (blocks.length === 0) return (peer) => peer;
  const trusted = (ip: Ip) => blocks.some((block) => contains(block, ip));
  return (peer, forwardedFor) => {
    const peerIp = parseIp(peer);
    if (peerIp === undefined || !trusted(peerIp) || forwardedFor === null) return peer;
    const hops = forwardedFor.split(",").map((hop) => hop.trim());
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = parseIp(hops[i]!);
      if (hop === undefined) return peer;
      if (!trusted(hop)) return hops[i]!;
    }
    return peer;
  };
}
