// parseSockaddr / formatIpv6: the kernel's sockaddr bytes → address text as Node prints it. No sockets.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { test } from 'node:test';
import { formatIpv6, parseSockaddr } from '../../src/intercept/original-destination.js';

function sockaddrIn(a: number[], port: number): Buffer {
  const buf = Buffer.alloc(16);
  buf.writeUInt16LE(2, 0);
  buf.writeUInt16BE(port, 2);
  Buffer.from(a).copy(buf, 4);
  return buf;
}

function sockaddrIn6(hex: string, port: number): Buffer {
  const buf = Buffer.alloc(28);
  buf.writeUInt16LE(10, 0);
  buf.writeUInt16BE(port, 2);
  Buffer.from(hex, 'hex').copy(buf, 8);
  return buf;
}

test('sockaddr_in: address and big-endian port', () => {
  assert.deepEqual(parseSockaddr(sockaddrIn([10, 0, 2, 15], 443)), { address: '10.0.2.15', port: 443, family: 4 });
  assert.deepEqual(parseSockaddr(sockaddrIn([255, 255, 255, 255], 65535)), { address: '255.255.255.255', port: 65535, family: 4 });
  assert.deepEqual(parseSockaddr(sockaddrIn([0, 0, 0, 0], 0x1bb0)), { address: '0.0.0.0', port: 0x1bb0, family: 4 });
});

test('sockaddr_in6: address compressed like Node prints it, big-endian port', () => {
  const table: [string, string][] = [
    ['fd000000000000000000000000000001', 'fd00::1'],
    ['00000000000000000000000000000001', '::1'],
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000ffff01020304', '::ffff:1.2.3.4'],
    ['00000000000000000000000001020304', '::1.2.3.4'],
    ['00010000000000010000000000000001', '1:0:0:1::1'],
    ['00010000000200030004000500060007', '1:0:2:3:4:5:6:7'],
    ['20010db8000000000001000000000000', '2001:db8:0:0:1::'],
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['FE80000000000000ABCD00000000EF01', 'fe80::abcd:0:0:ef01'],
  ];
  for (const [hex, text] of table) {
    assert.deepEqual(parseSockaddr(sockaddrIn6(hex, 8443)), { address: text, port: 8443, family: 6 }, hex);
  }
});

test('formatIpv6 agrees with Node (libuv inet_ntop) on random and zero-heavy addresses', () => {
  for (let i = 0; i < 2000; i++) {
    const bytes = randomBytes(16);
    // Zero out random words so that runs of zeros of every length and position occur.
    for (let w = 0; w < 8; w++) if (Math.random() < 0.5) bytes.writeUInt16BE(0, w * 2);
    if (Math.random() < 0.1) bytes.writeUInt16BE(0xffff, 10);
    const words = [];
    for (let w = 0; w < 8; w++) words.push(bytes.readUInt16BE(w * 2).toString(16));
    const expected = new net.SocketAddress({ address: words.join(':'), family: 'ipv6' }).address;
    assert.equal(formatIpv6(bytes), expected, bytes.toString('hex'));
  }
});

test('short buffers and unknown families throw RangeError', () => {
  assert.throws(() => parseSockaddr(Buffer.alloc(0)), RangeError);
  assert.throws(() => parseSockaddr(Buffer.from([2, 0, 1])), RangeError);
  assert.throws(() => parseSockaddr(Buffer.concat([Buffer.from([10, 0]), Buffer.alloc(10)])), RangeError);
  assert.throws(() => parseSockaddr(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])), RangeError);
  assert.throws(() => formatIpv6(new Uint8Array(4)), RangeError);
});
