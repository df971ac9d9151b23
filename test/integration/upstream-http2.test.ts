// Integration: upstream HTTP/2. A real gomodgate in front of a real HTTP/2-only upstream (node:http2 secure
// server, a certificate from the test PKI, no HTTP/1.1 at all) that counts its sessions and streams. Many module
// fetches share one connection; a GOAWAY, a reset stream and a stalled stream fail at most their own requests
// (502/504, nothing cached) and the session is replaced. Waits are polls with a bound; nothing is timed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { createTestPki } from '../helpers/test-pki.js';
import { buildZipSync, moduleZipEntries } from '../helpers/module-zip.js';
import { startTestGateway, fetchVia, type TestGateway } from '../helpers/gateway.js';

type Fault = 'reset' | 'stall';

let dir: string;
let server: http2.Http2SecureServer;
let gw: TestGateway;
const objects = new Map<string, Buffer>();
const faults = new Map<string, Fault>();
const sessions = new Set<http2.ServerHttp2Session>();
let sessionsOpened = 0;
let streams = 0;
/** Send GOAWAY (last stream: this one) with the answer of the next stream. */
let goawayAfterNextStream = false;

function addModule(name: string): { zipSha256: string } {
  const path = `example.com/${name}`;
  const goMod = `module ${path}\n`;
  const built = buildZipSync(moduleZipEntries(path, 'v1.0.0', { [`${name}.go`]: `package ${name}\n` }, goMod));
  const base = `/${path}/@v/v1.0.0`;
  objects.set(`${base}.info`, Buffer.from(JSON.stringify({ Version: 'v1.0.0', Time: '2024-01-01T00:00:00Z' })));
  objects.set(`${base}.mod`, Buffer.from(goMod));
  objects.set(`${base}.zip`, built.zip);
  return { zipSha256: built.zipSha256 };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const stored = (key: string) => {
  const db = gw.db();
  try {
    return db.prepare('SELECT key FROM objects WHERE key = ?').get(key) !== undefined;
  } finally {
    db.close();
  }
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-h2-'));
  const pki = createTestPki(join(dir, 'pki'));
  const cert = pki.issue('h2-upstream', ['proxy.golang.org', 'localhost', '127.0.0.1']);
  server = http2.createSecureServer({ cert: cert.certPem, key: cert.keyPem, allowHTTP1: false });
  server.on('session', (s) => {
    sessionsOpened++;
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    streams++;
    stream.on('error', () => undefined); // a stream this server resets on purpose reports it here
    const path = String(headers[':path']);
    const body = objects.get(path);
    if (goawayAfterNextStream && stream.session) {
      // GOAWAY before this stream's answer (which it still gets): the frames arrive in order, so the gateway
      // knows of it before its client has the answer
      goawayAfterNextStream = false;
      stream.session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id);
    }
    if (!body) {
      stream.respond({ ':status': 404, 'content-type': 'text/plain' });
      stream.end('not found\n');
      return;
    }
    const fault = faults.get(path);
    stream.respond({ ':status': 200, 'content-length': String(body.length) });
    if (fault === 'reset') {
      stream.write(body.subarray(0, Math.floor(body.length / 2)), () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
      return;
    }
    if (fault === 'stall') return; // headers, then nothing, until the peer gives up
    stream.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  gw = await startTestGateway({ upstream: `https://127.0.0.1:${port}`, upstreamCa: [pki.caFile], upstreamTimeout: '2s' });
});

after(async () => {
  await gw?.close();
  for (const s of sessions) s.destroy();
  await new Promise((r) => server?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

test('twelve module fetches, six at a time, share one HTTP/2 connection', async () => {
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  const zips = new Map(names.map((n) => [n, addModule(n)]));
  const before = { sessions: sessionsOpened, streams };
  const results = await Promise.all(names.flatMap((n) => ['mod', 'zip'].map(async (kind) => [n, kind, await fetchVia(`${gw.baseUrl}/example.com/${n}/@v/v1.0.0.${kind}`)] as const)));
  for (const [n, kind, r] of results) {
    assert.equal(r.status, 200, `${n} ${kind}: ${r.body.toString()}`);
    if (kind === 'zip') assert.equal(r.sha256, zips.get(n)!.zipSha256);
  }
  assert.equal(sessionsOpened - before.sessions, 1, 'one connection');
  assert.equal(streams - before.streams, 12, 'one stream per object');
});

test('a GOAWAY: requests after it go on a new connection and succeed', async () => {
  addModule('g1');
  addModule('g2');
  goawayAfterNextStream = true;
  const first = await fetchVia(`${gw.baseUrl}/example.com/g1/@v/v1.0.0.mod`);
  assert.equal(first.status, 200);
  const opened = sessionsOpened;
  const second = await fetchVia(`${gw.baseUrl}/example.com/g2/@v/v1.0.0.mod`);
  assert.equal(second.status, 200, second.body.toString());
  assert.equal(sessionsOpened, opened + 1, 'a new connection');
});

test('a stream reset mid-body fails that request alone, caches nothing, and the same session serves the next', async () => {
  addModule('r1');
  addModule('r2');
  faults.set('/example.com/r1/@v/v1.0.0.zip', 'reset');
  const opened = sessionsOpened;
  const [cut, fine] = await Promise.all([
    fetchVia(`${gw.baseUrl}/example.com/r1/@v/v1.0.0.zip`),
    fetchVia(`${gw.baseUrl}/example.com/r2/@v/v1.0.0.zip`),
  ]);
  assert.equal(cut.status, 502, cut.body.toString());
  assert.equal(fine.status, 200);
  assert.equal(stored('mod:example.com/r1@v1.0.0.zip'), false);
  faults.delete('/example.com/r1/@v/v1.0.0.zip');
  const again = await fetchVia(`${gw.baseUrl}/example.com/r1/@v/v1.0.0.zip`);
  assert.equal(again.status, 200);
  assert.equal(again.sha256, sha256(objects.get('/example.com/r1/@v/v1.0.0.zip')!));
  assert.equal(sessionsOpened, opened, 'no new connection for a reset stream');
});

test('a stalled stream is given up (504), caches nothing, and its session is replaced for what follows', async () => {
  addModule('s1');
  addModule('s2');
  faults.set('/example.com/s1/@v/v1.0.0.zip', 'stall');
  const opened = sessionsOpened;
  const stalled = await fetchVia(`${gw.baseUrl}/example.com/s1/@v/v1.0.0.zip`, { timeoutMs: 30_000 });
  assert.equal(stalled.status, 504, stalled.body.toString());
  assert.equal(stored('mod:example.com/s1@v1.0.0.zip'), false);
  const next = await fetchVia(`${gw.baseUrl}/example.com/s2/@v/v1.0.0.zip`);
  assert.equal(next.status, 200);
  assert.equal(sessionsOpened, opened + 1, 'the stalled session takes no new streams');
  faults.delete('/example.com/s1/@v/v1.0.0.zip');
  assert.equal((await fetchVia(`${gw.baseUrl}/example.com/s1/@v/v1.0.0.zip`)).status, 200);
});
