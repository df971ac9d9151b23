// Who may use the explicit proxy port: a list of CIDRs (like Squid's localnet), IPv4-mapped IPv6 addresses
// matched as IPv4. The matching itself is src/cidr.ts (node:net BlockList), shared with config and audit.
import { CidrSet } from '../cidr.js';

export class ClientAcl {
  private readonly set: CidrSet;

  /** cidrs are validated by the config loader; an invalid entry throws here. */
  constructor(cidrs: readonly string[]) {
    this.set = new CidrSet(cidrs);
  }

  allows(address: string | undefined): boolean {
    return this.set.has(address);
  }
}
