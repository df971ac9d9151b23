// Integration: a real gomodgate (real sockets, real SQLite file, real blob files) in front of a real HTTPS
// upstream that counts its hits, reached through the plain GOPROXY endpoint. Asserts counts, bytes and
// hashes: miss then hit, single-flight, stale serving, and that no partial download is ever stored.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startModuleUpstream, type ModuleUpstream } from '../helpers/module-upstream.js';
import { startTestGateway, fetchVia, waitFor, spawnGatewayProcess, peakRss, residentSize, type TestGateway } from '../helpers/gateway.js';
import { BlobStore } from '../../src/store/blob-store.js';

let dir: string;
let pki: TestPki;
let upstream: ModuleUpstream;
let gw: TestGateway;
const quote = { path: 'example.com/quote', version: 'v1.5.2' };
let quoteZip: { zipSha256: string; zipSize: number };

function auditRows(g: TestGateway, where = '1=1', ...params: unknown[]): Array<Record<string, unknown>> {
  const db = g.db();
  try {
    return db.prepare(`SELECT * FROM audit WHERE ${where} ORDER BY id`).all(...params) as Array<Record<string, unknown>>;
  } finally {
    db.close();
  }
}

function blobFiles(g: TestGateway): string[] {
  return new BlobStore(g.dataDir, { create: false }).listBlobFiles().map((f) => f.path);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-cache-'));
  pki = createTestPki(join(dir, 'pki'));
  upstream = await startModuleUpstream({ pki });
  quoteZip = upstream.addModule({ ...quote, files: { 'quote.go': 'package quote\n\nfunc Hello() string { return "Hello, world." }\n' } });
  upstream.addModule({ path: 'github.com/Azure/azure-sdk', version: 'v0.1.0', files: { 'a.go': 'package azure\n' } });
  gw = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile], mutableTtl: 60 });
});

after(async () => {
  await gw?.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a zip is fetched upstream once, then served from the cache byte for byte', async () => {
  upstream.resetHits();
  const path = `/${quote.path}/@v/${quote.version}.zip`;
  const first = await fetchVia(gw.baseUrl + path);
  assert.equal(first.status, 200);
  assert.equal(first.headers['x-gomodgate-cache'], 'miss');
  assert.equal(first.sha256, quoteZip.zipSha256);
  assert.equal(first.bytes, quoteZip.zipSize);
  const second = await fetchVia(gw.baseUrl + path);
  assert.equal(second.status, 200);
  assert.equal(second.headers['x-gomodgate-cache'], 'hit');
  assert.equal(second.sha256, quoteZip.zipSha256);
  assert.equal(second.headers['content-length'], String(quoteZip.zipSize));
  assert.equal(upstream.hits(path), 1, 'the second request must not reach upstream');
  const rows = await waitFor('two audit rows', () => {
    const r = auditRows(gw, 'module = ? AND kind = ?', quote.path, 'zip');
    return r.length >= 2 ? r : null;
  });
  assert.deepEqual(rows.map((r) => r.outcome), ['miss', 'hit']);
  assert.equal(rows[1]!.sha256, quoteZip.zipSha256);
  assert.equal(rows[0]!.bytes, quoteZip.zipSize);
  assert.equal(rows[0]!.client, '127.0.0.1');
  assert.equal(rows[0]!.version, quote.version);
  const metrics = (await fetchVia(`http://127.0.0.1:${gw.gateway.ports.admin}/metrics`)).body.toString();
  assert.match(metrics, /^gomodgate_requests_total\{kind="zip",outcome="miss"\} 1$/m);
  assert.match(metrics, /^gomodgate_requests_total\{kind="zip",outcome="hit"\} 1$/m);
  assert.match(metrics, new RegExp(`^gomodgate_response_bytes_total\\{outcome="hit"\\} ${quoteZip.zipSize}$`, 'm'));
  assert.match(metrics, /^gomodgate_upstream_request_duration_seconds_count\{host="127\.0\.0\.1",status_class="2xx"\} 1$/m);
});

test('case-encoded module paths are decoded for the audit and passed upstream as sent', async () => {
  const path = '/github.com/!azure/azure-sdk/@v/v0.1.0.mod';
  const r = await fetchVia(gw.baseUrl + path);
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'module github.com/Azure/azure-sdk\n');
  assert.equal(upstream.hits(path), 1);
  const rows = await waitFor('audit row', () => auditRows(gw, 'kind = ? AND module = ?', 'mod', 'github.com/Azure/azure-sdk')[0]);
  assert.equal(rows.outcome, 'miss');
});

