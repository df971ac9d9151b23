// inspectClientHello on real ClientHellos captured from node:tls, split, truncated and corrupted;
// peekSocket on a loopback socket (split hello, stalled client, early close).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { inspectClientHello, type ClientHelloResult } from '../../src/intercept/client-hello.js';
import { peekSocket } from '../../src/intercept/peek.js';
import { captureClientHello } from '../helpers/client-hello-capture.js';

const KINDS = new Set(['need-more', 'not-tls', 'tls']);


const hellos = new Map<string, Buffer>();

before(async () => {
  hellos.set('proxy.golang.org', await captureClientHello({ servername: 'proxy.golang.org' }));
  hellos.set('upper', await captureClientHello({ servername: 'Sum.GoLang.ORG' }));
  hellos.set('none', await captureClientHello({})); // an IP address as host: node sends no SNI
  hellos.set('tls12', await captureClientHello({ servername: 'example.com', maxVersion: 'TLSv1.2' }));
  // ~2 KB of ALPN names: a hello the size of a post-quantum one, which arrives in several segments.
  const alpn = Array.from({ length: 120 }, (_, i) => `protocol-name-${i}`);
  hellos.set('big', await captureClientHello({ servername: 'big.example', ALPNProtocols: alpn }));
});

function hello(name: string): Buffer {
  const buf = hellos.get(name);
  assert.ok(buf, `hello ${name} captured`);
  return buf;
}

test('real ClientHellos: SNI read, lower-cased, null for none', () => {
  const expect: [string, string | null][] = [
    ['proxy.golang.org', 'proxy.golang.org'],
    ['upper', 'sum.golang.org'],
    ['none', null],
    ['tls12', 'example.com'],
    ['big', 'big.example'],
  ];
  for (const [name, sni] of expect) {
    const buf = hello(name);
    assert.deepEqual(inspectClientHello(buf), { kind: 'tls', sni, recordLength: buf.length }, name);
  }
  assert.ok(hello('big').length > 1700, 'the big hello is larger than one typical segment');
});

test('bytes after the first record do not change the answer', () => {
  const buf = hello('proxy.golang.org');
  const more = Buffer.concat([buf, randomBytes(100)]);
  assert.deepEqual(inspectClientHello(more), { kind: 'tls', sni: 'proxy.golang.org', recordLength: buf.length });
});

test('fed byte by byte: need-more until the record is whole, then the same answer', () => {
  for (const name of ['proxy.golang.org', 'none', 'big']) {
    const buf = hello(name);
    const whole = inspectClientHello(buf);
    for (let n = 0; n < buf.length; n++) {
      assert.deepEqual(inspectClientHello(buf.subarray(0, n)), { kind: 'need-more' }, `${name} prefix ${n}`);
    }
    assert.deepEqual(inspectClientHello(buf.subarray(0, buf.length)), whole);
  }
});

test('random splits: accumulated chunks give need-more, then the whole answer', () => {
  const buf = hello('big');
  for (let round = 0; round < 200; round++) {
    let acc = Buffer.alloc(0);
    let offset = 0;
    let last: ClientHelloResult = { kind: 'need-more' };
    while (offset < buf.length) {
      const size = 1 + Math.floor(Math.random() * 600);
      acc = Buffer.concat([acc, buf.subarray(offset, offset + size)]);
      offset += size;
      last = inspectClientHello(acc);
      if (offset < buf.length) assert.equal(last.kind, 'need-more');
    }
    assert.deepEqual(last, { kind: 'tls', sni: 'big.example', recordLength: buf.length });
  }
});

