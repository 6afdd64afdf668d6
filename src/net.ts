import { BlockList, isIP } from 'node:net';

/**
 * Client addresses and trusted proxies. Kept outside the feature folders so the config schema
 * (which checks the CIDRs) and the auth middleware (which uses them) read the same rule.
 */

/** `10.0.0.0/8`, `::1`, `2001:db8::/32`, `127.0.0.1`. */
export function isCidr(text: string): boolean {
  const [addr, bits, ...rest] = text.split('/');
  if (rest.length || !addr) return false;
  const v = isIP(addr);
  if (!v) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (v === 4 ? 32 : 128);
}

/** A matcher for a list of CIDRs / addresses (validated by isCidr). */
export function addressMatcher(cidrs: string[]): (addr: string) => boolean {
  if (cidrs.length === 0) return () => false;
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/') as [string, string | undefined];
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return (addr) => {
    const a = unmapped(addr);
    const v = isIP(a);
    return v !== 0 && list.check(a, v === 6 ? 'ipv6' : 'ipv4');
  };
}

/** `::ffff:127.0.0.1` (an IPv4 peer on a dual-stack socket) → `127.0.0.1`. */
export function unmapped(addr: string): string {
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr;
}

/**
 * What the anonymous plan counts per: an IPv4 address, or an IPv6 /64 (one subscriber's
 * network; a client can pick any address inside it, so counting per address would let it
 * reset its quota at will).
 */
export function clientBucket(addr: string): string {
  if (isIP(addr) !== 6) return addr;
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const full = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${full.slice(0, 4).map((h) => h.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