test('an invalid path gets 400 with a one-line text/plain reason and never reaches upstream', async () => {
  upstream.resetHits();
  for (const bad of ['/Example.com/x/@v/list', '/example.com/!X/@v/list', '/example.com/../x/@v/list', '/example.com/x/@v/..info']) {
    const r = await fetchVia(gw.baseUrl + bad);
    assert.equal(r.status, 400, bad);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    const text = r.body.toString();
    assert.equal(text.trimEnd().split('\n').length, 1, `one line for ${bad}: ${text}`);
    assert.match(text, /^gomodgate: /);
  }
  assert.equal(upstream.hits(), 0);
});

test('upstream 404 is passed on, remembered, and not fetched again within the negative TTL', async () => {
  upstream.resetHits();
  const path = '/example.com/missing/@v/list';
  const a = await fetchVia(gw.baseUrl + path);
  const b = await fetchVia(gw.baseUrl + path);
  assert.equal(a.status, 404);
  assert.equal(b.status, 404);
  assert.equal(upstream.hits(path), 1);
});

test('20 concurrent requests for one uncached zip cause exactly 1 upstream fetch, all get the full bytes', async () => {
  const m = upstream.addModule({ path: 'example.com/concurrent', version: 'v1.0.0', files: { 'big.txt': 'x'.repeat(2_000_000) } });
  const path = '/example.com/concurrent/@v/v1.0.0.zip';
  upstream.resetHits();
  upstream.setDelay(300);
  try {
    const results = await Promise.all(Array.from({ length: 20 }, () => fetchVia(gw.baseUrl + path, { keepBelow: 0 })));
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.equal(r.sha256, m.zipSha256);
      assert.equal(r.bytes, m.zipSize);
    }
  } finally {
    upstream.setDelay(0);
  }
  assert.equal(upstream.hits(path), 1);
  assert.ok(gw.gateway.joinedFetches >= 19, `joined ${gw.gateway.joinedFetches}`);
});

test('a client that drops mid-zip does not stop the shared fetch: the object completes and is then a hit', async () => {
  const m = await upstream.addLargeModule({ path: 'example.com/dropclient', version: 'v1.0.0', sizeBytes: 30 << 20 });
  const path = '/example.com/dropclient/@v/v1.0.0.zip';
  upstream.resetHits();
  upstream.setDelay(0);
  const partial = await fetchVia(gw.baseUrl + path, { abortAfterBytes: 64 * 1024, keepBelow: 0 });
  assert.ok(partial.bytes < m.zipSize);
  // the download goes on without that client; a later request (joining or hitting) gets every byte
  const full = await fetchVia(gw.baseUrl + path, { keepBelow: 0 });
  assert.equal(full.status, 200);
  assert.equal(full.sha256, m.zipSha256);
  await waitFor('object indexed', () => {
    const db = gw.db();
    try {
      return db.prepare('SELECT sha256 FROM objects WHERE key = ?').get(`mod:example.com/dropclient@v1.0.0.zip`);
    } finally {
      db.close();
    }
  });
  const third = await fetchVia(gw.baseUrl + path, { keepBelow: 0 });
  assert.equal(third.headers['x-gomodgate-cache'], 'hit');
  assert.equal(third.sha256, m.zipSha256);
  assert.equal(upstream.hits(path), 1);
});

test('an upstream that drops mid-zip leaves no index row, no blob and no temp file; the next request refetches', async () => {
  const m = upstream.addModule({ path: 'example.com/dropupstream', version: 'v1.0.0', files: { 'data.bin': randomBytes(3_000_000) } });
  const path = '/example.com/dropupstream/@v/v1.0.0.zip';
  const blobsBefore = blobFiles(gw).length;
  upstream.resetHits();
  upstream.dropMidBody(path, 100_000);
  const broken = await fetchVia(gw.baseUrl + path, { keepBelow: 0 }).then(
    (r) => r,
    (err: Error) => err,
  );
  if (!(broken instanceof Error)) assert.ok(broken.bytes < m.zipSize, 'the client must not receive a complete body');
  await waitFor('temp files removed', () => new BlobStore(gw.dataDir, { create: false }).listTempFiles().length === 0);
  const db = gw.db();
  try {
    const row = db.prepare('SELECT count(*) AS n FROM objects WHERE key = ?').get('mod:example.com/dropupstream@v1.0.0.zip') as { n: number };
    assert.equal(row.n, 0, 'no index row for a partial download');
  } finally {
    db.close();
  }
  assert.equal(blobFiles(gw).length, blobsBefore);
  upstream.dropMidBody(path, null);
  const ok = await fetchVia(gw.baseUrl + path, { keepBelow: 0 });
  assert.equal(ok.status, 200);
  assert.equal(ok.sha256, m.zipSha256);
  assert.equal(upstream.hits(path), 2);
  // audit rows are written in batches: wait for both requests' rows
  const rows = await waitFor('both audit rows', () => {
    const r = auditRows(gw, 'module = ? AND kind = ?', 'example.com/dropupstream', 'zip');
    return r.length >= 2 ? r : null;
  });
  assert.equal(rows[0]!.outcome, 'error');
  assert.equal(rows[1]!.outcome, 'miss');
});