test('not TLS: HTTP, SSH, random bytes, other record types, decided early', () => {
  const table: Buffer[] = [
    Buffer.from('GET / HTTP/1.1\r\nHost: proxy.golang.org\r\n\r\n'),
    Buffer.from('G'),
    Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'),
    Buffer.from([0x17, 0x03, 0x03, 0x00, 0x10]), // application data
    Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]), // alert
    Buffer.from([0x16, 0x02]), // major version 2
    Buffer.from([0x16, 0x03, 0x09]), // unknown minor version
    Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]), // empty record
    Buffer.from([0x16, 0x03, 0x01, 0x00, 0x03, 0x01, 0x00, 0x00]), // too short for a handshake header
    Buffer.from([0x16, 0x03, 0x01, 0x40, 0x01]), // 16385-byte record: larger than TLS allows
    Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x02]), // ServerHello, not ClientHello
  ];
  for (const buf of table) assert.deepEqual(inspectClientHello(buf), { kind: 'not-tls' }, buf.toString('hex'));
  for (let i = 0; i < 500; i++) {
    const buf = randomBytes(1 + Math.floor(Math.random() * 64));
    if (buf[0] === 0x16) continue;
    assert.deepEqual(inspectClientHello(buf), { kind: 'not-tls' });
  }
});

test('maxRecordBytes bounds the record, header included', () => {
  const buf = hello('big');
  assert.deepEqual(inspectClientHello(buf, buf.length - 1), { kind: 'not-tls' });
  assert.equal(inspectClientHello(buf, buf.length).kind, 'tls');
  assert.deepEqual(inspectClientHello(buf.subarray(0, 5), 1000), { kind: 'not-tls' }); // decided on the header
});

/** Offsets of a real hello's pieces, found by walking it (as the parser should). */
function layout(buf: Buffer): { extensionsStart: number; sniStart: number; sniLength: number } {
  let p = 5 + 4 + 2 + 32;
  p += 1 + buf[p]!;
  p += 2 + buf.readUInt16BE(p);
  p += 1 + buf[p]!;
  const extensionsStart = p + 2;
  for (let q = extensionsStart; q < buf.length; ) {
    const type = buf.readUInt16BE(q);
    const length = buf.readUInt16BE(q + 2);
    if (type === 0) return { extensionsStart, sniStart: q, sniLength: 4 + length };
    q += 4 + length;
  }
  return { extensionsStart, sniStart: -1, sniLength: 0 };
}

test('malformed SNI and extension blocks are not-tls', () => {
  const buf = hello('proxy.golang.org');
  const { sniStart, sniLength } = layout(buf);
  assert.ok(sniStart > 0);
  const nameStart = sniStart + 4 + 2 + 1 + 2;

  const badChar = Buffer.from(buf);
  badChar[nameStart + 3] = 0x00;
  assert.deepEqual(inspectClientHello(badChar), { kind: 'not-tls' });

  const slash = Buffer.from(buf);
  slash[nameStart] = 0x2f;
  assert.deepEqual(inspectClientHello(slash), { kind: 'not-tls' });

  // The same server_name extension twice: the extensions block and every enclosing length grow by sniLength.
  const sni = buf.subarray(sniStart, sniStart + sniLength);
  const twice = Buffer.concat([buf.subarray(0, sniStart), sni, buf.subarray(sniStart)]);
  const { extensionsStart } = layout(buf);
  twice.writeUInt16BE(twice.readUInt16BE(3) + sniLength, 3);
  twice.writeUIntBE(twice.readUIntBE(6, 3) + sniLength, 6, 3);
  twice.writeUInt16BE(twice.readUInt16BE(extensionsStart - 2) + sniLength, extensionsStart - 2);
  assert.deepEqual(inspectClientHello(twice), { kind: 'not-tls' });

  // Sanity check of that surgery: the same insertion of a harmless padding-free unknown extension parses.
  const unknown = Buffer.from(sni);
  unknown.writeUInt16BE(0xfafa, 0);
  const withUnknown = Buffer.concat([buf.subarray(0, sniStart), unknown, buf.subarray(sniStart)]);
  withUnknown.writeUInt16BE(withUnknown.readUInt16BE(3) + sniLength, 3);
  withUnknown.writeUIntBE(withUnknown.readUIntBE(6, 3) + sniLength, 6, 3);
  withUnknown.writeUInt16BE(withUnknown.readUInt16BE(extensionsStart - 2) + sniLength, extensionsStart - 2);
  assert.deepEqual(inspectClientHello(withUnknown), { kind: 'tls', sni: 'proxy.golang.org', recordLength: withUnknown.length });
});

