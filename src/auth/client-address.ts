import type { Context } from 'hono';
import { addressMatcher, clientBucket, unmapped } from '../net.ts';

/**
 * The address a request came from, for the anonymous plan: the peer of the connection (the
 * Node server's socket; API Gateway's `requestContext` on Lambda), or, only when that peer is
 * a trusted proxy, the right-most address in the forwarding header that is not itself a trusted
 * proxy. A header from anyone else is never read, so a client cannot choose its own address.
 * An IPv6 address is reduced to its /64 (see clientBucket).
 */
export function clientAddressResolver({ trustedProxies, forwardedHeader }: { trustedProxies: string[]; forwardedHeader: string }): (c: Context) => string | undefined {
  const trusted = addressMatcher(trustedProxies);
  const header = forwardedHeader.toLowerCase();
  return (c) => {
    const addr = fromRequest(c);
    return addr === undefined ? undefined : clientBucket(addr);
  };
  function fromRequest(c: Context): string | undefined {
    const peer = peerAddress(c.env);
    if (peer === undefined || !trusted(peer)) return peer;
    const value = c.req.header(header);
    if (!value) return peer;
    const hops = value.split(',').map((h) => unmapped(h.trim())).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      if (!trusted(hops[i]!)) return hops[i];
    }
    return hops[0] ?? peer;
  }
}

interface PeerEnv {
  /** @hono/node-server: the Node request (its socket's peer, as getConnInfo reads it). */
  incoming?: { socket?: { remoteAddress?: string } };
  /** The Lambda adapter: API Gateway REST (identity.sourceIp) or HTTP API / function URL (http.sourceIp). */
  event?: { requestContext?: { identity?: { sourceIp?: string }; http?: { sourceIp?: string } } };
}

function peerAddress(env: unknown): string | undefined {
  const e = env as PeerEnv | undefined;
  const addr = e?.incoming?.socket?.remoteAddress ?? e?.event?.requestContext?.identity?.sourceIp ?? e?.event?.requestContext?.http?.sourceIp;
  return addr ? unmapped(addr) : undefined;
}
