/**
 * The address guard for fetches made on a caller's behalf, where server-side request forgery is
 * stopped: which addresses are not public (loopback, link-local, private, reserved, and the
 * IPv6 forms that carry one), and a DNS `lookup` for http(s).Agent that refuses them, so the
 * address checked is the address connected to.
 */
import dns from 'node:dns';
import net from 'node:net';
import type { LookupFunction } from 'node:net';

const BLOCKED_CODE = 'ERR_IMAGEGATE_BLOCKED_ADDRESS';

const blockList = new net.BlockList();
for (const [subnet, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blockList.addSubnet(subnet, prefix, 'ipv4');
}
for (const [subnet, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['::', 96], // IPv4-compatible (deprecated)
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local (ULA)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  blockList.addSubnet(subnet, prefix, 'ipv6');
}

/** The eight 16-bit groups of an IPv6 literal (dotted IPv4 tail allowed), or undefined. */
function ipv6Groups(v6: string): number[] | undefined {
  let lower = v6.toLowerCase();
  const dotted = /:(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(lower);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    lower = `${lower.slice(0, dotted.index)}:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const parts = lower.split('::');
  if (parts.length > 2) return undefined;
  const h = parts[0] ? parts[0].split(':') : [];
  const t = parts.length === 2 && parts[1] ? parts[1].split(':') : [];
  const fill = parts.length === 2 ? 8 - h.length - t.length : 0;
  if (fill < 0) return undefined;
  const groups = [...h, ...Array(fill).fill('0'), ...t].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

function v4FromGroups(hi: number, lo: number): string {
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * True when `address` (an IP literal) is loopback, link-local, private, carrier-grade NAT,
 * unique-local, multicast or otherwise not a public unicast address. IPv4-mapped IPv6
 * (`::ffff:127.0.0.1`) and NAT64 (`64:ff9b::a.b.c.d`) addresses are judged by the IPv4 address
 * they carry. Anything that is not an IP literal is reported as blocked.
 */
export function isBlockedAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = net.isIP(bare);
  if (family === 4) return blockList.check(bare, 'ipv4');
  if (family !== 6) return true;
  const g = ipv6Groups(bare);
  if (!g) return true;
  const mapped = g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0;
  if (mapped || nat64) return blockList.check(v4FromGroups(g[6], g[7]), 'ipv4');
  // 6to4 (2002::/16) carries an IPv4 address in bits 16–47.
  if (g[0] === 0x2002 && blockList.check(v4FromGroups(g[1], g[2]), 'ipv4')) return true;
  return blockList.check(bare, 'ipv6');
}

/** A connection refused by the guard; `isBlockedAddressError` recognises it wherever it surfaces. */
export class BlockedAddressError extends Error {
  readonly code = BLOCKED_CODE;
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(`refused to connect to ${host} (${address}): not a public address`);
  }
}

/**
 * A `lookup` for http(s).Agent that resolves the name itself and refuses the connection when
 * any answer is not a public address, so the address checked is the address connected to.
 */
export function guardedLookup(blocked: (address: string) => boolean = isBlockedAddress): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return (callback as (e: Error) => void)(err);
      const list = addresses as dns.LookupAddress[];
      const bad = list.find((a) => blocked(a.address));
      if (bad || list.length === 0) {
        return (callback as (e: Error) => void)(new BlockedAddressError(hostname, bad?.address ?? 'no address'));
      }
      if ((options as dns.LookupOptions).all) {
        (callback as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      } else {
        (callback as (e: null, a: string, f: number) => void)(null, list[0].address, list[0].family);
      }
    });
  };
}

export function isBlockedAddressError(err: unknown): boolean {
  return (err as { code?: string } | undefined)?.code === BLOCKED_CODE;
}