test('a ClientHello spread over two records: SNI when it lies in the first, else null', () => {
  const buf = hello('big');
  const handshake = buf.subarray(5);
  const { sniStart, sniLength } = layout(buf);
  const recordOf = (fragment: Buffer): Buffer =>
    Buffer.concat([Buffer.from([0x16, 0x03, 0x01, fragment.length >> 8, fragment.length & 0xff]), fragment]);

  // Cut after the SNI extension: the name is read from the first record alone.
  const cutAfter = sniStart + sniLength + 10 - 5;
  const first = recordOf(handshake.subarray(0, cutAfter));
  const both = Buffer.concat([first, recordOf(handshake.subarray(cutAfter))]);
  assert.deepEqual(inspectClientHello(both), { kind: 'tls', sni: 'big.example', recordLength: first.length });

  // Cut inside the SNI extension and inside the cipher suites: TLS, but no name.
  for (const cut of [sniStart + 6 - 5, 5 + 4 + 2 + 32 + 1 + 10]) {
    const head = recordOf(handshake.subarray(0, cut));
    assert.deepEqual(
      inspectClientHello(Buffer.concat([head, recordOf(handshake.subarray(cut))])),
      { kind: 'tls', sni: null, recordLength: head.length },
      `cut at ${cut}`,
    );
  }
});

test('never throws: every truncation and every single-byte corruption of real hellos', () => {
  for (const name of ['proxy.golang.org', 'none', 'big']) {
    const buf = hello(name);
    for (let n = 0; n <= buf.length; n++) {
      // A truncated record claims more bytes than it has: need-more; shortened length fields too.
      const truncated = Buffer.from(buf.subarray(0, n));
      assert.ok(KINDS.has(inspectClientHello(truncated).kind));
      if (n >= 5) {
        truncated.writeUInt16BE(Math.max(0, n - 5), 3);
        assert.ok(KINDS.has(inspectClientHello(truncated).kind));
      }
    }
    for (let i = 0; i < buf.length; i++) {
      for (const value of [0x00, 0xff, buf[i]! ^ 0x01, buf[i]! ^ 0x80, (buf[i]! + 1) & 0xff]) {
        const corrupted = Buffer.from(buf);
        corrupted[i] = value;
        assert.ok(KINDS.has(inspectClientHello(corrupted).kind), `${name} byte ${i} = ${value}`);
      }
    }
  }
  for (let i = 0; i < 2000; i++) {
    const buf = randomBytes(Math.floor(Math.random() * 300));
    if (buf.length >= 1) buf[0] = 0x16;
    if (buf.length >= 2) buf[1] = 0x03;
    if (buf.length >= 6) buf[5] = 0x01;
    assert.ok(KINDS.has(inspectClientHello(buf).kind));
  }
});

test('never throws: arbitrary bytes and mutated real hellos (fast-check)', () => {
  const kinds = (buf: Uint8Array): boolean => KINDS.has(inspectClientHello(Buffer.from(buf)).kind);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), kinds), { numRuns: 2000 });
  const real = hello('proxy.golang.org');
  const mutated = fc
    .array(fc.tuple(fc.nat(real.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 })
    .map((edits) => {
      const buf = Buffer.from(real);
      for (const [at, value] of edits) buf[at] = value;
      return buf;
    });
  fc.assert(fc.property(mutated, kinds), { numRuns: 5000 });
});

// ---- peekSocket on loopback ----

let server: net.Server;
let port: number;
const accepted: net.Socket[] = [];