test('a client that leaves before the answer is audited with the module, version and kind it asked for', async () => {
  const g = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile] });
  try {
    upstream.addModule({ path: 'example.com/leaver', version: 'v1.0.0', files: { 'l.go': 'package leaver\n' } });
    upstream.setDelay(3000);
    const r = await fetchVia(`${g.baseUrl}/example.com/leaver/@v/v1.0.0.info`, { timeoutMs: 300 }).catch((err: Error) => err);
    assert.ok(r instanceof Error, 'the client gave up first');
    const row = await waitFor('the 499 row', () => auditRows(g, 'status = 499')[0], 15_000);
    assert.deepEqual({ module: row.module, version: row.version, kind: row.kind, outcome: row.outcome }, { module: 'example.com/leaver', version: 'v1.0.0', kind: 'info', outcome: 'error' });
    assert.equal(row.reason, 'client closed the connection before the answer');
  } finally {
    upstream.setDelay(0);
    await g.close();
  }
});

test('a client that leaves in the middle of a cached zip is audited as leaving, not as a gateway error', async () => {
  upstream.addModule({ path: 'example.com/halfway', version: 'v1.0.0', files: { 'data.bin': randomBytes(3 << 20) } });
  const path = '/example.com/halfway/@v/v1.0.0.zip';
  assert.equal((await fetchVia(gw.baseUrl + path)).status, 200); // cached, and larger than what is kept in memory
  await new Promise<void>((resolve, reject) => {
    http.get(gw.baseUrl + path, { agent: false }, (res) => {
      res.once('data', () => {
        res.destroy(); // gone after the first chunk
        resolve();
      });
    }).on('error', reject);
  });
  const row = await waitFor('the row of the client that left', () => auditRows(gw, "path = ? AND reason LIKE 'client closed%'", path)[0], 15_000);
  assert.equal(row.status, 200);
  assert.match(String(row.reason), /^client closed the connection during the answer, after \d+ bytes$/);
});

test('upstream down: cached immutables are served, the list is served stale, an uncached object gets 502', async () => {
  const g = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile], mutableTtl: 0 });
  try {
    upstream.addModule({ path: 'example.com/offline', version: 'v1.0.0', files: { 'o.go': 'package offline\n' } });
    const base = '/example.com/offline/@v/';
    for (const p of ['list', 'v1.0.0.info', 'v1.0.0.mod', 'v1.0.0.zip']) assert.equal((await fetchVia(g.baseUrl + base + p)).status, 200, p);
    upstream.setDown(true);
    try {
      const zip = await fetchVia(g.baseUrl + base + 'v1.0.0.zip');
      assert.equal(zip.status, 200);
      assert.equal(zip.headers['x-gomodgate-cache'], 'hit');
      const list = await fetchVia(g.baseUrl + base + 'list');
      assert.equal(list.status, 200);
      assert.equal(list.headers['x-gomodgate-cache'], 'stale');
      assert.match(String(list.headers.warning), /^110 /);
      assert.equal(list.body.toString(), 'v1.0.0\n');
      const missing = await fetchVia(g.baseUrl + '/example.com/never/@v/v1.0.0.zip');
      assert.equal(missing.status, 502);
      assert.match(missing.body.toString(), /^gomodgate: upstream 127\.0\.0\.1 is unreachable/);
      assert.equal(missing.body.toString().trimEnd().split('\n').length, 1);
    } finally {
      upstream.setDown(false);
    }
    const rows = await waitFor('stale row', () => auditRows(g, 'outcome = ?', 'stale')[0]);
    assert.equal(rows.kind, 'list');
    assert.match(String(rows.reason), /^served the cached copy: upstream 127\.0\.0\.1 is unreachable/, 'the row says why the copy is stale');
  } finally {
    await g.close();
  }
});

