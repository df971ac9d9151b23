// Unit: the bench's delaying relay (bench/delay-relay.ts) passes every byte, in order, both ways, and ends the
// far side only after it has written everything it holds, also to a reader slower than the sender (the bug that
// once cut a 100 MB download short). Real loopback sockets; no timing is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { startDelayRelay } from '../../bench/delay-relay.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A server that sends `payload` to each client, ends, and records what the client sent it. */
async function sender(payload: Buffer): Promise<{ port: number; received: () => Promise<Buffer>; close(): Promise<void> }> {
  let resolveReceived!: (b: Buffer) => void;
  const received = new Promise<Buffer>((r) => (resolveReceived = r));
  const server = net.createServer((s) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolveReceived(Buffer.concat(parts)));
    s.on('error', () => undefined);
    s.end(payload);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test('20 MiB through the relay to a slow reader arrive whole and in order; the request bytes reach the target', async () => {
  const payload = randomBytes(20 * 1024 * 1024);
  const target = await sender(payload);
  const relay = await startDelayRelay({ targetHost: '127.0.0.1', targetPort: target.port, delayMsEachWay: 5 });
  try {
    const request = randomBytes(300_000);
    const client = net.connect(relay.port, '127.0.0.1');
    client.end(request);
    const parts: Buffer[] = [];
    // a slow reader: pause after every chunk, resume on the next turn of the event loop
    client.on('data', (d: Buffer) => {
      parts.push(d);
      client.pause();
      setImmediate(() => client.resume());
    });
    await new Promise<void>((resolve, reject) => {
      client.once('end', resolve);
      client.once('error', reject);
    });
    const got = Buffer.concat(parts);
    assert.equal(got.length, payload.length);
    assert.equal(sha(got), sha(payload));
    assert.equal(sha(await target.received()), sha(request));
    client.destroy();
  } finally {
    await relay.close();
    await target.close();
  }
});

test('a target that resets the connection resets the client too', async () => {
  const server = net.createServer((s) => s.resetAndDestroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const relay = await startDelayRelay({ targetHost: '127.0.0.1', targetPort: (server.address() as net.AddressInfo).port, delayMsEachWay: 5 });
  try {
    const client = net.connect(relay.port, '127.0.0.1');
    client.on('error', () => undefined);
    let ended = false;
    client.on('end', () => (ended = true));
    await new Promise<void>((r) => client.once('close', () => r()));
    assert.equal(ended, false, 'closed without a clean end');
  } finally {
    await relay.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
