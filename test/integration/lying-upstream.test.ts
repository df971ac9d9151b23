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
import { crc32, deflateRawSync } from 'node:zlib';
import { centralHeader } from '../helpers/raw-zip.js';

type Script = Map<string, { status: number; body: string | Buffer; headers?: Record<string, string> }>;

interface ScriptedUpstream {
  url: string;
  script: Script;
  hits: Map<string, number>;
  /** The Authorization header of the last request for each path ('' for none). */
  authorization: Map<string, string>;
  close(): Promise<void>;
}

let dir: string;
let caFile: string;
const servers: ScriptedUpstream[] = [];

async function scriptedUpstream(certFile: string, keyFile: string): Promise<ScriptedUpstream> {
  const { readFileSync } = await import('node:fs');
  const script: Script = new Map();
  const hits = new Map<string, number>();
  const authorization = new Map<string, string>();
  const server = https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    authorization.set(path, req.headers.authorization ?? '');
    const a = script.get(path) ?? { status: 404, body: 'not found\n' };
    res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers });
    res.end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const u: ScriptedUpstream = {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    script,
    hits,
    authorization,
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

/** A module zip whose a.txt inflates to 5,000 bytes where both its headers say 1,000 (the go command refuses it). */
function sizeLyingZip(module: string, version: string): Buffer {
  const u16 = (v: number) => Buffer.from([v & 0xff, v >> 8]);
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return b;
  };
  const goMod = Buffer.from(`module ${module}\n`);
  const data = Buffer.alloc(5000, 0x61);
  const deflated = deflateRawSync(data);
  const n1 = Buffer.from(`${module}@${version}/go.mod`);
  const n2 = Buffer.from(`${module}@${version}/a.txt`);
  const local = (name: Buffer, method: number, crc: number, csize: number, usize: number) =>
    Buffer.concat([u32(0x04034b50), u16(20), u16(0), u16(method), u16(0x21), u16(0x21), u32(crc), u32(csize), u32(usize), u16(name.length), u16(0), name]);
  const l1 = Buffer.concat([local(n1, 0, crc32(goMod), goMod.length, goMod.length), goMod]);
  const l2 = Buffer.concat([local(n2, 8, crc32(data), deflated.length, 1000), deflated]);
  const central = Buffer.concat([
    centralHeader({ name: n1, flags: 0, method: 0, crc: crc32(goMod), csize: goMod.length, usize: goMod.length, offset: 0 }),
    centralHeader({ name: n2, flags: 0, method: 8, crc: crc32(data), csize: deflated.length, usize: 1000, offset: l1.length }),
  ]);
  const end = Buffer.concat([u32(0x06054b50), u16(0), u16(0), u16(2), u16(2), u32(central.length), u32(l1.length + l2.length), u16(0)]);
  return Buffer.concat([l1, l2, central, end]);
}

test('a zip the go command would refuse: 502 saying why, naming no file of the gateway, nothing cached', async () => {
  const zip = sizeLyingZip('example.com/zl', 'v1.0.0');
  a.script.set('/example.com/zl/@v/v1.0.0.zip', { status: 200, body: zip, headers: { 'content-type': 'application/zip' } });
  const r = await fetchVia(gwA.baseUrl + '/example.com/zl/@v/v1.0.0.zip');
  assert.equal(r.status, 502, r.body.toString());
  const line = r.body.toString();
  assert.match(line, /a\.txt: more data than the declared size/, line);
  assert.doesNotMatch(line, /\.part\b|\/tmp\/|gomodgate-|data\//, 'the gateway\'s own temporary file');
  assert.equal(line.split('\n').length, 2, 'one line');
  assert.equal(objectsLike(gwA, '%example.com/zl%'), 0, 'nothing cached');
});

test('an upstream refusal with control characters in its text: the client line keeps the status and only graphic characters', async () => {
  a.script.set('/example.com/esc/@v/v1.0.0.info', { status: 403, body: '\x1b[31mblocked\x1b[0m by policy\u0000\n' });
  const r = await fetchVia(gwA.baseUrl + '/example.com/esc/@v/v1.0.0.info');
  assert.equal(r.status, 403, r.body.toString());
  const line = r.body.toString();
  assert.match(line, /blocked .*by policy/, line);
  assert.match(line, /^[^\p{C}]*\n$/u, `only graphic characters before the newline: ${JSON.stringify(line)}`);
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

test('an upstream with credentials: a redirect on its own origin keeps them, one naming credentials of its own is refused', async () => {
  const withCredentials = new URL(b.url);
  withCredentials.username = 'alice';
  withCredentials.password = 's3cret';
  const gw = await startTestGateway({ upstream: withCredentials.href, upstreamCa: [caFile] });
  try {
    const basic = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;
    const info = '{"Version":"v1.0.0","Time":"2020-01-01T00:00:00Z"}';
    b.script.set('/cdn/c.info', { status: 200, body: info });
    b.script.set('/cdn/c.mod', { status: 200, body: 'module example.com/c\n' });
    b.script.set('/example.com/c/@v/v1.0.0.info', { status: 302, body: '', headers: { location: '/cdn/c.info' } });
    b.script.set('/example.com/c/@v/v1.0.0.mod', { status: 302, body: '', headers: { location: `${b.url}/cdn/c.mod` } });
    b.script.set('/example.com/c/@v/list', { status: 302, body: '', headers: { location: `${b.url.replace('https://', 'https://mallory:x@')}/cdn/list` } });
    const relative = await fetchVia(gw.baseUrl + '/example.com/c/@v/v1.0.0.info');
    assert.equal(relative.status, 200, relative.body.toString());
    assert.equal(b.authorization.get('/cdn/c.info'), basic, 'the credentials went with the relative redirect');
    const absolute = await fetchVia(gw.baseUrl + '/example.com/c/@v/v1.0.0.mod');
    assert.equal(absolute.status, 200, absolute.body.toString());
    assert.equal(b.authorization.get('/cdn/c.mod'), basic, 'and with an absolute one to the same origin');
    const named = await fetchVia(gw.baseUrl + '/example.com/c/@v/list');
    assert.equal(named.status, 502);
    assert.match(named.body.toString(), /redirected to a URL with credentials; refused/);
    assert.doesNotMatch(named.body.toString(), /s3cret|mallory/);
  } finally {
    await gw.close();
  }
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