before(async () => {
  server = net.createServer((socket) => accepted.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

after(async () => {
  for (const socket of accepted) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A connected client and the server side of the same connection. */
async function connectPair(): Promise<{ client: net.Socket; serverSide: net.Socket }> {
  const serverSide = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  await new Promise<void>((resolve) => client.once('connect', resolve));
  const socket = await serverSide;
  socket.on('error', () => {});
  return { client, serverSide: socket };
}

function inspectForPeek(buf: Buffer): ClientHelloResult | 'need-more' {
  const result = inspectClientHello(buf);
  return result.kind === 'need-more' ? 'need-more' : result;
}

function listenerCounts(socket: net.Socket): number[] {
  return ['data', 'end', 'close', 'error', 'readable'].map((e) => socket.listenerCount(e));
}

test('peekSocket: a hello written in two parts with a pause is returned whole', { timeout: 10_000 }, async () => {
  const { client, serverSide } = await connectPair();
  const before = listenerCounts(serverSide);
  const buf = hello('big');
  const peek = peekSocket(serverSide, inspectForPeek, { maxBytes: 16 * 1024 + 5, timeoutMs: 5000 });
  client.write(buf.subarray(0, 700));
  await new Promise((resolve) => setTimeout(resolve, 50));
  client.write(buf.subarray(700));
  const { bytes, result } = await peek;
  assert.deepEqual(bytes, buf);
  assert.deepEqual(result, { kind: 'tls', sni: 'big.example', recordLength: buf.length });
  assert.equal(serverSide.isPaused(), true);
  assert.deepEqual(listenerCounts(serverSide), before);

  // The bytes can be replayed into a later reader, followed by what the client sends next.
  serverSide.unshift(bytes);
  client.end(Buffer.from('after'));
  const replay: Buffer[] = [];
  serverSide.on('data', (chunk: Buffer) => replay.push(chunk));
  serverSide.resume(); // peekSocket left it paused: a new 'data' listener alone does not start the flow
  await new Promise((resolve) => serverSide.once('end', resolve));
  assert.deepEqual(Buffer.concat(replay), Buffer.concat([buf, Buffer.from('after')]));
  client.destroy();
  serverSide.destroy();
});

test('peekSocket: a client that sends 3 bytes then stalls times out', { timeout: 10_000 }, async () => {
  const { client, serverSide } = await connectPair();
  const before = listenerCounts(serverSide);
  client.write(hello('proxy.golang.org').subarray(0, 3));
  const { bytes, result } = await peekSocket(serverSide, inspectForPeek, { maxBytes: 16 * 1024 + 5, timeoutMs: 1000 }); // the 3 bytes arrive well before it
  assert.equal(result, 'timeout');
  assert.deepEqual(bytes, hello('proxy.golang.org').subarray(0, 3));
  assert.deepEqual(listenerCounts(serverSide), before);
  client.destroy();
  serverSide.destroy();
});

test('peekSocket: too-large and closed', { timeout: 10_000 }, async () => {
  {
    const { client, serverSide } = await connectPair();
    client.write(Buffer.alloc(64, 0x16));
    const { result } = await peekSocket(serverSide, () => 'need-more' as const, { maxBytes: 32, timeoutMs: 5000 });
    assert.equal(result, 'too-large');
    client.destroy();
    serverSide.destroy();
  }
  {
    const { client, serverSide } = await connectPair();
    const before = listenerCounts(serverSide);
    client.end(Buffer.from([0x16, 0x03]));
    const { bytes, result } = await peekSocket(serverSide, inspectForPeek, { maxBytes: 1000, timeoutMs: 5000 });
    assert.equal(result, 'closed');
    assert.deepEqual(bytes, Buffer.from([0x16, 0x03]));
    assert.deepEqual(listenerCounts(serverSide), before);
    serverSide.destroy();
  }
  {
    const { client, serverSide } = await connectPair();
    serverSide.destroy();
    const { result } = await peekSocket(serverSide, inspectForPeek, { maxBytes: 1000, timeoutMs: 5000 });
    assert.equal(result, 'closed');
    client.destroy();
  }
});
