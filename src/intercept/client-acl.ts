// Who may use the explicit proxy port: a list of CIDRs (like Squid's localnet), IPv4-mapped IPv6 addresses
// matched as IPv4.
import { BlockList, isIP } from 'node:net';
import { plainAddress } from './connection-info.js';

export class ClientAcl {
  private readonly list = new BlockList();

  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [addr, bits] = cidr.split('/');
      const family = isIP(addr!) === 6 ? 'ipv6' : 'ipv4';
      const prefix = bits === undefined ? (family === 'ipv6' ? 128 : 32) : Number(bits);
      this.list.addSubnet(addr!, prefix, family);
    }
  }

  allows(address: string | undefined): boolean {
    const a = plainAddress(address);
    const family = isIP(a);
    if (!family) return false;
    return this.list.check(a, family === 6 ? 'ipv6' : 'ipv4');
  }
}
