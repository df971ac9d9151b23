// Addresses and CIDRs ("10.0.0.0/8", "fd00::/16", or a bare address meaning /32 or /128): parsing, and matching
// an address against a list of them with node:net's BlockList. Every CIDR match in gomodgate goes through here
// (the proxy port's client list, config validation, `audit --client`), so all of them agree on what a CIDR is
// and on IPv4-mapped IPv6 addresses ("::ffff:10.0.0.5" is 10.0.0.5). Pure: no I/O, and matching never throws.
import { BlockList, isIP } from 'node:net';

export interface Cidr {
  /** As written, trimmed. */
  text: string;
  /** The address part as written (zone index dropped). */
  address: string;
  family: 4 | 6;
  /** Prefix length: 0–32 for IPv4, 0–128 for IPv6 (a bare address is a full-length prefix). */
  prefix: number;
}

/** Parses an address or a CIDR; null when it is neither (callers word the error for their flag or key). */
export function parseCidr(text: string): Cidr | null {
  const t = text.trim();
  const [addrWithZone, bits, ...rest] = t.split('/');
  if (rest.length || !addrWithZone) return null;
  const address = addrWithZone.split('%')[0]!;
  const family = isIP(address);
  if (family !== 4 && family !== 6) return null;
  const width = family === 4 ? 32 : 128;
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return null;
  const prefix = bits === undefined ? width : Number(bits);
  if (prefix > width) return null;
  return { text: t, address, family, prefix };
}

/** True when text is an address or a CIDR parseCidr accepts. */
export function isCidr(text: string): boolean {
  return parseCidr(text) !== null;
}

/** "::ffff:10.0.0.5" → "10.0.0.5"; a zone index ("fe80::1%eth0") is dropped; anything else unchanged. */
export function unmappedAddress(address: string): string {
  const a = address.split('%')[0]!;
  return a.toLowerCase().startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

/** A set of CIDRs an address can be tested against. */
export class CidrSet {
  private readonly list = new BlockList();
  readonly cidrs: readonly Cidr[];

  /** Throws a plain Error naming the entry when one is not an address or CIDR (validate with parseCidr first). */
  constructor(entries: ReadonlyArray<string | Cidr>) {
    const cidrs: Cidr[] = [];
    for (const e of entries) {
      const c = typeof e === 'string' ? parseCidr(e) : e;
      if (!c) throw new Error(`not an address or CIDR: "${String(e)}"`);
      this.list.addSubnet(c.address, c.prefix, c.family === 6 ? 'ipv6' : 'ipv4');
      cidrs.push(c);
    }
    this.cidrs = cidrs;
  }

  /** Whether address (IPv4, IPv6, IPv4-mapped IPv6) is inside one of the CIDRs; false for anything else. */
  has(address: string | undefined): boolean {
    if (!address) return false;
    const a = unmappedAddress(address);
    const family = isIP(a);
    if (!family) return false;
    return this.list.check(a, family === 6 ? 'ipv6' : 'ipv4');
  }
}
