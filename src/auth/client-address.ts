import { BlockList, isIP } from "node:net";

/** An address as one form: an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is its IPv4 address. */
function normalized(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

/** The address of one X-Forwarded-For entry, without a port or brackets some proxies add; undefined if none. */
function forwardedAddress(entry: string): string | undefined {
  const text = entry.trim();
  if (isIP(text)) return normalized(text);
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text)?.[1];
  if (bracketed && isIP(bracketed) === 6) return normalized(bracketed);
  const withPort = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(text)?.[1];
  if (withPort && isIP(withPort) === 4) return withPort;
  return undefined;
}

/** Parses one TRUSTED_PROXIES entry (an address or a CIDR block); an error message when it is neither. */
export function parseProxyEntry(entry: string): { address: string; prefix: number; family: 4 | 6 } | string {
  const [address = "", prefixText, extra] = entry.trim().split("/");
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return `"${entry}" is not an IP address or a CIDR block`;
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!/^\d+$/.test(prefixText ?? String(max)) || prefix > max) {
    return `"${entry}" has a prefix length outside 0-${max}`;
  }
  return { address, prefix, family: family as 4 | 6 };
}

/** The client address of a request, from its socket's peer and its X-Forwarded-For header. */
export type ClientAddressOf = (peer: string | undefined, forwardedFor: string | string[] | undefined) => string;

/**
 * How the client address of a request is known, the address the limit on unknown keys counts against:
 * - by default (no trusted proxies) it is the socket's peer, and X-Forwarded-For is ignored: any client can
 *   write that header;
 * - when the peer is a trusted proxy (`trustedProxies`: addresses and CIDR blocks), X-Forwarded-For is read
 *   from its right end, where the proxy appended the address it saw, skipping hops that are trusted proxies
 *   themselves: the first untrusted address is the client. Entries left of it were written by the client and are
 *   never believed. A missing or unreadable entry leaves the last trusted hop as the client.
 */
export function createClientAddressOf(trustedProxies: readonly string[]): ClientAddressOf {
  if (trustedProxies.length === 0) return (peer) => (peer === undefined ? "unknown" : normalized(peer));
  const trusted = new BlockList();
  for (const entry of trustedProxies) {
    const parsed = parseProxyEntry(entry);
    if (typeof parsed === "string") throw new Error(parsed);
    trusted.addSubnet(parsed.address, parsed.prefix, parsed.family === 4 ? "ipv4" : "ipv6");
  }
  const isTrusted = (address: string) => trusted.check(address, isIP(address) === 6 ? "ipv6" : "ipv4");
  return (peer, forwardedFor) => {
    if (peer === undefined) return "unknown";
    let client = normalized(peer);
    if (!isTrusted(client) || forwardedFor === undefined) return client;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor).split(",");
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = forwardedAddress(hops[i] ?? "");
      if (hop === undefined) return client;
      client = hop;
      if (!isTrusted(hop)) return hop;
    }
    return client;
  };
}
