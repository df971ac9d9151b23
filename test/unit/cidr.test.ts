// Unit: src/cidr.ts, the one parser and matcher of addresses and CIDRs (client ACL, config, audit --client,
// redirect guard, own-address check). Tables; no sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CidrSet, isCidr, parseCidr, unmappedAddress } from '../../src/cidr.js';
import { ClientAcl } from '../../src/intercept/client-acl.js';
import { loadConfig } from '../../src/config/load.js';

test('parseCidr: addresses and CIDRs of both families; anything else is null', () => {
  assert.deepEqual(parseCidr('10.0.0.0/8'), { text: '10.0.0.0/8', address: '10.0.0.0', family: 4, prefix: 8 });
  assert.deepEqual(parseCidr(' 10.0.0.5 '), { text: '10.0.0.5', address: '10.0.0.5', family: 4, prefix: 32 });
  assert.deepEqual(parseCidr('fd00::/16'), { text: 'fd00::/16', address: 'fd00::', family: 6, prefix: 16 });
  assert.deepEqual(parseCidr('::1'), { text: '::1', address: '::1', family: 6, prefix: 128 });
  assert.equal(parseCidr('fe80::1%eth0/64')?.address, 'fe80::1');
  for (const bad of ['', '/8', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/-1', '10.0.0.0/8/8', '10.0.0.0/', '10.0.0.0/x', 'gateway.local', '10.0.0', '10.0.0.256/8', '1e1']) {
    assert.equal(parseCidr(bad), null, bad);
    assert.equal(isCidr(bad), false, bad);
  }
});

test('CidrSet: membership, IPv4-mapped IPv6 as IPv4, host bits ignored, never throws on junk', () => {
  const cases: Array<[string[], string, boolean]> = [
    [['10.1.16.0/20'], '10.1.31.255', true],
    [['10.1.16.0/20'], '10.1.32.0', false],
    [['10.1.16.0/20'], '10.1.15.255', false],
    [['10.1.2.3/16'], '10.1.200.1', true],
    [['0.0.0.0/0'], '192.0.2.1', true],
    [['0.0.0.0/0'], 'fd00::1', false],
    [['fd00::/8'], 'fd12:3456::1', true],
    [['fd00::/16'], 'fd01::1', false],
    [['fd00::1'], 'fd00:0::1', true],
    [['10.0.0.0/8'], '::ffff:10.1.2.3', true],
    [['10.0.0.0/8'], '::FFFF:10.1.2.3', true],
    [['10.0.0.0/8'], '::ffff:11.1.2.3', false],
    [['fe80::/10'], 'fe80::1%eth0', true],
    [['192.168.0.0/16', '10.0.0.0/8'], '10.9.9.9', true],
    [['10.0.0.0/8'], 'not-an-address', false],
    [['10.0.0.0/8'], '', false],
    [[], '10.0.0.1', false],
  ];
  for (const [list, address, want] of cases) assert.equal(new CidrSet(list).has(address), want, `${list} ∋ ${address}`);
  assert.equal(new CidrSet(['10.0.0.0/8']).has(undefined), false);
  assert.throws(() => new CidrSet(['10.0.0.0/33']), /not an address or CIDR/);
  assert.equal(unmappedAddress('::ffff:10.0.0.5'), '10.0.0.5');
  assert.equal(unmappedAddress('::ffff:a00:5'), '::ffff:a00:5');
});

test('the proxy ACL and the config loader use the same parser', () => {
  const acl = new ClientAcl(['10.0.0.0/8', 'fc00::/7']);
  assert.equal(acl.allows('::ffff:10.2.3.4'), true);
  assert.equal(acl.allows('fd00::1'), true);
  assert.equal(acl.allows('192.0.2.1'), false);
  assert.throws(() => loadConfig({ flags: { allowClients: ['10.0.0.0/33'] } }), /allow-clients entries must be addresses or CIDRs/);
});
