// Unit: the gateway's own addresses (src/intercept/own-addresses.ts) are matched as addresses, not as strings:
// each address of this machine's interfaces is its own in every spelling a client can write in a CONNECT or a
// redirect (IPv6 written out in full or with leading zeros, IPv4 as an IPv4-mapped IPv6 address in hex or
// dotted form, a link-local address with a zone), and loopback in any form; an address of the documentation
// ranges is not. Reads this machine's real interface list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { isLocalAddress } from '../../src/intercept/own-addresses.js';

/** fd00:1::1 → 'fd00:0001:0000:0000:0000:0000:0000:0001' */
function fullIpv6(address: string): string {
  const [head, tail = ''] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.map((g) => g.padStart(4, '0')).join(':');
}

/** 10.1.2.3 → '::ffff:a01:203' */
function mappedHex(ipv4: string): string {
  const [a, b, c, d] = ipv4.split('.').map(Number);
  return `::ffff:${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`;
}

test('every spelling of an address of this machine is the gateway; others are not', () => {
  const own = Object.entries(networkInterfaces()).flatMap(([name, list]) => (list ?? []).map((i) => ({ name, ...i })));
  const v4 = own.filter((i) => i.family === 'IPv4');
  const v6 = own.filter((i) => i.family === 'IPv6' && !i.address.includes('.'));
  assert.ok(v4.length > 0, 'this machine has IPv4 addresses (loopback at least)');
  for (const i of v4) {
    for (const form of [i.address, `::ffff:${i.address}`, mappedHex(i.address), `0:0:0:0:0:ffff:${mappedHex(i.address).slice(7)}`]) {
      assert.equal(isLocalAddress(form), true, `${form} (${i.name} ${i.address})`);
    }
  }
  for (const i of v6) {
    const plain = i.address.split('%')[0]!;
    for (const form of [plain, fullIpv6(plain), fullIpv6(plain).toUpperCase(), `${plain}%${i.name}`]) {
      assert.equal(isLocalAddress(form), true, `${form} (${i.name} ${i.address})`);
    }
  }
  for (const form of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:7f00:1', '::', '0.0.0.0']) assert.equal(isLocalAddress(form), true, form);
  for (const form of ['192.0.2.1', '::ffff:c000:201', '2001:db8::1', 'not an address', '']) assert.equal(isLocalAddress(form), false, form);
});
