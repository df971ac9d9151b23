// Integration: an upstream that lies. Answers that are not what the GOPROXY protocol says (HTML as .info,
// another version's .info, a list of garbage, a redirect to the gateway's own admin port or to plain http)
// get a 502 with a one-line reason and leave nothing in the cache; a later honest answer is served and
// cached. Lists and @latest are cached per upstream: what one mirror says is not served for another.
// A real gateway (in-process, for its SQLite file) in front of a scripted HTTPS upstream on loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createTestPki } from '../helpers/test-pki.js';
import { fetchVia, startTestGateway, type TestGateway } from '../helpers/gateway.js';

type Script = Map<string, { status: number; body: string; headers?: Record<string, string> }>;

interface ScriptedUpstream {
  url: string;
  script: Script;
  hits: Map<string, number>;
  close(): Promise<void>;
}

let dir: string;
let caFile: string;
const servers: ScriptedUpstream[] = [];

async function scriptedUpstream(certFile: string, keyFile: string): Promise<ScriptedUpstream> {
  const { readFileSync } = await import('node:fs');
  const script: Script = new Map();
  const hits = new Map<string, number>();
  const server = https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const a = script.get(path) ?? { status: 404, body: 'not found\n' };
    res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers });
    res.end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const u: ScriptedUpstream = {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    script,
    hits,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
  servers.push(u);
  return u;
}

let a: ScriptedUpstream;
let b: ScriptedUpstream;
let gwA: TestGateway;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-lie-'));
  const pki = createTestPki(join(dir, 'pki'));
  caFile = pki.caFile;
  const cert = pki.issue('up', ['localhost', '127.0.0.1']);
  a = await scriptedUpstream(cert.certFile, cert.keyFile);
  b = await scriptedUpstream(cert.certFile, cert.keyFile);
  gwA = await startTestGateway({ upstream: a.url, upstreamCa: [caFile] }, { dir: join(dir, 'gw') });
});