// The bound is on growth from the started gateway's resident size, not on an absolute size (the zip walk's
// worker thread, its own V8 isolate, adds ~9 MiB at start). Two things keep a cold stream near +45 MiB (worst
// seen +59): the walk's batch buffers are reused, not left for a late collection on either thread (without
// that: +100 MiB and more, CI stop 14), and malloc arenas are capped (without that, 1 run in 4: +70 MiB).
// 80 MiB still fails a gateway that holds the 100 MiB zip in memory. (The issue's < 64 MiB is the bench's
// figure for 8 warm clients.)
test('a 100 MB module zip streams through while the gateway process grows by less than 80 MiB resident', async (t) => {
  const m = await upstream.addLargeModule({ path: 'example.com/huge', version: 'v1.0.0', sizeBytes: 100 << 20 });
  const gdir = mkdtempSync(join(tmpdir(), 'gmg-rss-'));
  const proc = await spawnGatewayProcess([
    '--data-dir', join(gdir, 'data'), '--ca-dir', join(gdir, 'certs'), '--listen', '127.0.0.1',
    '--tls-port', '0', '--http-port', '0', '--proxy-port', '0',
    '--upstream', upstream.url, '--upstream-ca', pki.caFile, '--log-level', 'info', '--sumdb', 'off', '--admin-port', '0',
  ]);
  try {
    const started = await residentSize(proc.child.pid!);
    const path = '/example.com/huge/@v/v1.0.0.zip';
    const first = await fetchVia(proc.baseUrl + path, { keepBelow: 0, timeoutMs: 120_000 });
    assert.equal(first.status, 200);
    assert.equal(first.sha256, m.zipSha256);
    const second = await fetchVia(proc.baseUrl + path, { keepBelow: 0, timeoutMs: 120_000 });
    assert.equal(second.headers['x-gomodgate-cache'], 'hit');
    assert.equal(second.sha256, m.zipSha256);
    const peak = await peakRss(proc.child.pid!);
    t.diagnostic(`peak RSS ${(peak / 1048576).toFixed(1)} MiB, ${((peak - started) / 1048576).toFixed(1)} MiB above start`);
    assert.ok(peak - started < 80 * 1024 * 1024, `peak RSS ${(peak / 1048576).toFixed(1)} MiB, ${((peak - started) / 1048576).toFixed(1)} MiB above the ${(started / 1048576).toFixed(1)} MiB at start`);
  } finally {
    await proc.stop();
    rmSync(gdir, { recursive: true, force: true });
  }
});

test('--cache-max-bytes: the running gateway evicts least recently used objects, keeps the newest, refetches evicted ones', async () => {
  const mods = [];
  for (let i = 0; i < 4; i++) {
    mods.push(upstream.addModule({ path: `example.com/lru${i}`, version: 'v1.0.0', files: { 'data.bin': randomBytes(400_000) } }));
  }
  const max = Math.floor(mods[0]!.zipSize * 2.5);
  const g = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile], 'cache.maxBytes': max });
  try {
    upstream.resetHits();
    for (let i = 0; i < 4; i++) {
      const r = await fetchVia(`${g.baseUrl}/example.com/lru${i}/@v/v1.0.0.zip`, { keepBelow: 0 });
      assert.equal(r.sha256, mods[i]!.zipSha256);
    }
    const db = g.db();
    let keys: string[];
    try {
      const total = (db.prepare('SELECT coalesce(sum(size), 0) AS n FROM objects WHERE sha256 IS NOT NULL').get() as { n: number }).n;
      assert.ok(total <= max, `index holds ${total} bytes, limit ${max}`);
      keys = (db.prepare("SELECT key FROM objects WHERE kind = 'zip' ORDER BY key").all() as Array<{ key: string }>).map((r) => r.key);
    } finally {
      db.close();
    }
    assert.deepEqual(keys, ['mod:example.com/lru2@v1.0.0.zip', 'mod:example.com/lru3@v1.0.0.zip'], 'the two most recent stay');
    assert.equal(blobFiles(g).length, 2, 'evicted blobs are removed from disk');
    const again = await fetchVia(`${g.baseUrl}/example.com/lru0/@v/v1.0.0.zip`, { keepBelow: 0 });
    assert.equal(again.sha256, mods[0]!.zipSha256);
    assert.equal(upstream.hits('/example.com/lru0/@v/v1.0.0.zip'), 2, 'an evicted object is fetched again');
  } finally {
    await g.close();
  }
});
