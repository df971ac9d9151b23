// Integration: UpstreamClient's TLS towards an upstream, over real sockets. The trusted roots (Node's, the
// system bundle and --upstream-ca: hundreds of certificates) are one TLS context built once: requests reuse
// their keep-alive connection, HTTP/1.1 and HTTP/2 alike verify the upstream against those roots, and the
// HTTP/1.1 pool key stays short (with a `ca` option, https.Agent joined every root into each request's key:
// a string of some 400 KB built and hashed per upstream request).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import http2 from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net, { type AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { UpstreamClient, loadTrustedRoots } from '../../src/upstream/upstream-client.js';
import type { GateError } from '../../src/errors.js';
import { waitFor } from '../helpers/gateway.js';

let dir: string;
let pki: TestPki;
let stranger: TestPki;
const body = Buffer.from('module example.com/m\n');

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-upclient-'));
  pki = createTestPki(join(dir, 'pki'));
  stranger = createTestPki(join(dir, 'stranger'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** A TLS upstream on loopback (HTTP/1.1 only, or HTTP/2 with HTTP/1.1 allowed) that counts its connections. */
async function upstream(kind: 'h1' | 'h2', from: TestPki): Promise<{ url: URL; connections: () => number; close: () => Promise<void> }> {
  const { certPem, keyPem } = from.issue('upstream', ['localhost']);
  const headers = { 'content-length': String(body.length) };
  const server = kind === 'h1'
    ? https.createServer({ cert: certPem, key: keyPem }, (_req, res) => res.writeHead(200, headers).end(body))
    : http2.createSecureServer({ cert: certPem, key: keyPem, allowHTTP1: true }, (_req, res) => res.writeHead(200, headers).end(body));
  let connections = 0;
  server.on('secureConnection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: new URL(`https://localhost:${port}`),
    connections: () => connections,
    close: () => new Promise<void>((r) => {
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      server.close(() => r());
    }),
  };
}

for (const kind of ['h1', 'h2'] as const) {
  test(`${kind}: 20 requests share one verified connection`, async () => {
    const up = await upstream(kind, pki);
    const roots = loadTrustedRoots([pki.caFile]);
    assert.ok(roots.join('').length > 100_000, 'the test trusts the whole default set, as the gateway does');
    const client = new UpstreamClient({ trustedRoots: roots, timeoutMs: 10_000, http2: kind === 'h2' });
    try {
      for (let i = 0; i < 20; i++) {
        const r = await client.getSmall({ base: up.url }, `/example.com/m/@v/v1.0.${i}.mod`, 1024, 60_000);
        assert.equal(r.status, 200);
        assert.ok(r.body.equals(body));
      }
      assert.equal(up.connections(), 1);
      if (kind === 'h1') {
        const agent = client.routeFor(up.url).agent as https.Agent;
        const keys = Object.keys(agent.freeSockets);
        assert.equal(keys.length, 1, JSON.stringify(keys.map((k) => k.length)));
        assert.ok(keys[0]!.length < 1000, `the pool key is ${keys[0]!.length} characters: it carries the trusted roots`);
      }
    } finally {
      client.close();
      await up.close();
    }
  });

  test(`${kind}: an upstream whose certificate no trusted root issued is refused`, async () => {
    const up = await upstream(kind, stranger);
    const client = new UpstreamClient({ trustedRoots: loadTrustedRoots([pki.caFile]), timeoutMs: 10_000, http2: kind === 'h2' });
    try {
      await assert.rejects(client.request({ base: up.url }, '/example.com/m/@v/v1.0.0.mod'), (err: Error) => /certificate|self.signed|issuer/i.test(`${err.message} ${String((err as { cause?: unknown }).cause)}`));
      assert.equal(up.connections(), 0, 'no request reached it');
    } finally {
      client.close();
      await up.close();
    }
  });
}

test('h1: a new connection whose SYNs are dropped fails at the upstream timeout, with UPSTREAM_TIMEOUT', { timeout: 30_000 }, async (t) => {
  // a listener that never accepts, its accept queue filled: the kernel then drops further SYNs, as a firewall
  // or a dead host does (Node's request timeout starts only once a socket connects)
  const hole = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const fill: net.Socket[] = [];
  try {
    const port = await new Promise<number>((resolve, reject) => {
      hole.once('error', reject);
      hole.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    }).catch(() => null);
    if (!port) return t.skip('no python3 for the never-accepting listener');
    // connect until one connection hangs: the queue is full (bounded: 8 tries of 500 ms)
    for (let i = 0; i < 8; i++) {
      const c = net.connect(port, '127.0.0.1');
      c.on('error', () => undefined);
      fill.push(c);
      const connected = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 500);
        c.once('connect', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!connected) break;
    }
    const client = new UpstreamClient({ trustedRoots: loadTrustedRoots([pki.caFile]), timeoutMs: 1000, http2: false });
    try {
      await assert.rejects(client.request({ base: new URL(`https://127.0.0.1:${port}`) }, '/example.com/m/@v/v1.0.0.info'), (err: GateError) => {
        assert.equal(err.code, 'UPSTREAM_TIMEOUT');
        assert.match(err.message, /^upstream 127\.0\.0\.1 did not answer within 1 s$/);
        return true;
      });
    } finally {
      client.close();
    }
  } finally {
    for (const c of fill) c.destroy();
    hole.kill('SIGKILL');
  }
});

test('h1: a pooled connection the upstream reset while idle is retried once on a new one; the client never sees it', async () => {
  // the upstream resets every connection at its second request, as one that closed it idle meets the reuse
  const { certPem, keyPem } = pki.issue('upstream', ['localhost']);
  const server = https.createServer({ cert: certPem, key: keyPem }, (req, res) => {
    const socket = req.socket as typeof req.socket & { served?: number };
    socket.served = (socket.served ?? 0) + 1;
    if (socket.served === 2) return socket.destroy(); // no answer: the client reads 'socket hang up' (ECONNRESET)
    res.writeHead(200, { 'content-length': String(body.length) }).end(body);
  });
  server.keepAliveTimeout = 60_000;
  let connections = 0;
  server.on('secureConnection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(`https://localhost:${(server.address() as AddressInfo).port}`);
  const client = new UpstreamClient({ trustedRoots: loadTrustedRoots([pki.caFile]), timeoutMs: 10_000, http2: false });
  try {
    for (let i = 0; i < 6; i++) {
      const r = await client.getSmall({ base: url }, `/example.com/m/@v/v1.0.${i}.mod`, 1024, 60_000);
      assert.equal(r.status, 200, `request ${i}`);
      assert.ok(r.body.equals(body));
    }
    // each reset costs a new connection, never an error: 1 + one per reset
    assert.equal(connections, 6);
  } finally {
    client.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('h1: a pooled connection idle longer than idleSocketMs is closed by the gateway, not left for a NAT to drop', async () => {
  const up = await upstream('h1', pki);
  let closed = 0;
  const client = new UpstreamClient({ trustedRoots: loadTrustedRoots([pki.caFile]), timeoutMs: 10_000, http2: false, idleSocketMs: 200 });
  try {
    const r = await client.getSmall({ base: up.url }, '/example.com/m/@v/v1.0.0.mod', 1024, 60_000);
    assert.equal(r.status, 200);
    const agent = client.routeFor(up.url).agent as https.Agent;
    const idle = Object.values(agent.freeSockets).flat();
    assert.equal(idle.length, 1, 'kept for reuse first');
    idle[0]!.once('close', () => closed++);
    await waitFor('the idle connection to be closed', () => closed === 1, 10_000);
    const again = await client.getSmall({ base: up.url }, '/example.com/m/@v/v1.0.1.mod', 1024, 60_000);
    assert.equal(again.status, 200);
    assert.equal(up.connections(), 2, 'a new connection after the idle one was closed');
  } finally {
    client.close();
    await up.close();
  }
});

test('h2: a peer allowing one stream at a time gets a second connection, not a request queued behind a long body', async () => {
  const { certPem, keyPem } = pki.issue('upstream', ['localhost']);
  const server = http2.createSecureServer({ cert: certPem, key: keyPem, settings: { maxConcurrentStreams: 1 } });
  let connections = 0;
  server.on('secureConnection', () => connections++);
  let releaseSlow!: () => void;
  const slowMayEnd = new Promise<void>((r) => (releaseSlow = r));
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    if (headers[':path'] === '/slow') {
      stream.write('part one\n'); // the rest only once the other request has been answered
      void slowMayEnd.then(() => stream.end('part two\n'));
    } else {
      stream.end('quick\n');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(`https://localhost:${(server.address() as AddressInfo).port}`);
  const client = new UpstreamClient({ trustedRoots: loadTrustedRoots([pki.caFile]), timeoutMs: 10_000 });
  try {
    const slow = await client.request({ base: url }, '/slow');
    const chunks: Buffer[] = [];
    slow.body.on('data', (c: Buffer) => chunks.push(c));
    const slowEnded = new Promise<void>((r) => slow.body.once('end', r));
    // the slow stream holds the first connection's only stream: this one must not wait for it
    const quick = await client.getSmall({ base: url }, '/quick', 1024, 10_000);
    assert.equal(quick.body.toString(), 'quick\n');
    assert.equal(connections, 2, 'a second connection for the second stream');
    releaseSlow();
    await slowEnded;
    assert.equal(Buffer.concat(chunks).toString(), 'part one\npart two\n');
    // both streams are over: the next request reuses an open connection
    assert.equal((await client.getSmall({ base: url }, '/quick', 1024, 10_000)).body.toString(), 'quick\n');
    assert.equal(connections, 2);
  } finally {
    releaseSlow();
    client.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