after(async () => {
  await gwA?.close();
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

function objectsLike(gw: TestGateway, pattern: string): number {
  const db = gw.db();
  try {
    return (db.prepare('SELECT count(*) AS n FROM objects WHERE key LIKE ?').get(pattern) as { n: number }).n;
  } finally {
    db.close();
  }
}

test('lies are 502 with a reason and never cached; the honest answer afterwards is', async () => {
  const lies: Array<{ path: string; body: string; status?: number; headers?: Record<string, string>; reason: RegExp }> = [
    { path: '/example.com/m/@v/v1.0.0.info', body: '<!doctype html><title>Error</title>', reason: /not JSON/ },
    { path: '/example.com/m/@v/v1.0.0.info', body: '{"Version":"v6.6.6","Time":"2020-01-01T00:00:00Z"}', reason: /version "v6\.6\.6", not v1\.0\.0/ },
    { path: '/example.com/m/@v/v1.0.0.info', body: '{"Version":"v1.0.0","Time":"yesterday"}', reason: /Time "yesterday" is not an RFC 3339 time/ },
    { path: '/example.com/m/@v/list', body: '<html>\n<body>maintenance</body>\n', reason: /the list looks like HTML/ },
    { path: '/example.com/m/@v/list', body: 'Access denied by the proxy policy\nContact your administrator\n', reason: /no line of the list is a version/ },
    { path: '/example.com/m/@latest', body: '[]', reason: /not a JSON object/ },
    { path: '/example.com/m/@v/v1.0.0.mod', body: '<html>error</html>', reason: /looks like HTML/ },
    { path: '/example.com/m/@v/v1.0.0.info', status: 302, body: '', headers: { location: 'http://127.0.0.1:9464/metrics' }, reason: /non-https/ },
    { path: '/example.com/m/@v/v1.0.0.info', status: 302, body: '', headers: { location: `https://127.0.0.1:1/metrics` }, reason: /never fetches from/ },
    { path: '/example.com/m/@v/v1.0.0.info', status: 302, body: '', headers: { location: `https://localhost:1/x` }, reason: /never fetches from/ },
  ];
  for (const lie of lies) {
    a.script.set(lie.path, { status: lie.status ?? 200, body: lie.body, headers: lie.headers });
    const r = await fetchVia(gwA.baseUrl + lie.path);
    assert.equal(r.status, 502, `${lie.path} ${lie.body.slice(0, 30)}: ${r.body.toString()}`);
    assert.match(r.body.toString(), lie.reason);
    assert.equal(r.body.toString().split('\n').length, 2, 'one line');
    assert.equal(objectsLike(gwA, '%example.com/m%'), 0, `nothing cached after ${lie.path} ${lie.body.slice(0, 30)}`);
  }
  a.script.set('/example.com/m/@v/v1.0.0.info', { status: 200, body: '{"Version":"v1.0.0","Time":"2020-01-01T00:00:00Z"}' });
  a.script.set('/example.com/m/@v/list', { status: 200, body: 'v1.0.0\nv1.1.0 2020-01-01T00:00:00Z\n' });
  for (const p of ['/example.com/m/@v/v1.0.0.info', '/example.com/m/@v/list']) {
    const r = await fetchVia(gwA.baseUrl + p);
    assert.equal(r.status, 200, p);
    const again = await fetchVia(gwA.baseUrl + p);
    assert.equal(again.headers['x-gomodgate-cache'], 'hit', `${p} cached once honest`);
  }
});

test('a redirect within the configured upstream is followed, even on loopback; one to another loopback host is not', async () => {
  const info = '{"Version":"v1.0.0","Time":"2020-01-01T00:00:00Z"}';
  a.script.set('/cdn/r.info', { status: 200, body: info });
  a.script.set('/example.com/r/@v/v1.0.0.info', { status: 302, body: '', headers: { location: '/cdn/r.info' } });
  a.script.set('/example.com/r/@v/v1.0.0.mod', { status: 302, body: '', headers: { location: `${a.url}/cdn/r.mod` } });
  a.script.set('/cdn/r.mod', { status: 200, body: 'module example.com/r\n' });
  const relative = await fetchVia(gwA.baseUrl + '/example.com/r/@v/v1.0.0.info');
  assert.equal(relative.status, 200, relative.body.toString());
  assert.equal(relative.body.toString(), info);
  const absolute = await fetchVia(gwA.baseUrl + '/example.com/r/@v/v1.0.0.mod');
  assert.equal(absolute.status, 200, absolute.body.toString());
  a.script.set('/example.com/r/@v/list', { status: 302, body: '', headers: { location: a.url.replace('127.0.0.1', 'localhost') + '/cdn/list' } });
  const other = await fetchVia(gwA.baseUrl + '/example.com/r/@v/list');
  assert.equal(other.status, 502);
  assert.match(other.body.toString(), /redirected to localhost, which resolves to an address the gateway never fetches from; refused/);
});

test('lists are cached per upstream: one mirror\'s list is not served for another', async () => {
  a.script.set('/example.com/k/@v/list', { status: 200, body: 'v1.0.0\n' });
  b.script.set('/example.com/k/@v/list', { status: 200, body: 'v2.0.0\n' });
  const viaA = await fetchVia(gwA.baseUrl + '/example.com/k/@v/list');
  assert.equal(viaA.body.toString(), 'v1.0.0\n');
  // the same gateway and data directory, switched to the other upstream
  const reloaded = gwA.gateway.reload({ ...(await currentConfig()), upstream: b.url });
  assert.ok(reloaded.applied.includes('upstream'));
  const viaB = await fetchVia(gwA.baseUrl + '/example.com/k/@v/list');
  assert.equal(viaB.body.toString(), 'v2.0.0\n', 'the list of upstream B, not A\'s cached one');
  assert.equal(b.hits.get('/example.com/k/@v/list'), 1);
  assert.equal(objectsLike(gwA, 'list:example.com/k via %'), 2, 'one row per upstream');
});

async function currentConfig() {
  const { loadConfig } = await import('../../src/config/load.js');
  return loadConfig({ env: {}, flags: { dataDir: join(dir, 'gw', 'data'), caDir: join(dir, 'gw', 'certs'), listen: '127.0.0.1', tlsPort: 0, httpPort: 0, proxyPort: 0, adminPort: 0, sumdb: 'off', upstream: a.url, upstreamCa: [caFile], logLevel: 'silent' } });
}
