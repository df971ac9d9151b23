// spliceConnection over loopback: peeked bytes first, half-close both ways, refused, reset and a connect
// that never completes (a listener whose accept queue is full drops the SYN); and a CONNECT tunnel that is
// confirmed only once its destination accepted, or answered with the failure instead.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { after, test } from 'node:test';
import { spliceConnection, type SpliceOptions, type SpliceStats } from '../../src/intercept/splice.js';

const cleanups: (() => void)[] = [];
after(() => {
  for (const cleanup of cleanups.reverse()) cleanup();
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

/**
 * A front listener that splices every connection to `destination` with `peeked` (as the gateway would
 * after a peek), and a client connected to it.
 */
async function spliced(
  peeked: Buffer,
  destination: { address: string; port: number },
  connectTimeoutMs = 5000,
  tunnel?: SpliceOptions['tunnel'],
): Promise<{ client: net.Socket; stats: Promise<SpliceStats> }> {
  let reportStats!: (stats: SpliceStats) => void;
  const stats = new Promise<SpliceStats>((resolve) => (reportStats = resolve));
  const front = net.createServer({ pauseOnConnect: true }, (socket) => {
    const answering = tunnel && { established: tunnel.established, failed: (status: 502 | 504, reason: string) => {
      tunnel.failed(status, reason);
      socket.end(`${status} ${reason}`); // as the proxy's answer would: the client is the tunnel's to close now
    } };
    spliceConnection(socket, peeked, destination, { connectTimeoutMs, onEnd: reportStats, tunnel: answering });
  });
  const port = await listen(front);
  const client = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  client.on('error', () => {});
  cleanups.push(() => client.destroy());
  await new Promise<void>((resolve) => client.once('connect', resolve));
  return { client, stats };
}

function collect(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => socket.once('end', () => resolve(Buffer.concat(chunks))));
}

test('peeked bytes first, then the stream; the client half-closes and still gets the reply', { timeout: 10_000 }, async () => {
  const received = deferred<Buffer>();
  const upstream = net.createServer({ allowHalfOpen: true }, (socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      // Answer only after the client's FIN arrived: the splice must keep the way back open.
      socket.end('reply after your FIN');
      received.resolve(Buffer.concat(chunks));
    });
  });
  const port = await listen(upstream);

  const { client, stats } = await spliced(Buffer.from('PEEKED|'), { address: '127.0.0.1', port });
  const reply = collect(client);
  client.write('one|');
  client.end('two');
  assert.equal((await received.promise).toString(), 'PEEKED|one|two');
  assert.equal((await reply).toString(), 'reply after your FIN');
  assert.deepEqual(await stats, { bytesUp: 'PEEKED|one|two'.length, bytesDown: 'reply after your FIN'.length });
});

test('the upstream half-closes first and still receives what the client sends after', { timeout: 10_000 }, async () => {
  const late = deferred<Buffer>();
  const upstream = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.end('bye');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => late.resolve(Buffer.concat(chunks)));
  });
  const port = await listen(upstream);
  const { client, stats } = await spliced(Buffer.alloc(0), { address: '127.0.0.1', port });
  assert.equal((await collect(client)).toString(), 'bye');
  client.end('late words');
  assert.equal((await late.promise).toString(), 'late words');
  assert.deepEqual(await stats, { bytesUp: 10, bytesDown: 3 });
});

test('a refused upstream closes the client and reports the error', { timeout: 10_000 }, async () => {
  const probe = net.createServer();
  const port = await listen(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve())); // nothing listens there now
  const { client, stats } = await spliced(Buffer.from('x'), { address: '127.0.0.1', port });
  const closed = endOrClose(client);
  const result = await stats;
  assert.match(result.error ?? '', /^upstream: .*ECONNREFUSED/);
  await closed;
});

test('a client reset tears down the upstream', { timeout: 10_000 }, async () => {
  const upstreamClosed = deferred<void>();
  const connected = deferred<void>();
  const upstream = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.on('data', () => connected.resolve());
    socket.once('close', () => upstreamClosed.resolve());
  });
  const port = await listen(upstream);
  const { client, stats } = await spliced(Buffer.from('hello'), { address: '127.0.0.1', port });
  await connected.promise;
  client.resetAndDestroy();
  const result = await stats;
  assert.match(result.error ?? '', /^client: /);
  await upstreamClosed.promise;
});

test('an upstream that never accepts the connection hits the connect timeout', { timeout: 20_000 }, async (t) => {
  // A listener with backlog 0 that never accepts: once its accept queue holds one connection, Linux drops
  // further SYNs, so the next connect neither succeeds nor fails until the timeout.
  const child: ChildProcess = spawn('python3', [
    '-c',
    'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)',
  ]);
  cleanups.push(() => child.kill());
  const started = await new Promise<number | Error>((resolve) => {
    child.once('error', (e) => resolve(e));
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  if (started instanceof Error) {
    t.skip(`python3 is needed for a listener that never accepts: ${started.message}`);
    return;
  }
  const port = started;
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const filler = net.connect(port, '127.0.0.1');
    filler.on('error', () => {});
    cleanups.push(() => filler.destroy());
    fillers.push(filler);
  }
  // the accept queue (backlog 0) is full once the first filler's handshake completes; the second may never complete
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the filler never connected')), 10_000);
    fillers[0]!.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const { client, stats } = await spliced(Buffer.from('x'), { address: '127.0.0.1', port }, 300);
  const closed = endOrClose(client);
  assert.deepEqual(await stats, { bytesUp: 1, bytesDown: 0, error: 'connect timeout' });
  await closed;
});

/** The far side went away: our half-open test client sees 'end' (a FIN) or 'close' (a reset). */
function endOrClose(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
  });
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

test('a CONNECT tunnel: established before the destination\'s first byte; a refused destination is answered, not cut', { timeout: 10_000 }, async () => {
  const upstream = net.createServer((socket) => socket.end('hello from the destination'));
  const port = await listen(upstream);
  const order: string[] = [];
  const { client } = await spliced(Buffer.alloc(0), { address: '127.0.0.1', port }, 5000, {
    established: () => order.push('established'),
    failed: () => order.push('failed'),
  });
  client.on('data', () => order.push('data'));
  await new Promise<void>((resolve) => client.once('end', resolve));
  assert.deepEqual(order.slice(0, 2), ['established', 'data']);

  const closed = net.createServer();
  const deadPort = await listen(closed);
  closed.close(); // nothing listens there any more: the connect is refused
  const failures: string[] = [];
  const refused = await spliced(Buffer.alloc(0), { address: '127.0.0.1', port: deadPort }, 5000, {
    established: () => failures.push('established'),
    failed: (status, reason) => failures.push(`${status} ${reason}`),
  });
  const answer = await collect(refused.client);
  refused.client.end(); // a half-open client: the splice reports once both sides are closed
  assert.equal(failures.length, 1, failures.join(', '));
  assert.match(failures[0]!, /^502 upstream: connect ECONNREFUSED/);
  assert.match(answer.toString(), /^502 upstream: connect ECONNREFUSED/, 'the client got the answer, not a bare close');
  assert.equal((await refused.stats).error, failures[0]!.slice(4));
});
